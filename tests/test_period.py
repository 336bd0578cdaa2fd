"""Days, hours and minutes in REPORT_TIMEZONE (landing/period.py); pure."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from landing.period import (
    day_starts,
    hour_starts,
    minute_starts,
    utc_offset,
    when_of,
)
from landing.reporting import series


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Paris", date(2026, 3, 29), 23),  # clocks go forward
        ("Europe/Paris", date(2026, 10, 25), 25),  # and back
        ("Asia/Kolkata", date(2026, 3, 29), 24),  # a half-hour offset
        ("UTC", date(2026, 3, 29), 24),
    ],
)
def test_a_day_has_the_hours_its_zone_gives_it(
    zone: str, day: date, hours: int
) -> None:
    starts = hour_starts([day], ZoneInfo(zone))
    assert len(starts) == hours
    assert starts[0] == datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone))
    # Each count lands in the hour that contains it.
    for start in starts:
        inside = start.timestamp() + 1800
        assert when_of(inside, ZoneInfo(zone)).split("@") == [
            day.isoformat(),
            str(int(start.timestamp())),
        ]


def test_two_days_of_hours_run_on_without_a_gap() -> None:
    zone = ZoneInfo("Europe/Paris")
    starts = hour_starts([date(2026, 10, 24), date(2026, 10, 25)], zone)
    assert len(starts) == 24 + 25
    assert all(
        (b.timestamp() - a.timestamp()) == 3600 for a, b in itertools.pairwise(starts)
    )
    assert starts[-1].isoformat() == "2026-10-25T23:00:00+01:00"
    assert hour_starts([], zone) == []


def test_days_start_at_local_midnight() -> None:
    zone = ZoneInfo("America/Sao_Paulo")
    (start,) = day_starts([date(2026, 11, 30)], zone)
    assert start.isoformat() == "2026-11-30T00:00:00-03:00"


def test_the_last_minutes_end_with_this_one() -> None:
    zone = ZoneInfo("Asia/Kolkata")
    now = datetime(2026, 11, 30, 12, 34, 56, tzinfo=UTC).timestamp()
    minutes = minute_starts(now, zone, count=3)
    assert [m.isoformat() for m in minutes] == [
        "2026-11-30T18:02:00+05:30",
        "2026-11-30T18:03:00+05:30",
        "2026-11-30T18:04:00+05:30",
    ]
    assert len(minute_starts(now, zone)) == 30


@pytest.mark.parametrize(
    ("zone", "moment", "offset"),
    [
        ("UTC", datetime(2026, 7, 1, tzinfo=UTC), 0),
        ("Europe/Paris", datetime(2026, 7, 1, tzinfo=UTC), 7200),
        ("Europe/Paris", datetime(2026, 1, 1, tzinfo=UTC), 3600),
        ("Asia/Kathmandu", datetime(2026, 1, 1, tzinfo=UTC), 20700),
        ("America/St_Johns", datetime(2026, 1, 1, tzinfo=UTC), -12600),
    ],
)
def test_utc_offsets_in_seconds(zone: str, moment: datetime, offset: int) -> None:
    assert utc_offset(ZoneInfo(zone), moment.timestamp()) == offset


def test_a_moment_goes_to_its_local_day_and_hour() -> None:
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()
    # Still the 30th in UTC, already the 1st in Auckland (UTC+13).
    assert when_of(moment, ZoneInfo("UTC")) == (
        f"2026-11-30@{int(datetime(2026, 11, 30, 23, tzinfo=UTC).timestamp())}"
    )
    day, hour = when_of(moment, ZoneInfo("Pacific/Auckland")).split("@")
    assert day == "2026-12-01"
    assert int(hour) == int(datetime(2026, 11, 30, 23, tzinfo=UTC).timestamp())


def test_a_series_has_every_interval_and_reads_counters_by_start() -> None:
    zone = ZoneInfo("UTC")
    starts = hour_starts([date(2026, 11, 30)], zone)[:3]
    second = str(int(starts[1].timestamp()))
    rows = series({second: {"landings": 2, "revenue:usd": 900}}, starts)
    assert [r["start"] for r in rows] == [s.isoformat() for s in starts]
    assert [r["landings"] for r in rows] == [0, 2, 0]
    assert rows[1]["revenue"] == {"usd": 900}
    assert rows[1]["net_revenue"] == {"usd": 900}
