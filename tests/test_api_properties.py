"""Property tests of the reply parser: any input gives a record or a SunvecError, and no
error holds the token anywhere in its chain."""

from __future__ import annotations

from collections.abc import Iterator
import json
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.sunvec.api import SunvecClient, SunvecError
from custom_components.sunvec.models import RealtimeData

TOKEN = "tok-9f8e7d6c5b4a"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.integers(min_value=10**300, max_value=10**420)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            TOKEN,
            f"bad token {TOKEN}",
            "threshold",
            "2024-08-20 09:21:43",
            "2024-08-20T09:21:43.123Z",
            "9999-12-31 23:59:59",
            "0001-01-01T00:00:00+02:00",
            "There have been several violations in a row",
            "The server is busy. Please try again later!",
            "Query success!",
            "\ud800",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)
FIELDS = [
    "inverterSN", "sn", "acpower", "yieldtoday", "yieldtotal", "feedinpower",
    "feedinenergy", "consumeenergy", "feedinpowerM2", "soc", "peps1", "peps2",
    "peps3", "inverterType", "inverterStatus", "uploadTime", "batPower", "powerdc1",
    "powerdc2", "powerdc3", "powerdc4", "batStatus", "utcDateTime",
]  # fmt: skip
replies = st.fixed_dictionaries(
    {},
    optional={
        "success": st.booleans() | scalars,
        "exception": scalars,
        "code": st.sampled_from([0, 1, 3, 103, 104, 1001, 1002, 1003, 2002]) | scalars,
        "result": st.dictionaries(st.sampled_from(FIELDS), scalars) | json_values,
    },
)
STATUSES = [200, 201, 204, 301, 302, 304, 307, 400, 401, 404, 408, 429, 500, 502]
header_values = st.text(max_size=40) | st.sampled_from(
    [
        "120",
        "Tue, 20 Aug 2024 09:10:00 GMT",
        f"https://evil.example/{TOKEN}?t={TOKEN}",
        f"/{quote(TOKEN)}/x",
        f"//other.example/{TOKEN}",
        TOKEN,
    ]
)
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "Date", "Location", "Content-Type"]),
    header_values,
)
client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]


def chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) not in seen:
            seen.add(id(current))
            yield current
            todo += [e for e in (current.__cause__, current.__context__) if e]


def _check(status: int, body: str, reply_headers: dict[str, str] | None = None) -> None:
    try:
        data = client.parse_response(status, body, reply_headers)
    except SunvecError as err:
        for link in chain(err):
            texts = [str(link), repr(link), *map(repr, link.args)]
            texts += map(repr, vars(link).values())
            assert not any(TOKEN in text for text in texts), texts
    else:
        assert isinstance(data, RealtimeData)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values)
def test_any_json_value_gives_a_record_or_a_sunvec_error(payload: Any) -> None:
    """Whatever JSON arrives, the parser raises nothing but SunvecError."""
    _check(200, json.dumps(payload))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=replies, status=st.sampled_from(STATUSES), reply_headers=headers)
def test_reply_shaped_json_gives_a_record_or_a_sunvec_error(
    payload: dict[str, Any], status: int, reply_headers: dict[str, str]
) -> None:
    """Replies close to the documented shape, with any status, headers and values."""
    _check(status, json.dumps(payload), reply_headers)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(result=st.dictionaries(st.sampled_from(FIELDS), json_values))
def test_success_reply_with_any_values_gives_a_record(result: dict[str, Any]) -> None:
    """A success reply is a record whatever its fields hold: what cannot be used is
    missing, never an error."""
    reply = {"success": True, "exception": "Query success!", "result": result}
    data = client.parse_response(200, json.dumps(reply | {"code": 0}))
    assert isinstance(data, RealtimeData)


@settings(max_examples=200)
@given(
    body=st.text(max_size=200) | st.binary(max_size=100).map(repr),
    status=st.sampled_from(STATUSES),
    reply_headers=headers,
)
def test_any_text_gives_a_record_or_a_sunvec_error(
    body: str, status: int, reply_headers: dict[str, str]
) -> None:
    """Bodies that are not JSON at all raise SunvecError only."""
    _check(status, body, reply_headers)


@settings(max_examples=50)
@given(depth=st.integers(min_value=1, max_value=200_000), opener=st.sampled_from("[{"))
def test_any_nesting_depth(depth: int, opener: str) -> None:
    """However deep the JSON, the answer is a SunvecError, not a RecursionError."""
    inner = '{"a":' if opener == "{" else "["
    _check(200, '{"success": true, "code": 0, "result": ' + inner * depth)


def test_digit_like_code_is_no_crash() -> None:
    """A code made of a superscript digit (found by Hypothesis) is no number."""
    _check(200, json.dumps({"code": "¹"}))
