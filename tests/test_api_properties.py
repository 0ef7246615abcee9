"""Property tests of the reply parser: any input gives a record or a SunvecError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.sunvec.api import SunvecClient, SunvecError
from custom_components.sunvec.models import RealtimeData

TOKEN = "tok-9f8e7d6c5b4a"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([TOKEN, f"bad token {TOKEN}", "threshold", "2024-08-20 09:21:43"])
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
        "code": st.sampled_from([0, 3, 103, 104, 1001, 1002, 1003, 2002]) | scalars,
        "result": st.dictionaries(st.sampled_from(FIELDS), scalars) | json_values,
    },
)
client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]


def _check(status: int, body: str) -> None:
    try:
        data = client.parse_response(status, body)
    except SunvecError as err:
        assert TOKEN not in str(err)
        assert TOKEN not in repr(err)
    else:
        assert isinstance(data, RealtimeData)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values)
def test_any_json_value_gives_a_record_or_a_sunvec_error(payload: Any) -> None:
    """Whatever JSON arrives, the parser raises nothing but SunvecError."""
    _check(200, json.dumps(payload))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=replies, status=st.sampled_from([200, 201, 400, 401, 429, 500, 502]))
def test_reply_shaped_json_gives_a_record_or_a_sunvec_error(
    payload: dict[str, Any], status: int
) -> None:
    """Replies close to the documented shape, with any status and field values."""
    _check(status, json.dumps(payload))


@settings(max_examples=200)
@given(body=st.text(max_size=200) | st.binary(max_size=100).map(repr))
def test_any_text_gives_a_record_or_a_sunvec_error(body: str) -> None:
    """Bodies that are not JSON at all raise SunvecError only."""
    _check(200, body)


def test_digit_like_code_is_no_crash() -> None:
    """A code made of a superscript digit (found by Hypothesis) is no number."""
    _check(200, json.dumps({"code": "¹"}))
