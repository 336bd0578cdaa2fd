"""What the numbers mean (SPEC §5, §6): rows, totals, sorting; pure."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from landing.money import rank_currencies
from landing.period import Range

COUNTERS = ("landings", "conversions", "pending", "failed")
BREAKDOWNS = ("source", "medium", "content", "term", "payment_link")


@dataclass(frozen=True, slots=True)
class Counters:
    """The numbers shown for a campaign, a day or a breakdown value."""

    landings: int = 0
    conversions: int = 0
    pending: int = 0
    failed: int = 0
    revenue: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, int]) -> Counters:
        revenue = {
            name[8:]: value
            for name, value in metrics.items()
            if value and name.startswith("revenue:")
        }
        return cls(
            landings=metrics.get("landings", 0),
            conversions=metrics.get("conversions", 0),
            pending=metrics.get("pending", 0),
            failed=metrics.get("failed", 0),
            revenue=dict(sorted(revenue.items())) if len(revenue) > 1 else revenue,
        )

    @property
    def empty(self) -> bool:
        return not (
            self.landings or self.conversions or self.pending or self.failed
        ) and not any(self.revenue.values())

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per landing, None when nobody landed."""
        return self.conversions / self.landings if self.landings else None

    def as_json(self) -> dict[str, Any]:
        return {
            "landings": self.landings,
            "conversions": self.conversions,
            "pending": self.pending,
            "failed": self.failed,
            "revenue": dict(self.revenue),
        }


def rows(by_campaign: Mapping[str, Mapping[str, int]]) -> list[tuple[str, Counters]]:
    """Campaigns with anything to show, by conversions then landings."""
    out = [
        (name, counters)
        for name, metrics in by_campaign.items()
        if not (counters := Counters.from_metrics(metrics)).empty
    ]
    out.sort(key=lambda r: (-r[1].conversions, -r[1].landings, r[0]))
    return out


def scoreboard_json(
    by_campaign: Mapping[str, Mapping[str, int]], span: Range, timezone: str
) -> dict[str, Any]:
    """The body of GET /api/campaigns (SPEC §6)."""
    ranked = rows(by_campaign)
    return {
        "from": span.first.isoformat() if span.first else None,
        "to": span.last.isoformat() if span.last else None,
        "timezone": timezone,
        "campaigns": [{"campaign": name, **c.as_json()} for name, c in ranked],
        "totals": summed(by_campaign.values()).as_json(),
    }


def daily_series(
    by_day: Mapping[str, Mapping[str, int]], days: list[date] | None
) -> list[dict[str, Any]]:
    """One row per day: every day of a range, or each day with data."""
    names = [d.isoformat() for d in days] if days is not None else sorted(by_day)
    return [
        {"date": d, **Counters.from_metrics(by_day.get(d, {})).as_json()} for d in names
    ]


def breakdown_rows(
    by_value: Mapping[str, Mapping[str, int]],
) -> list[dict[str, Any]]:
    ranked = rows(by_value)
    return [{"value": value, **c.as_json()} for value, c in ranked]


def _sort_key(name: str, metrics: Mapping[str, int], key: str) -> tuple[Any, ...]:
    """What a scoreboard column sorts by; ties broken by the campaign name."""
    if key == "campaign":
        return (name.lower(), name)
    if key == "rate":
        landings = metrics.get("landings", 0)
        return (metrics.get("conversions", 0) / landings if landings else 0.0, name)
    if key.startswith("revenue_"):
        return (metrics.get("revenue:" + key.removeprefix("revenue_"), 0), name)
    return (metrics.get(key, 0), name)


def _spec_order(row: tuple[str, Mapping[str, int]]) -> tuple[int, int, str]:
    name, metrics = row
    return (-metrics.get("conversions", 0), -metrics.get("landings", 0), name)


def added(metrics: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Raw counters added up."""
    out: dict[str, int] = {}
    for m in metrics:
        for name, value in m.items():
            out[name] = out.get(name, 0) + value
    return out


def summed(metrics: Iterable[Mapping[str, int]]) -> Counters:
    """Raw counters added up, then read as Counters once."""
    return Counters.from_metrics(added(metrics))


# Scoreboard columns that sort, besides one `revenue_<currency>` per currency.
SORTABLE = ("campaign", "landings", "conversions", "rate", "pending", "failed")


@dataclass(frozen=True)
class Page:
    """One page of the scoreboard table, with the totals it needs."""

    rows: list[tuple[str, Counters]]
    number: int
    pages: int
    matching: int
    totals: Counters  # every campaign in the range
    shown_totals: Counters  # the campaigns matching the search
    currencies: list[str]  # of the revenue columns, most revenue first
    sort: str  # the column sorted by, "" for the SPEC's order


def select(
    by_campaign: Mapping[str, Mapping[str, int]],
    *,
    search: str = "",
    sort: str = "",
    descending: bool = True,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Filter by a substring, sort by a column, cut one page.

    Works on the raw counters and reads only the shown page as Counters, so
    a poll of a scoreboard with 10,000 campaigns stays cheap. Without a sort
    key, or with one that is not a column, the SPEC's order (conversions,
    then landings) stands.
    """
    present = [(n, m) for n, m in by_campaign.items() if any(m.values())]
    totals = summed(m for _, m in present)
    revenue = totals.revenue
    currencies = sorted(revenue, key=lambda cur: -revenue[cur])
    if sort not in SORTABLE and sort.removeprefix("revenue_") not in currencies:
        sort = ""
    needle = search.strip().lower()
    matching = [r for r in present if needle in r[0].lower()] if needle else present
    pages = max(1, -(-len(matching) // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    # Only the rows up to this page need ordering: a partial sort (equal to
    # sorted(...)[:n]) is several times cheaper with 10,000 campaigns.
    if sort:
        pick = heapq.nlargest if descending else heapq.nsmallest
        ranked = pick(
            start + per_page, matching, key=lambda r: _sort_key(r[0], r[1], sort)
        )
    else:
        ranked = heapq.nsmallest(start + per_page, matching, key=_spec_order)
    return Page(
        rows=[(n, Counters.from_metrics(m)) for n, m in ranked[start:]],
        number=page,
        pages=pages,
        matching=len(matching),
        totals=totals,
        shown_totals=summed(m for _, m in matching) if needle else totals,
        currencies=currencies,
        sort=sort,
    )


# -- comparison with the previous period ------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """A number against the same number in the previous period."""

    direction: str  # "up", "down", "same", or "none" when nothing compares
    text: str  # ▲ 12%, ▼ 5%, ±0%, no data
    spoken: str  # the same for a screen reader: "up 12%"


NO_DATA = Change("none", "no data", "no data for the previous period")


def change(current: int, previous: int) -> Change:
    """The relative change, or "no data" when the previous period had none
    (a rise from nothing has no percentage)."""
    if previous <= 0:
        return NO_DATA
    return _percent_change((current - previous) / previous * 100, "%")


def rate_change(current: float | None, previous: float | None) -> Change:
    """A conversion rate's change in percentage points (a rate's relative
    change reads as points and misleads)."""
    if current is None or previous is None:
        return NO_DATA
    return _percent_change((current - previous) * 100, " pt", decimals=1)


def _percent_change(delta: float, unit: str, decimals: int = 0) -> Change:
    if delta == 0:
        return Change("same", f"±0{unit}", "no change")
    direction, arrow = ("up", "▲") if delta > 0 else ("down", "▼")
    shown = round(abs(delta), decimals)
    # A change too small to show as a whole figure still shows its way.
    figure = f"<{10**-decimals:g}" if shown == 0 else f"{shown:,.{decimals}f}"
    return Change(direction, f"{arrow} {figure}{unit}", f"{direction} {figure}{unit}")


def changes(current: Counters, previous: Counters) -> dict[str, Change]:
    """Each big number's change: every counter, `rate`, `revenue:<currency>`."""
    out = {
        name: change(getattr(current, name), getattr(previous, name))
        for name in COUNTERS
    }
    out["rate"] = rate_change(current.conversion_rate, previous.conversion_rate)
    for currency, amount in current.revenue.items():
        out[f"revenue:{currency}"] = change(amount, previous.revenue.get(currency, 0))
    return out


def totals_of_days(
    by_day: Mapping[str, Mapping[str, int]], days: Iterable[date]
) -> Counters:
    """Every campaign's counters added up over some days, from the per-day
    totals (one read, however many campaigns)."""
    return summed(by_day.get(d.isoformat(), {}) for d in days)


def currency_order(metrics: Mapping[str, int]) -> list[str]:
    """Revenue currencies in the order a board ranks them.

    By conversions in each currency when the counters say
    (``conversions:<currency>``; money.rank_currencies); otherwise by amount,
    as the scoreboard's columns are ordered.
    """
    revenue = {
        name[8:]: value
        for name, value in metrics.items()
        if value and name.startswith("revenue:")
    }
    counted = {
        name[12:]: value
        for name, value in metrics.items()
        if value and name.startswith("conversions:")
    }
    if counted:
        return rank_currencies(counted, revenue)
    return sorted(revenue, key=lambda cur: (-revenue[cur], cur))


def previous_json(
    by_day: Mapping[str, Mapping[str, int]], previous: Range | None, today: date
) -> dict[str, Any] | None:
    """`previous` of GET /api/campaigns?compare=previous: the range of the
    same length just before, and its totals; None for all time."""
    days = previous.days(today) if previous else None
    if previous is None or days is None:
        return None
    return {
        "from": days[0].isoformat(),
        "to": days[-1].isoformat(),
        "totals": totals_of_days(by_day, days).as_json(),
    }
