"""The scoreboard's HTML pages: the board and one campaign's page."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from landing.access import marketers_only
from landing.api import load_campaign
from landing.chart import Chart, bar_chart
from landing.live import PAGE_ARGS, Query, conditional
from landing.money import format_money
from landing.params import (
    ascii_number,
    parse_descending,
    parse_flag,
    parse_mode,
    parse_page,
    parse_text,
)
from landing.period import RELATIVE, hour_starts, minute_starts, relative_range
from landing.reporting import (
    BREAKDOWNS,
    SORTABLE,
    BoardKept,
    Change,
    Counters,
    Page,
    changes,
    daily_series,
    rows,
    select,
    series,
    totals_of_days,
)
from landing.runtime import runtime
from landing.store import Unconfirmed
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
# "abandoned" sorts too, but shows only when a tagged link's checkout expired.
COLUMNS = [(key, LABELS[key]) for key in SORTABLE if key in LABELS]
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


def this_url(endpoint: str | None = None, **changes: Any) -> str:
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


# Ranges this short are charted by hour ("Today", "Yesterday", 7 days).
HOURLY_CHART_DAYS = 7


def charts(
    by_day: dict[str, dict[str, int]],
    query: Query,
    currencies: list[str],
    campaign: str | None = None,
    pending: Unconfirmed | None = None,
) -> list[Chart]:
    """Conversions, then revenue in up to three currencies: per hour for a
    range of up to a week, else per day; for all campaigns, or one."""
    days = query.days
    if days is not None and len(days) <= HOURLY_CHART_DAYS:
        store, zone = runtime().store, runtime().settings.zone
        by_hour = store.hourly(query.mode, days, campaign, pending)
        points = series(by_hour, hour_starts(days, zone))
        for point in points:  # "2026-11-30 14:00", the hour's local start
            point["start"] = point["start"][:16].replace("T", " ")
        return series_charts(points, "hour", currencies)
    if days is None:
        if not by_day:
            return []
        first = max(
            date.fromisoformat(min(by_day)), query.today - timedelta(CHART_MAX_DAYS - 1)
        )
        days = [first + timedelta(n) for n in range((query.today - first).days + 1)]
    return series_charts(daily_series(by_day, days), "day", currencies)


def series_charts(
    series: list[dict[str, Any]], unit: str, currencies: list[str]
) -> list[Chart]:
    """Bar charts of a series of points, each labelled by its `date` (or, for
    a series by hour, its `start`), with the counters of SPEC §6's rows."""

    def label(point: dict[str, Any]) -> str:
        return str(point.get("start") or point["date"])

    out = [
        bar_chart(
            f"Conversions per {unit}", [(label(p), p["conversions"]) for p in series]
        )
    ]
    for currency in currencies[:3]:
        out.append(
            bar_chart(
                f"Revenue per {unit}, {currency.upper()}",
                [(label(p), p["revenue"].get(currency, 0)) for p in series],
                partial(_money_for, currency),
            )
        )
    return out


def launch_strip(query: Query) -> Chart | None:
    """Landings per minute over the last 30 minutes, every campaign together,
    while the range shown includes today."""
    if query.days is not None and query.today not in query.days:
        return None
    zone, now = runtime().settings.zone, time.time()
    points = series(runtime().store.minutes(query.mode, now), minute_starts(now, zone))
    return bar_chart(
        "Landings per minute, last 30 minutes",
        [(p["start"][11:16], p["landings"]) for p in points],
    )


def _money_for(currency: str, amount: int) -> str:
    return format_money(amount, currency)


def range_label(query: Query) -> str:
    if query.span.all_time:
        return "all time"
    if query.span.first == query.span.last:
        return f"{query.span.first}"
    return f"{query.span.first} to {query.span.last}"


# Size classes of big numbers by their length in characters (style.css).
FIT_SIZES = (("fit-s", 6), ("fit-m", 9), ("fit-l", 13))


def fit(*texts: str) -> str:
    """The size class of big numbers, by the longest: a figure never breaks
    across lines, so a long one (KWD18,300.000) is set smaller to fit its
    card (style.css scales each class with the card's width). Figures of a
    kind are given one class together, so that they read as a row."""
    n = max(map(len, texts), default=0)
    for size, longest in FIT_SIZES:
        if n <= longest:
            return size
    return "fit-xl"


def figure_fits(totals: Counters) -> tuple[str, str]:
    """The size classes of the counts and of the amounts among the figures."""
    counts = [str(totals.landings), str(totals.conversions), _rate(totals)]
    counts += [str(totals.pending), str(totals.failed)]
    amounts = [format_money(a, c) for c, a in totals.revenue.items()] or ["—"]
    return fit(*counts), fit(*amounts)


def comparison(
    query: Query, totals: Counters, by_day: dict[str, dict[str, int]]
) -> tuple[dict[str, Change] | None, str]:
    """Each big number's change against the previous period of the same
    length, and what that period was; (None, "") for all time."""
    days = query.previous.days(query.today) if query.previous else None
    if not days:
        return None, ""
    previous = totals_of_days(by_day, days)
    if len(days) == 1:
        return changes(totals, previous), f"the day before ({days[0]})"
    span = f"{days[0]} to {days[-1]}"
    return changes(totals, previous), f"the {len(days)} days before ({span})"


def today_title(by_day: dict[str, dict[str, int]], query: Query, what: str) -> str:
    """The tab's title, today's conversions first, so a pinned tab shows them."""
    count = by_day.get(query.today.isoformat(), {}).get("conversions", 0)
    noun = "conversion" if count == 1 else "conversions"
    test = " (test)" if query.mode == "test" else ""
    return f"{count} {noun} today{test} · {what} — landing"


def render_board(
    template: str, fragment: str, query: Query, **context: Any
) -> Response:
    """The whole page, or only its live part when dashboard.js asks."""
    common = {
        "query": query,
        "money": format_money,
        "rate": _rate,
        "fit": fit,
        "figure_fits": figure_fits,
        "presets": _presets(query),
        "mode_url": this_url(
            mode="live" if query.mode == "test" else "test", page=None
        ),
    }
    name = fragment if parse_flag(request.args.get("fragment")) else template
    return Response(render_template(name, **common, **context))


# Scoreboards (a range, a search, a sort) kept in this process from one
# build to the next: about what a few dashboards and wall screens watch.
BOARDS_KEPT = 8


class KeptBoards:
    """Each scoreboard's last select() in this process, patched by the next
    build: with 10,000 campaigns and a few landing at a time, a build moves
    those few in the order and the totals instead of adding up and ranking
    every campaign again (reporting.select)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: OrderedDict[tuple[str, ...], BoardKept] = OrderedDict()

    def select(
        self,
        query: Query,
        by_campaign: Mapping[str, Mapping[str, int]],
        *,
        search: str = "",
        sort: str = "",
        descending: bool = True,
        page: int = 1,
        per_page: int = PER_PAGE,
    ) -> Page:
        days = query.days
        span = f"{days[0]}..{days[-1]}" if days else "all time"
        view = (query.mode, span, search.strip().lower(), sort)
        with self._lock:  # taken out: a build of the view meanwhile starts anew
            kept = self._views.pop(view, None) or BoardKept()
        shown = select(
            by_campaign,
            search=search,
            sort=sort,
            descending=descending,
            page=page,
            per_page=per_page,
            kept=kept,
        )
        with self._lock:
            self._views[view] = kept
            while len(self._views) > BOARDS_KEPT:
                self._views.popitem(last=False)
        return shown


BOARDS = KeptBoards()


@bp.get("/dashboard")
@marketers_only
def dashboard() -> Response:
    def build(query: Query) -> Response:
        rt = runtime()
        pending = rt.store.unconfirmed(query.mode)  # read once, used thrice
        by_campaign = rt.store.scoreboard(query.mode, query.days, pending)
        desc = parse_descending(request.args.get("dir"))
        shown = BOARDS.select(
            query,
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
        by_day = rt.store.daily(query.mode, pending=pending)
        compared, against = comparison(query, shown.totals, by_day)
        abandoned = bool(shown.totals.abandoned)
        board = {
            "unconfirmed": {n: _expiry(ms) for n, ms in pending.expires.items()},
            "unconfirmed_hidden": pending.total - len(pending.expires),
            "unconfirmed_total": pending.total,
            "unconfirmed_days": rt.settings.unconfirmed_days,
            "abandoned": abandoned,
            "title": today_title(by_day, query, "Campaign scoreboard"),
            "changes": compared,
            "against": against,
            "first_run": first_run,
            "webhooks_ready": bool(rt.settings.webhook_secrets),
            "base_url": request.host_url.rstrip("/"),
            "test_url": url_for("dashboard.dashboard", mode="test"),
            "totals": shown.totals,
            "shown_totals": shown.shown_totals,
            "coverage": _coverage(shown.totals.conversions, unattributed),
            "charts": charts(by_day, query, currencies, pending=pending),
            "strip": launch_strip(query),
            "currencies": currencies,
            "columns": COLUMNS
            + ([("abandoned", "Started, not paid")] if abandoned else [])
            + [(f"revenue_{c}", f"Revenue {c.upper()}") for c in currencies],
            "rows": shown.rows,
            "matching": shown.matching,
            "q": parse_text(request.args.get("q")),
            "sort": sort,
            "desc": desc,
            "page": shown.number,
            "pages": shown.pages,
            "range_label": range_label(query),
            "sort_url": lambda key: this_url(
                sort=key, dir=_next_direction(key, sort, desc), page=None
            ),
            "page_url": lambda n: this_url(page=n),
            "campaign_url": lambda name: this_url(
                "dashboard.campaign_page",
                campaign=name,
                q=None,
                sort=None,
                dir=None,
                page=None,
            ),
            "csv_url": this_url(
                "exports.campaigns_csv", sort=None, dir=None, page=None
            ),
            "sessions_csv_url": this_url(
                "exports.sessions_csv", q=None, sort=None, dir=None, page=None
            ),
            "live_url": this_url(fragment="board"),
            "etag": f'W/"{query.etag}"',
        }
        keep = {
            k: v
            for k, v in request.args.items()
            if k in ("from", "to", "range", "mode", "sort", "dir")
        }
        return render_board(
            "dashboard.html",
            "_board.html",
            query,
            board=board,
            keep_args=keep,
            tv_url=this_url("dashboard.tv", q=None, sort=None, dir=None, page=None),
            share_campaigns=[name for name, _ in shown.rows],
        )

    return conditional(build, watched=True)


@bp.get("/dashboard/campaigns/<campaign>")
@marketers_only
def campaign_page(campaign: str) -> Response:
    def build(query: Query) -> Response:
        detail = load_campaign(campaign, query)
        totals = Counters.from_metrics(detail.totals)
        by_day = runtime().store.daily(query.mode, campaign)
        compared, against = comparison(query, totals, by_day)
        breakdowns = [
            (dim, BREAKDOWN_LABELS[dim], rows(detail.breakdown.get(dim, {})))
            for dim in BREAKDOWNS
        ]
        expires = runtime().store.expires(query.mode, campaign)
        board = {
            "title": today_title(by_day, query, campaign),
            "changes": compared,
            "against": against,
            "expires": _expiry(expires) if expires else None,
            "confirm_url": url_for(
                "dashboard.keep_campaign", campaign=campaign, mode=query.mode
            ),
            "confirm_token": _keep_token(query.mode, campaign),
            "totals": totals,
            "charts": charts(detail.daily, query, totals.currencies, campaign),
            "breakdowns": breakdowns,
            "csv_url": this_url("exports.campaign_csv"),
            "live_url": this_url(fragment="board"),
            "etag": f'W/"{query.etag}"',
        }
        back = this_url("dashboard.dashboard", campaign=None)
        return render_board(
            "campaign.html",
            "_campaign_board.html",
            query,
            campaign=campaign,
            board=board,
            back_url=back,
        )

    return conditional(build, watched=True)


@bp.post("/dashboard/campaigns/<campaign>/keep")
@marketers_only
def keep_campaign(campaign: str) -> BaseResponse:
    """Confirm a campaign by hand: its numbers become permanent (SPEC §4).

    The form carries a token only this server's pages give (SECRET_KEY), so
    another site cannot make a signed-in browser post it.
    """
    mode = parse_mode(request.args.get("mode"))
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), _keep_token(mode, campaign).encode()):
        abort(400)
    runtime().store.confirm_campaign(mode, campaign)
    return redirect(
        url_for("dashboard.campaign_page", campaign=campaign, mode=mode), code=303
    )


def _keep_token(mode: str, campaign: str) -> str:
    secret = runtime().settings.secret_key.encode()
    message = f"keep|{mode}|{campaign}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _expiry(ms: float) -> str:
    """When an unconfirmed campaign's numbers expire, in the report's zone."""
    zone = runtime().settings.zone
    return f"on {datetime.fromtimestamp(ms / 1000, zone):%Y-%m-%d %H:%M %Z}"


# A wall screen: today's numbers, big, and the top campaigns in turn.
TV_CAMPAIGNS = 8  # the leaders it cycles through
TV_BIG_CURRENCIES = 2  # revenue figures as big as the counts; the rest smaller
TV_ROTATE_SECONDS = (8, 3, 120)  # each campaign's turn: default, least, most


@bp.get("/dashboard/tv")
@marketers_only
def tv() -> Response:
    """The scoreboard for a wall screen: no controls, legible across a room.

    Today unless the URL names another range; `rotate=` seconds per campaign.
    """
    rotate = _rotate_seconds(request.args.get("rotate"))

    def build(query: Query) -> Response:
        rt = runtime()
        pending = rt.store.unconfirmed(query.mode)
        by_campaign = rt.store.scoreboard(query.mode, query.days, pending)
        shown = BOARDS.select(query, by_campaign, per_page=TV_CAMPAIGNS)
        totals, currencies, top = shown.totals, shown.currencies, shown.rows
        by_day = rt.store.daily(query.mode, pending=pending)
        board = {
            "title": today_title(by_day, query, "Wall screen"),
            "when": _when(query),
            "totals": totals,
            "currencies": currencies,
            "big": currencies[:TV_BIG_CURRENCIES],
            "small": currencies[TV_BIG_CURRENCIES:],
            "top": top,
            "charts": charts(by_day, query, [], pending=pending)[:1],
            "live_url": this_url(fragment="board"),
            "etag": f'W/"{query.etag}"',
        }
        return render_board(
            "tv.html", "_tv_board.html", query, board=board, rotate=rotate
        )

    return conditional(build, default_range="today", watched=True)


def _rotate_seconds(raw: str | None) -> int:
    default, least, most = TV_ROTATE_SECONDS
    seconds = ascii_number(raw, digits=3)
    return default if seconds is None else min(max(seconds, least), most)


def _when(query: Query) -> str:
    """What a wall screen's numbers cover, in words."""
    if query.relative == "today" or (
        query.span.first == query.span.last == query.today
    ):
        return f"Today, {query.today:%A %-d %B %Y}"
    return range_label(query).capitalize()


def _next_direction(key: str, current: str, descending: bool) -> str:
    """A click on a column sorts it its natural way first: names A-Z, numbers
    largest first; a second click reverses."""
    if key == current:
        return "asc" if descending else "desc"
    return "asc" if key == "campaign" else "desc"


def _coverage(paid: int, unattributed: int) -> float | None:
    """Share of paid sessions whose landing arrived; None with no payments."""
    return (paid - unattributed) / paid if paid else None


PRESETS = [("Today", "today"), ("7 days", "7d"), ("30 days", "30d")]


def _presets(query: Query) -> list[tuple[str, str, bool]]:
    """(label, URL, selected) for the date range buttons.

    Each names a range relative to today (`range=today`), not its dates, so
    a board left open on "Today" moves to the new day at midnight.
    """
    assert {name for _, name in PRESETS} <= RELATIVE.keys()
    out = [
        (
            label,
            this_url(None, **{"range": name, "from": None, "to": None, "page": None}),
            query.relative == name
            or (not query.relative and query.span == relative_range(name, query.today)),
        )
        for label, name in PRESETS
    ]
    everything = this_url(
        None, **{"range": None, "from": None, "to": None, "page": None}
    )
    out.append(("All time", everything, query.span.all_time))
    return out
