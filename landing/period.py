"""Ranges, report time and days in REPORT_TIMEZONE (SPEC §6); pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from landing.params import BadQuery, parse_day

# A range longer than this is almost certainly a typo, and costs a round of
# reads per day: refuse it with a clear message instead.
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Range:
    """An inclusive range of days in the report's zone, or all time."""

    first: date | None = None
    last: date | None = None

    @property
    def all_time(self) -> bool:
        return self.first is None and self.last is None

    def days(self, today: date) -> list[date] | None:
        """The days to read, None for all time."""
        if self.all_time:
            return None
        last = self.last or today
        first = self.first or last
        return [first + timedelta(n) for n in range((last - first).days + 1)]


def parse_range(raw_from: str | None, raw_to: str | None, today: date) -> Range:
    """`from` and `to` as YYYY-MM-DD, both inclusive, either may be absent.

    With only `from`, the range runs to today; with only `to`, it is that day
    and everything before it back to MAX_RANGE_DAYS.
    """
    first = parse_day("from", raw_from)
    last = parse_day("to", raw_to)
    if first is None and last is None:
        return Range()
    if last is None:
        last = max(today, first or today)
    if first is None:
        first = last - timedelta(MAX_RANGE_DAYS - 1)
    if first > last:
        raise BadQuery("`from` must not be after `to`")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BadQuery(f"a range may span at most {MAX_RANGE_DAYS} days")
    return Range(first, last)


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(zone)).astimezone(zone).date()


def day_of(timestamp: float, zone: ZoneInfo) -> date:
    """The day a moment falls on in the report's zone."""
    return datetime.fromtimestamp(timestamp, zone).date()
