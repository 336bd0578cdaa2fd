"""What the numbers mean (SPEC §5, §6): rows, totals, sorting; pure."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from landing.money import rank_currencies
from landing.period import Range

# The counts of a row, in the order the API and CSVs give them.
COUNTERS = (
    "landings",
    "conversions",
    "pending",
    "failed",
    "abandoned",
    "renewals",
    "refunds",
)
# Money per currency (minor units): net_revenue is revenue less refunded.
AMOUNTS = ("revenue", "refunded", "net_revenue")
BREAKDOWNS = ("source", "medium", "content", "term", "payment_link")


def _per_currency(metrics: Mapping[str, int], prefix: str) -> dict[str, int]:
    found = {
        name[len(prefix) :]: value
        for name, value in metrics.items()
        if value and name.startswith(prefix)
    }
    return dict(sorted(found.items())) if len(found) > 1 else found


@dataclass(frozen=True, slots=True)
class Counters:
    """The numbers shown for a campaign, a day or a breakdown value."""

    landings: int = 0
    conversions: int = 0
    pending: int = 0
    failed: int = 0
    abandoned: int = 0
    renewals: int = 0
    refunds: int = 0
    revenue: Mapping[str, int] = field(default_factory=dict)
    refunded: Mapping[str, int] = field(default_factory=dict)
    # Conversions per currency: how currencies are ranked, never by amounts.
    paid_in: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, int]) -> Counters:
        return cls(
            **{name: metrics.get(name, 0) for name in COUNTERS},
            revenue=_per_currency(metrics, "revenue:"),
            refunded=_per_currency(metrics, "refunded:"),
            paid_in=_per_currency(metrics, "conversions:"),
        )

    @property
    def net_revenue(self) -> dict[str, int]:
        """Revenue less refunded, per currency; never summed across them."""
        currencies = sorted({*self.revenue, *self.refunded})
        return {
            cur: self.revenue.get(cur, 0) - self.refunded.get(cur, 0)
            for cur in currencies
        }

    @property
    def currencies(self) -> list[str]:
        """This row's currencies, most conversions first (money.rank_currencies)."""
        return rank_currencies(self.paid_in, {**self.refunded, **self.revenue})

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in COUNTERS) and not any(
            (*self.revenue.values(), *self.refunded.values())
        )

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per landing, None when nobody landed."""
        return self.conversions / self.landings if self.landings else None

    def as_json(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in COUNTERS},
            "revenue": dict(self.revenue),
            "refunded": dict(self.refunded),
            "net_revenue": self.net_revenue,
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
    campaigns, totals = campaigns_json(by_campaign)
    return {
        "from": span.first.isoformat() if span.first else None,
        "to": span.last.isoformat() if span.last else None,
        "timezone": timezone,
        "campaigns": campaigns,
        "totals": totals,
    }


@dataclass
class RowsKept:
    """What campaigns_json() keeps from one call to the next for a caller
    that asks it to (one view's rows): each campaign's metrics object and
    row (None: nothing to show), the rows' order, and the totals' sums."""

    rows: dict[
        str,
        tuple[
            Mapping[str, int],
            tuple[int, ...],
            dict[str, int],
            dict[str, int],
            dict[str, Any] | None,
        ],
    ] = field(default_factory=dict)
    order: list[tuple[int, int, str]] = field(default_factory=list)
    sums: list[int] = field(default_factory=lambda: [0] * len(COUNTERS))
    revenue: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)

    def clear(self) -> None:
        self.rows, self.order = {}, []
        self.sums = [0] * len(COUNTERS)
        self.revenue, self.refunded = {}, {}


# Past this share of campaigns changed since the last call, campaigns_json()
# starts over rather than patch.
PATCH_AT_MOST = 0.25


def campaigns_json(
    by_campaign: Mapping[str, Mapping[str, int]],
    kept: RowsKept | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The scoreboard's rows as the API gives them, ranked, and their totals:
    the same as ``{"campaign": name, **c.as_json()}`` for each of rows() and
    summed().as_json(), in one pass over each campaign's counters and with
    no Counters made (a build reads 10,000 campaigns' counters).

    `kept` (held by the caller from call to call, filled here) lets a call
    patch the last one's answer: the store hands back the very same metrics
    object for a campaign whose counters did not change (and nobody changes
    them), so only the campaigns with another object are read again, moved
    in the order and in the totals. Rows are shared with the last answer.
    """
    if kept is None:
        kept = RowsKept()
    elif kept.rows:
        last = kept.rows
        changed = [
            (name, metrics)
            for name, metrics in by_campaign.items()
            if (entry := last.get(name)) is None or entry[0] is not metrics
        ]
        gone = [name for name in last if name not in by_campaign]
        if len(changed) + len(gone) <= PATCH_AT_MOST * len(by_campaign):
            for name in gone:
                _unrank(kept, name)
            for name, metrics in changed:
                if name in last:
                    _unrank(kept, name)
                _rank(kept, name, metrics)
            return _ranked(kept)
        kept.clear()  # then start over
    for name, metrics in by_campaign.items():
        _rank(kept, name, metrics, at_end=True)
    kept.order.sort()
    return _ranked(kept)


def _rank(
    kept: RowsKept, name: str, metrics: Mapping[str, int], at_end: bool = False
) -> None:
    counts, revenue, refunded = _row_parts(metrics)
    if not (any(counts) or revenue or refunded):
        kept.rows[name] = (metrics, counts, revenue, refunded, None)
        return
    kept.rows[name] = (
        metrics,
        counts,
        revenue,
        refunded,
        _row_json(name, counts, revenue, refunded),
    )
    key = (-counts[1], -counts[0], name)
    if at_end:
        kept.order.append(key)
    else:
        bisect.insort(kept.order, key)
    sums = kept.sums
    for n, count in enumerate(counts):
        sums[n] += count
    for currency, value in revenue.items():
        kept.revenue[currency] = kept.revenue.get(currency, 0) + value
    for currency, value in refunded.items():
        kept.refunded[currency] = kept.refunded.get(currency, 0) + value


def _unrank(kept: RowsKept, name: str) -> None:
    _, counts, revenue, refunded, row = kept.rows.pop(name)
    if row is None:
        return
    key = (-counts[1], -counts[0], name)
    del kept.order[bisect.bisect_left(kept.order, key)]
    sums = kept.sums
    for n, count in enumerate(counts):
        sums[n] -= count
    for currency, value in revenue.items():
        kept.revenue[currency] -= value
    for currency, value in refunded.items():
        kept.refunded[currency] -= value


def _ranked(kept: RowsKept) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = kept.rows
    ranked = [rows[key[2]][4] for key in kept.order]
    totals = _row_json(
        "",
        tuple(kept.sums),
        {c: v for c, v in kept.revenue.items() if v},
        {c: v for c, v in kept.refunded.items() if v},
    )
    del totals["campaign"]
    return cast(list[dict[str, Any]], ranked), totals


def _row_parts(
    metrics: Mapping[str, int],
) -> tuple[tuple[int, ...], dict[str, int], dict[str, int]]:
    """A row's counts in COUNTERS order, and its revenue and refunded per
    currency (only currencies with an amount)."""
    get = metrics.get
    counts = (
        get("landings", 0),
        get("conversions", 0),
        get("pending", 0),
        get("failed", 0),
        get("abandoned", 0),
        get("renewals", 0),
        get("refunds", 0),
    )
    revenue: dict[str, int] = {}
    refunded: dict[str, int] = {}
    for metric, value in metrics.items():
        if value and ":" in metric:
            kind, _, currency = metric.partition(":")
            if kind == "revenue":
                revenue[currency] = value
            elif kind == "refunded":
                refunded[currency] = value
    return counts, revenue, refunded


def _row_json(
    name: str,
    counts: tuple[int, ...],
    revenue: dict[str, int],
    refunded: dict[str, int],
) -> dict[str, Any]:
    """{"campaign": name, **Counters.as_json()} of counts in COUNTERS order
    and money per currency (only currencies with an amount)."""
    if refunded:
        currencies = sorted({*revenue, *refunded})
        net = {c: revenue.get(c, 0) - refunded.get(c, 0) for c in currencies}
    else:
        net = dict(sorted(revenue.items()))
    return {
        "campaign": name,
        "landings": counts[0],
        "conversions": counts[1],
        "pending": counts[2],
        "failed": counts[3],
        "abandoned": counts[4],
        "renewals": counts[5],
        "refunds": counts[6],
        "revenue": dict(sorted(revenue.items())) if len(revenue) > 1 else revenue,
        "refunded": dict(sorted(refunded.items())) if len(refunded) > 1 else refunded,
        "net_revenue": net,
    }


def daily_series(
    by_day: Mapping[str, Mapping[str, int]], days: list[date] | None
) -> list[dict[str, Any]]:
    """One row per day: every day of a range, or each day with data."""
    names = [d.isoformat() for d in days] if days is not None else sorted(by_day)
    return [
        {"date": d, **Counters.from_metrics(by_day.get(d, {})).as_json()} for d in names
    ]


def series(
    by_start: Mapping[str, Mapping[str, int]], starts: Iterable[datetime]
) -> list[dict[str, Any]]:
    """One row per interval (`by_start` keyed by its start in epoch seconds):
    every interval of the range, each with its start as ISO 8601."""
    return [
        {
            "start": start.isoformat(),
            **Counters.from_metrics(
                by_start.get(str(int(start.timestamp())), {})
            ).as_json(),
        }
        for start in starts
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
SORTABLE = (
    "campaign",
    "landings",
    "conversions",
    "rate",
    "pending",
    "failed",
    "abandoned",
)


@dataclass(frozen=True)
class Page:
    """One page of the scoreboard table, with the totals it needs."""

    rows: list[tuple[str, Counters]]
    number: int
    pages: int
    matching: int
    totals: Counters  # every campaign in the range
    shown_totals: Counters  # the campaigns matching the search
    currencies: list[str]  # of the money columns, most conversions first
    sort: str  # the column sorted by, "" for the SPEC's order


@dataclass
class BoardKept:
    """What select() keeps from one call to the next for a caller that asks
    it to (one view: a range, a search, a sort): the metrics object each
    campaign had, the counters of every campaign and of those matching the
    search added up, and the matching campaigns' order (ascending ranking
    keys, each ending in the campaign's name) for the search and sort it was
    made for."""

    seen: dict[str, Mapping[str, int]] = field(default_factory=dict)
    raw: dict[str, int] = field(default_factory=dict)
    matching_raw: dict[str, int] = field(default_factory=dict)
    order: list[tuple[Any, ...]] = field(default_factory=list)
    needle: str = ""
    sort: str = ""


def select(
    by_campaign: Mapping[str, Mapping[str, int]],
    *,
    search: str = "",
    sort: str = "",
    descending: bool = True,
    page: int = 1,
    per_page: int = 50,
    kept: BoardKept | None = None,
) -> Page:
    """Filter by a substring, sort by a column, cut one page.

    Works on the raw counters and reads only the shown page as Counters.
    Without a sort key, or with one that is not a column, the SPEC's order
    (conversions, then landings) stands.

    `kept` (held by the caller from call to call, filled here) lets a call
    patch the last one's answer for the same search and direction: only
    the campaigns whose metrics differ from the last call's (the store hands
    back the very same object for a campaign whose counters did not change)
    are moved in the order and in the totals, so a poll of a scoreboard with
    10,000 campaigns and a few landing costs a pass over their names.
    """
    needle = search.strip().lower()
    if kept is None:
        kept = BoardKept()
    if kept.needle != needle:
        kept.seen, kept.needle = {}, needle
    changed = _changed(kept, by_campaign) if kept.seen else None
    if changed is None:  # nothing kept, or too much changed: start over
        kept.seen, kept.raw, kept.matching_raw = dict(by_campaign), {}, {}
        for name, metrics in by_campaign.items():
            _add_to(kept, name, metrics, 1)
    else:
        for name, old, new in changed:
            _add_to(kept, name, old, -1)
            _add_to(kept, name, new, 1)
    totals = Counters.from_metrics(kept.raw)
    currencies = totals.currencies
    if sort not in SORTABLE and sort.removeprefix("revenue_") not in currencies:
        sort = ""
    if changed is None or sort != kept.sort:
        kept.sort = sort
        kept.order = sorted(
            _rank_key(name, metrics, sort)
            for name, metrics in kept.seen.items()
            if _shown(kept, name, metrics)
        )
    else:
        order = kept.order
        for name, old, new in changed:
            if _shown(kept, name, old):
                del order[bisect.bisect_left(order, _rank_key(name, old, sort))]
            if _shown(kept, name, new):
                bisect.insort(order, _rank_key(name, new, sort))
    order = kept.order
    matching = len(order)
    pages = max(1, -(-matching // per_page))
    page = min(max(page, 1), pages)
    start = (page - 1) * per_page
    # The SPEC's order and ascending sorts read from the smallest key, a
    # descending sort from the largest.
    if sort and descending:
        cut = order[max(0, matching - start - per_page) : matching - start]
        names = [key[-1] for key in reversed(cut)]
    else:
        names = [k[-1] for k in order[start : start + per_page]]
    return Page(
        rows=[(n, Counters.from_metrics(kept.seen[n])) for n in names],
        number=page,
        pages=pages,
        matching=matching,
        totals=totals,
        shown_totals=Counters.from_metrics(kept.matching_raw) if needle else totals,
        currencies=currencies,
        sort=sort,
    )


def _changed(
    kept: BoardKept, by_campaign: Mapping[str, Mapping[str, int]]
) -> list[tuple[str, Mapping[str, int], Mapping[str, int]]] | None:
    """The campaigns whose metrics changed since the last call, as (name,
    old, new), a campaign gone or new having empty ones; None when more than
    PATCH_AT_MOST of them did (then select() starts over). `kept.seen`
    becomes `by_campaign`'s."""
    seen, empty = kept.seen, cast(Mapping[str, int], {})
    changed: list[tuple[str, Mapping[str, int], Mapping[str, int]]] = []
    found = 0
    for name, metrics in by_campaign.items():
        old = seen.get(name)
        if old is metrics:
            found += 1
            continue
        if old is None:
            changed.append((name, empty, metrics))
        else:
            found += 1
            if old != metrics:  # e.g. an unconfirmed campaign's, read anew
                changed.append((name, old, metrics))
    if found != len(seen):
        changed += [
            (name, old, empty) for name, old in seen.items() if name not in by_campaign
        ]
    if len(changed) > PATCH_AT_MOST * max(len(by_campaign), 1):
        return None
    kept.seen = dict(by_campaign)
    return changed


def _shown(kept: BoardKept, name: str, metrics: Mapping[str, int]) -> bool:
    """Whether a campaign has a row: numbers, and its name matches the search."""
    return any(metrics.values()) and (not kept.needle or kept.needle in name.lower())


def _add_to(kept: BoardKept, name: str, metrics: Mapping[str, int], sign: int) -> None:
    """Add a campaign's counters to the totals (sign 1), or take them out
    (-1); to the search's too if its name matches."""
    needle = kept.needle
    for into in (
        (kept.raw, kept.matching_raw)
        if needle and needle in name.lower()
        else (kept.raw,)
    ):
        for metric, value in metrics.items():
            into[metric] = into.get(metric, 0) + sign * value


def _rank_key(name: str, metrics: Mapping[str, int], sort: str) -> tuple[Any, ...]:
    """Where a campaign ranks, ascending: by the column sorted by, or by the
    SPEC's order; the name last, so that keys never tie."""
    return _sort_key(name, metrics, sort) if sort else _spec_order((name, metrics))


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
    """Each big number's change: every counter, `rate`, and per currency
    `revenue:<currency>` and `net:<currency>`."""
    out = {
        name: change(getattr(current, name), getattr(previous, name))
        for name in COUNTERS
    }
    out["rate"] = rate_change(current.conversion_rate, previous.conversion_rate)
    for currency, amount in current.revenue.items():
        out[f"revenue:{currency}"] = change(amount, previous.revenue.get(currency, 0))
    before = previous.net_revenue
    for currency, amount in current.net_revenue.items():
        out[f"net:{currency}"] = change(amount, before.get(currency, 0))
    return out


def totals_of_days(
    by_day: Mapping[str, Mapping[str, int]], days: Iterable[date]
) -> Counters:
    """Every campaign's counters added up over some days, from the per-day
    totals (one read, however many campaigns)."""
    return summed(by_day.get(d.isoformat(), {}) for d in days)


def currency_order(metrics: Mapping[str, int]) -> list[str]:
    """Money currencies of raw counters in the order a board ranks them: by
    conversions paid in each (money.rank_currencies), never by amount."""
    return Counters.from_metrics(metrics).currencies


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
