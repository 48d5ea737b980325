"""Tests for parse_timestamp: the time formats vendors send."""

from datetime import UTC, datetime

import pytest

from playbooks.normalizers.times import parse_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-08-13T08:42:21.005+0000", datetime(2025, 8, 13, 8, 42, 21, 5000)),
        ("2025-08-13T10:42:21.005+02:00", datetime(2025, 8, 13, 8, 42, 21, 5000)),
        ("2025-08-13T03:42:21-0500", datetime(2025, 8, 13, 8, 42, 21)),
        ("2020-06-30T10:09:01.1569718Z", datetime(2020, 6, 30, 10, 9, 1, 156971)),
        ("2023-11-03T18:01:23.995794943Z", datetime(2023, 11, 3, 18, 1, 23, 995794)),
        ("2024-12-03 19:54:30.000000000", datetime(2024, 12, 3, 19, 54, 30)),
        ("2021-09-18 20:38:52Z", datetime(2021, 9, 18, 20, 38, 52)),
        ("2024-01-15 10:30:45 +0000", datetime(2024, 1, 15, 10, 30, 45)),
        ("2025-08-13 08:25:16.797", datetime(2025, 8, 13, 8, 25, 16, 797000)),
        ("2025-08-13T08:25", datetime(2025, 8, 13, 8, 25)),
        ("2025-08-13T08:25:16 UTC", datetime(2025, 8, 13, 8, 25, 16)),
        (1686845212400, datetime(2023, 6, 15, 16, 6, 52, 400000)),
        (1686845212, datetime(2023, 6, 15, 16, 6, 52)),
        (1686845212.5, datetime(2023, 6, 15, 16, 6, 52, 500000)),
        ("1682368416719", datetime(2023, 4, 24, 20, 33, 36, 719000)),
        ("1682368414.719", datetime(2023, 4, 24, 20, 33, 34, 719000)),
    ],
)
def test_parse_timestamp_accepted_forms(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value)

    assert parsed == expected.replace(tzinfo=UTC)
    assert parsed.utcoffset() is not None
    assert parsed.tzinfo == UTC


def test_parse_timestamp_naive_is_utc() -> None:
    parsed = parse_timestamp("2024-04-02 19:17:37.621000000")

    assert parsed.tzinfo == UTC
    assert parsed.hour == 19


@pytest.mark.parametrize(
    "value",
    [
        "redacted",
        "year-month-dayThours:minuts:seconds+0000",
        "Aug 13 08:02:32",
        "2025-13-01T00:00:00Z",
        "2025-02-30T00:00:00Z",
        "2025-08-13T25:00:00Z",
        "2025-08-13T08:00:00+2500",
        "2025-08-13",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        float("inf"),
        "",
        0,
        -5,
        10**20,
        True,
        None,
        {"SystemTime": "2025-08-13T08:00:00Z"},
        ["2025-08-13T08:00:00Z"],
    ],
)
def test_parse_timestamp_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"time|epoch|out of range"):
        parse_timestamp(value)


def test_parse_timestamp_error_names_value() -> None:
    with pytest.raises(ValueError, match="'redacted' is not a time"):
        parse_timestamp("redacted")
