"""Tests of the record parser: values the cloud sends become values or missing values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
from pathlib import Path
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.sunvec.models import (
    MAX_TEXT_LENGTH,
    RealtimeData,
    describe_raw,
    parse_code,
    parse_number,
    parse_text,
    parse_upload_time,
    parse_utc_time,
)

EXAMPLE = json.loads(
    (Path(__file__).parent / "fixtures" / "realtime_example.json").read_text()
)["result"]
INSTANT = datetime(2024, 8, 20, 9, 21, 43)
PLUS_TWO = timezone(timedelta(hours=2))


def record(**fields: Any) -> RealtimeData:
    return RealtimeData.from_dict(EXAMPLE | fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-20 09:21:43", INSTANT),
        ("  2024-08-20 09:21:43 ", INSTANT),
        ("2024-08-20T09:21:43", INSTANT),
        ("2024-08-20t09:21:43", INSTANT),
        ("2024-08-20  09:21:43", INSTANT),
        ("2024/08/20 09:21:43", INSTANT),
        ("2024/8/20 9:21:43", INSTANT),
        ("2024-08-20 09:21:43.000", INSTANT),
        ("2024-08-20 09:21:43.5", INSTANT.replace(microsecond=500_000)),
        ("2024-08-20T09:21:43,123", INSTANT.replace(microsecond=123_000)),
        ("2024-08-20T09:21:43.1234567", INSTANT.replace(microsecond=123_456)),
        ("2024-08-20 09:21", INSTANT.replace(second=0)),
        ("2024-08-20T09:21:43Z", INSTANT.replace(tzinfo=UTC)),
        ("2024-08-20 09:21:43 UTC", INSTANT.replace(tzinfo=UTC)),
        ("2024-08-20T09:21:43.250z", INSTANT.replace(microsecond=250_000, tzinfo=UTC)),
        ("2024-08-20T09:21:43+02:00", INSTANT.replace(tzinfo=PLUS_TWO)),
        ("2024-08-20 09:21:43 +0200", INSTANT.replace(tzinfo=PLUS_TWO)),
        ("2024-08-20 09:21:43+02", INSTANT.replace(tzinfo=PLUS_TWO)),
        (
            "2024-08-20T09:21:43-05:30",
            INSTANT.replace(tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_upload_time_in_common_shapes(text: str, expected: datetime) -> None:
    """The documented shape and the same instant written other common ways are read."""
    data = record(uploadTime=text)
    assert data.upload_time == expected
    assert (data.upload_time.utcoffset() is None) is (expected.tzinfo is None)
    assert data.unparsed_upload_time is None


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("20.08.2024 09:21:43", "20.08.2024 09:21:43"),
        ("08/20/2024 09:21:43", "08/20/2024 09:21:43"),
        ("2024-08-20", "2024-08-20"),
        ("0000-00-00 00:00:00", "0000-00-00 00:00:00"),
        ("2024-13-20 09:21:43", "2024-13-20 09:21:43"),
        ("2024-08-20 25:21:43", "2024-08-20 25:21:43"),
        ("2024-08-20 09:21:60", "2024-08-20 09:21:60"),
        ("2024-08-20 09:21:43+24:00", "2024-08-20 09:21:43+24:00"),
        ("2024-08-20 09:21:43 CEST", "2024-08-20 09:21:43 CEST"),
        ("0001-01-01 00:00:00", "0001-01-01 00:00:00"),
        ("9999-12-31 23:59:59", "9999-12-31 23:59:59"),
        ("2024-08-20 09:21:43\n2099", "2024-08-20 09:21:43 2099"),
        ("yesterday", "yesterday"),
        (20240820, "20240820"),
        (1.5e9, "1500000000.0"),
        (True, "true"),
        (["2024-08-20 09:21:43"], '["2024-08-20 09:21:43"]'),
        ("x" * 500, "x" * 100),
    ],
)
def test_unreadable_upload_time_leaves_the_record_undated(
    value: Any, kept: str
) -> None:
    """Anything else: no upload time, and the text as sent is kept for one log line."""
    data = record(uploadTime=value)
    assert data.upload_time is None
    assert data.unparsed_upload_time == kept
    assert data.ac_power == 152  # the rest of the record is read as usual


@pytest.mark.parametrize("value", [None, "", "   "])
def test_absent_upload_time_is_not_unparsed(value: Any) -> None:
    """Without any uploadTime there is nothing to report."""
    data = record(uploadTime=value)
    assert data.upload_time is None
    assert data.unparsed_upload_time is None


def test_upload_time_missing_altogether() -> None:
    """A result without the field is undated and has nothing unparsed."""
    result = dict(EXAMPLE)
    del result["uploadTime"]
    data = RealtimeData.from_dict(result)
    assert (data.upload_time, data.unparsed_upload_time) == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-20T07:21:43Z", datetime(2024, 8, 20, 7, 21, 43, tzinfo=UTC)),
        ("2024-08-20 07:21:43", datetime(2024, 8, 20, 7, 21, 43, tzinfo=UTC)),
        ("2024/08/20 07:21:43.123", datetime(2024, 8, 20, 7, 21, 43, 123_000, UTC)),
        ("2024-08-20T09:21:43+02:00", datetime(2024, 8, 20, 7, 21, 43, tzinfo=UTC)),
        ("2024-08-20T01:21-06:00", datetime(2024, 8, 20, 7, 21, tzinfo=UTC)),
        ("0001-01-01T00:30:00+02:00", None),
        ("0001-01-01 00:00:00", None),
        ("9999-12-31T23:30:00-02:00", None),
        ("9999-12-31 23:59:59", None),
        ("yesterday", None),
        (1724138503, None),
    ],
)
def test_utc_date_time(text: Any, expected: datetime | None) -> None:
    """utcDateTime: the same shapes, always aware UTC; a time at the ends of the calendar
    that could not be moved to every zone is no time."""
    data = record(utcDateTime=text)
    assert data.utc_upload_time == expected
    if expected is not None:
        assert data.utc_upload_time is not None
        assert data.utc_upload_time.tzinfo is UTC


def test_year_9999_and_year_1_still_give_records() -> None:
    """Times that once stopped polling now only leave the record undated."""
    data = record(uploadTime="9999-12-31 23:59:59", utcDateTime="0001-01-01T00:00:00Z")
    assert (data.upload_time, data.utc_upload_time) == (None, None)
    assert data.yield_total == 2420.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10**400, None),
        (-(10**400), None),
        ("1" * 400, None),
        ("1e999", None),
        (1e308, 1e308),
        (10**20, 1e20),
        ("1e7", 1e7),
        (" -3.5 ", -3.5),
        ("", None),
        ("0x10", None),
        ([1], None),
        ({"value": 1}, None),
        (False, None),
    ],
)
def test_number_that_cannot_be_used_is_missing(value: Any, expected: Any) -> None:
    """A number is read if it is finite; anything else is a missing value, not an error."""
    assert parse_number(value) == expected
    assert record(acpower=value).ac_power == expected


def test_one_unusable_number_leaves_the_others() -> None:
    """A 400-digit integer in acpower makes acpower missing, not the record."""
    data = record(acpower=10**400, yieldtotal=10**400 + 1)
    assert data.ac_power is None
    assert data.yield_total is None
    assert data.pv_power == (162, 0, None, None)
    assert data.upload_time == INSTANT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (102, "102"),
        ("102", "102"),
        (-1, "-1"),
        ("-1", "-1"),
        (109.0, "109"),
        (10**400, None),
        pytest.param(10**5000, None, id="5000-digits"),
        (1e308, None),
        (float("inf"), None),
        ("1" * 21, None),
        (True, None),
        ([102], None),
    ],
)
def test_codes(value: Any, expected: str | None) -> None:
    """Codes are short texts; numbers too long to be a code are missing."""
    assert parse_code(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" H34 ", "H34"),
        ("x" * 100, "x" * 100),
        ("x" * 101, None),
        ("ab\ud800", None),
        ("  ", None),
        (5, None),
    ],
)
def test_texts(value: Any, expected: str | None) -> None:
    """Serial numbers too long to be one, or not encodable, are missing."""
    assert parse_text(value) == expected


def test_describe_raw_never_fails_on_deep_values() -> None:
    """Even a value too deep to be written as JSON is described, not raised."""
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    # Python 3.13 cannot write it as JSON (then its type is named), 3.14 can: either
    # way a short line.
    described = describe_raw(deep)
    assert described in ("<list>", "[" * MAX_TEXT_LENGTH)
    assert describe_raw("a\x00b\u2028c") == "a b c"
    assert describe_raw(None) is None


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**420)
    | st.floats()
    | st.text()
    | st.datetimes().map(str)
)
json_like = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(value=json_like)
def test_parsers_never_raise(value: Any) -> None:
    """Whatever a field holds, each parser returns a value of its type or None."""
    number = parse_number(value)
    assert number is None or isinstance(number, float)
    assert parse_code(value) is None or isinstance(parse_code(value), str)
    assert parse_text(value) is None or isinstance(parse_text(value), str)
    upload = parse_upload_time(value)
    assert upload is None or isinstance(upload, datetime)
    utc = parse_utc_time(value)
    assert utc is None or utc.tzinfo is UTC
    data = RealtimeData.from_dict(dict.fromkeys(EXAMPLE, value))
    assert (data.upload_time is None) or data.unparsed_upload_time is None


SHAPES = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%fZ",
]


@given(
    when=st.datetimes(
        min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31)
    ).map(lambda when: when.replace(microsecond=0)),
    shape=st.sampled_from(SHAPES),
)
def test_every_accepted_shape_gives_the_same_instant(
    when: datetime, shape: str
) -> None:
    """Written in any accepted shape, a time reads back as itself."""
    parsed = parse_upload_time(when.strftime(shape))
    assert parsed is not None
    assert parsed.replace(tzinfo=None) == when
    assert parse_utc_time(when.strftime(shape)) == when.replace(tzinfo=UTC)
