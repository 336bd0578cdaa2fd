"""Ranges, report time and days in REPORT_TIMEZONE (SPEC §6); pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from landing.params import BadQuery, parse_day

# A range longer than this is almost certainly a typo, and costs a round of
# reads per day: refuse it with a clear message instead.
MAX_RANGE_DAYS = 3 * 366
# Ranges named relative to today (`range=`), by their length in days: a board
# left open on one moves with the calendar, at midnight in REPORT_TIMEZONE.
RELATIVE = {"today": 1, "7d": 7, "30d": 30}


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


def parse_range(
    raw_from: str | None,
    raw_to: str | None,
    today: date,
    relative: str | None = None,
) -> Range:
    """`from` and `to` as YYYY-MM-DD, both inclusive, either may be absent;
    or `relative`, one of RELATIVE's names, ending today.

    With only `from`, the range runs to today; with only `to`, it is that day
    and everything before it back to MAX_RANGE_DAYS.
    """
    if relative:
        if raw_from or raw_to:
            raise BadQuery("give either `range` or `from` and `to`, not both")
        return relative_range(relative, today)
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


def relative_range(name: str, today: date) -> Range:
    """`today`, `7d` or `30d`: that many days up to and including today."""
    length = RELATIVE.get(name)
    if length is None:
        raise BadQuery(f"`range` must be one of {', '.join(RELATIVE)}")
    return Range(today - timedelta(length - 1), today)


def previous_range(span: Range, today: date) -> Range | None:
    """The range of the same length just before `span`; None for all time,
    which has nothing before it to compare with."""
    days = span.days(today)
    if days is None:
        return None
    return Range(days[0] - timedelta(len(days)), days[0] - timedelta(1))


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(zone)).astimezone(zone).date()


def day_of(timestamp: float, zone: ZoneInfo) -> date:
    """The day a moment falls on in the report's zone."""
    return datetime.fromtimestamp(timestamp, zone).date()


# Hourly counters are kept 30 days; a series by hour spans at most this.
MAX_HOURLY_DAYS = 14
MINUTES_SHOWN = 30


def hour_starts(days: list[date], zone: ZoneInfo) -> list[datetime]:
    """Every hour of the days in the zone, in order: 23 or 25 on a DST day."""
    if not days:
        return []
    start = datetime.combine(days[0], time.min, zone).astimezone(UTC)
    end = datetime.combine(days[-1] + timedelta(1), time.min, zone).astimezone(UTC)
    out = []
    while start < end:
        out.append(start.astimezone(zone))
        start += timedelta(hours=1)
    return out


def day_starts(days: list[date], zone: ZoneInfo) -> list[datetime]:
    return [datetime.combine(d, time.min, zone) for d in days]


def minute_starts(
    now: float, zone: ZoneInfo, count: int = MINUTES_SHOWN
) -> list[datetime]:
    """The last `count` minutes, this one included."""
    minute = int(now // 60) * 60
    return [
        datetime.fromtimestamp(minute - 60 * n, zone) for n in range(count - 1, -1, -1)
    ]


def when_of(timestamp: float, zone: ZoneInfo) -> str:
    """Where a moment's counts go: ``{day}@{hour}``, its day in the report's
    zone and the start of its hour there (epoch seconds)."""
    local = datetime.fromtimestamp(timestamp, zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    return f"{local.date().isoformat()}@{int(hour.timestamp())}"


def utc_offset(zone: ZoneInfo, timestamp: float) -> int:
    """The zone's offset from UTC at a moment, in seconds."""
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0
