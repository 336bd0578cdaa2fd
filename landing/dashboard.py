"""The scoreboard's HTML pages: the board and one campaign's page."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for

from landing.access import marketers_only
from landing.api import load_campaign
from landing.chart import Chart, bar_chart
from landing.live import PAGE_ARGS, Query, conditional
from landing.money import format_money
from landing.params import (
    parse_descending,
    parse_flag,
    parse_page,
    parse_text,
)
from landing.period import Range
from landing.reporting import (
    BREAKDOWNS,
    SORTABLE,
    Counters,
    daily_series,
    rows,
    select,
)
from landing.runtime import runtime
from landing.utm import UNATTRIBUTED

bp = Blueprint("dashboard", __name__)


PER_PAGE = 50
LABELS = {
    "campaign": "Campaign",
    "landings": "Landings",
    "conversions": "Conversions",
    "rate": "Conv. rate",
    "pending": "Pending",
    "failed": "Failed",
}
COLUMNS = [(key, LABELS[key]) for key in SORTABLE]
BREAKDOWN_LABELS = {
    "source": "source",
    "medium": "medium",
    "content": "content",
    "term": "term",
    "payment_link": "payment link",
}
# Longest all-time chart: older days still count in every number.
CHART_MAX_DAYS = 366


def _rate(c: Counters) -> str:
    rate = c.conversion_rate
    return "—" if rate is None else f"{rate:.1%}"


def _url(endpoint: str | None = None, **changes: Any) -> str:
    """This page's URL with some arguments changed (None removes one)."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k in PAGE_ARGS}
    for name, value in changes.items():
        if value is None or value == "":
            args.pop(name, None)
        else:
            args[name] = value
    return url_for(
        endpoint or request.endpoint or "", **(request.view_args or {}), **args
    )


def _charts(
    by_day: dict[str, dict[str, int]], query: Query, currencies: list[str]
) -> list[Chart]:
    days = query.days
    if days is None:
        if not by_day:
            return []
        first = max(
            date.fromisoformat(min(by_day)), query.today - timedelta(CHART_MAX_DAYS - 1)
        )
        days = [first + timedelta(n) for n in range((query.today - first).days + 1)]
    series = daily_series(by_day, days)
    charts = [
        bar_chart(
            "Conversions per day", [(d["date"], d["conversions"]) for d in series]
        )
    ]
    for currency in currencies[:3]:
        charts.append(
            bar_chart(
                f"Revenue per day, {currency.upper()}",
                [(d["date"], d["revenue"].get(currency, 0)) for d in series],
                partial(_money_for, currency),
            )
        )
    return charts


def _money_for(currency: str, amount: int) -> str:
    return format_money(amount, currency)


def _range_label(query: Query) -> str:
    if query.span.all_time:
        return "all time"
    if query.span.first == query.span.last:
        return f"{query.span.first}"
    return f"{query.span.first} to {query.span.last}"


def _page(template: str, fragment: str, query: Query, **context: Any) -> Response:
    """The whole page, or only its live part when dashboard.js asks."""
    common = {
        "query": query,
        "money": format_money,
        "rate": _rate,
        "presets": _presets(query),
        "mode_url": _url(mode="live" if query.mode == "test" else "test", page=None),
    }
    name = fragment if parse_flag(request.args.get("fragment")) else template
    return Response(render_template(name, **common, **context))


@bp.get("/dashboard")
@marketers_only
def dashboard() -> Response:
    def build(query: Query) -> Response:
        rt = runtime()
        by_campaign = rt.store.scoreboard(query.mode, query.days)
        desc = parse_descending(request.args.get("dir"))
        shown = select(
            by_campaign,
            search=parse_text(request.args.get("q")),
            sort=parse_text(request.args.get("sort")),
            descending=desc,
            page=parse_page(request.args.get("page")),
            per_page=PER_PAGE,
        )
        sort, currencies = shown.sort, shown.currencies
        first_run = shown.totals.empty and query.span.all_time
        unattributed = by_campaign.get(UNATTRIBUTED, {}).get("conversions", 0)
        board = {
            "first_run": first_run,
            "webhooks_ready": bool(rt.settings.webhook_secrets),
            "base_url": request.host_url.rstrip("/"),
            "test_url": url_for("dashboard.dashboard", mode="test"),
            "totals": shown.totals,
            "shown_totals": shown.shown_totals,
            "coverage": _coverage(shown.totals.conversions, unattributed),
            "charts": _charts(rt.store.daily(query.mode), query, currencies),
            "currencies": currencies,
            "columns": COLUMNS
            + [(f"revenue_{c}", f"Revenue {c.upper()}") for c in currencies],
            "rows": shown.rows,
            "matching": shown.matching,
            "q": parse_text(request.args.get("q")),
            "sort": sort,
            "desc": desc,
            "page": shown.number,
            "pages": shown.pages,
            "range_label": _range_label(query),
            "sort_url": lambda key: _url(
                sort=key, dir=_next_direction(key, sort, desc), page=None
            ),
            "page_url": lambda n: _url(page=n),
            "campaign_url": lambda name: _url(
                "dashboard.campaign_page",
                campaign=name,
                q=None,
                sort=None,
                dir=None,
                page=None,
            ),
            "csv_url": _url("exports.campaigns_csv", sort=None, dir=None, page=None),
            "sessions_csv_url": _url(
                "exports.sessions_csv", q=None, sort=None, dir=None, page=None
            ),
            "live_url": _url(fragment="board"),
            "etag": f'W/"{query.etag}"',
        }
        keep = {
            k: v
            for k, v in request.args.items()
            if k in ("from", "to", "mode", "sort", "dir")
        }
        return _page(
            "dashboard.html", "_board.html", query, board=board, keep_args=keep
        )

    return conditional(build)


@bp.get("/dashboard/campaigns/<campaign>")
@marketers_only
def campaign_page(campaign: str) -> Response:
    def build(query: Query) -> Response:
        detail = load_campaign(campaign, query)
        totals = Counters.from_metrics(detail.totals)
        breakdowns = [
            (dim, BREAKDOWN_LABELS[dim], rows(detail.breakdown.get(dim, {})))
            for dim in BREAKDOWNS
        ]
        board = {
            "totals": totals,
            "charts": _charts(detail.daily, query, list(totals.revenue)),
            "breakdowns": breakdowns,
            "csv_url": _url("exports.campaign_csv"),
            "live_url": _url(fragment="board"),
            "etag": f'W/"{query.etag}"',
        }
        back = _url("dashboard.dashboard", campaign=None)
        return _page(
            "campaign.html",
            "_campaign_board.html",
            query,
            campaign=campaign,
            board=board,
            back_url=back,
        )

    return conditional(build)


def _next_direction(key: str, current: str, descending: bool) -> str:
    """A click on a column sorts it its natural way first: names A-Z, numbers
    largest first; a second click reverses."""
    if key == current:
        return "asc" if descending else "desc"
    return "asc" if key == "campaign" else "desc"


def _coverage(paid: int, unattributed: int) -> float | None:
    """Share of paid sessions whose landing arrived; None with no payments."""
    return (paid - unattributed) / paid if paid else None


def _presets(query: Query) -> list[tuple[str, str, bool]]:
    """(label, URL, selected) for the date range buttons."""
    today = query.today
    options = [
        ("Today", Range(today, today)),
        ("7 days", Range(today - timedelta(6), today)),
        ("30 days", Range(today - timedelta(29), today)),
        ("All time", Range()),
    ]
    return [
        (
            label,
            _url(None, **{"from": span.first, "to": span.last, "page": None}),
            span == query.span,
        )
        for label, span in options
    ]
