"""The scoreboard: /dashboard, the JSON and CSV API, and /healthz."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from landing import runtime
from landing.access import marketers_only
from landing.chart import Chart, bar_chart
from landing.scoreboard import (
    BREAKDOWNS,
    SORTABLE,
    BadQuery,
    Counters,
    Range,
    breakdown_rows,
    csv_cell,
    daily_series,
    format_money,
    parse_mode,
    parse_range,
    plain_amount,
    rows,
    scoreboard_json,
    select,
    today_in,
)
from landing.store import Build, CampaignDetail, StoreError
from landing.utm import NONE, UNATTRIBUTED, UTM_VALUE

bp = Blueprint("dashboard", __name__)
log = logging.getLogger(__name__)


# -- query parameters -------------------------------------------------------------


class Query:
    """The mode and date range a request asks for."""

    def __init__(self) -> None:
        settings = runtime().settings
        self.timezone = settings.report_timezone
        self.today = today_in(settings.zone)
        self.mode = parse_mode(request.args.get("mode"))
        self.span = parse_range(
            request.args.get("from"), request.args.get("to"), self.today
        )
        self.days = self.span.days(self.today)
        self.etag = ""  # set by _conditional before a build


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(StoreError)
def store_unavailable(exc: StoreError) -> tuple[Response, int]:
    log.error("store unavailable: %s", type(exc).__name__)
    return jsonify(error="the store is unavailable; try again shortly"), 503


# A poll may be answered from a build of older numbers for this long; it is
# also the least time between two builds of one view, across every server
# process and instance. dashboard.js's poll interval plus this plus the
# journal's batch window stays under the 2 s SPEC §4 promises.
LIVE_MAX_AGE_MS = 750
# A shared build is dropped this long after its last rebuild; a view polled
# that long without a change is then built again, once.
LIVE_KEEP_SECONDS = 300


def _conditional(build: Callable[[Query], Response]) -> Response:
    """Answer 304 when nothing changed since the client's copy (cheap polling).

    The ETag changes with any number of the mode, the question or the date;
    the page and its live part (fragment=board) share one, so the first poll
    after a page load is already a 304.
    """
    query = Query()
    # The view: what its pages show depends on, and nothing else, so that
    # made-up arguments do not make more builds to keep.
    args = sorted(f"{k}={v[:150]}" for k, v in request.args.items() if k in PAGE_ARGS)
    view = f"{request.host_url}{request.path[1:]}?{'&'.join(args)}|{query.today}"
    digest = hashlib.sha256(view.encode()).hexdigest()[:16]
    if request.args.get("fragment"):
        return _poll(build, query, digest)
    # A page load and the API always show the store as it is (SPEC §5).
    version = runtime().store.version(query.mode)
    query.etag = etag = f"{version}-{digest}"
    if request.if_none_match.contains_weak(etag):
        return _not_modified(etag)
    return _with_etag(build(query), etag)


def _poll(build: Callable[[Query], Response], query: Query, digest: str) -> Response:
    """A dashboard's live part, rebuilt at most once per LIVE_MAX_AGE_MS.

    Every server process answers polls of one view from the build kept in
    the store: a dozen dashboards cost one build per change, and under
    steady traffic (a change every moment) one per LIVE_MAX_AGE_MS, however
    many workers and instances serve them. Whoever claims the rebuild makes
    it; the others answer with the last build meanwhile. (When there is no
    build at all, as on a view's first poll, every poller then builds; and
    a build slower than the claim may be kept after a newer one, which the
    next rebuild corrects and the no-going-back rule hides meanwhile.)
    """
    store = runtime().store
    version, shared = store.live_view(query.mode, digest)
    if shared is None or (shared.version != version and _claim(query.mode, digest)):
        query.etag = etag = f"{version}-{digest}"
        response = build(query)
        if response.status_code != 200 or response.is_streamed:
            return _with_etag(response, etag)
        shared = Build(
            version, etag, response.content_type, response.get_data(as_text=True)
        )
        try:
            store.keep_view(query.mode, digest, shared, LIVE_KEEP_SECONDS)
        except StoreError as exc:  # e.g. the store is full: answer anyway
            log.warning("live view not shared: %s", type(exc).__name__)
    if request.if_none_match.contains_weak(shared.etag):
        return _not_modified(shared.etag)
    # A client whose page load saw newer numbers than the last build keeps
    # them, rather than going back until the next build (unless the store
    # was emptied since: then its version is behind the client's).
    for tag in request.if_none_match.as_set(include_weak=True):
        held, _, held_digest = tag.partition("-")
        if (
            held_digest == digest
            and held.isascii()
            and held.isdigit()
            and len(held) < 19
            and shared.version < int(held) <= version
        ):
            return _not_modified(tag)
    response = Response(shared.body, content_type=shared.content_type)
    return _with_etag(response, shared.etag)


def _claim(mode: str, digest: str) -> bool:
    """Whether this caller rebuilds the view; if the store cannot say, the
    last build will do for this poll."""
    try:
        return runtime().store.claim_view(mode, digest, LIVE_MAX_AGE_MS)
    except StoreError as exc:
        log.warning("live view rebuild not claimed: %s", type(exc).__name__)
        return False


def _with_etag(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _not_modified(etag: str) -> Response:
    return _with_etag(Response(status=304), etag)


# -- JSON -------------------------------------------------------------------------


@bp.get("/api/campaigns")
@marketers_only
def api_campaigns() -> Response:
    def build(query: Query) -> Response:
        by_campaign = runtime().store.scoreboard(query.mode, query.days)
        body = scoreboard_json(by_campaign, query.span, query.timezone)
        body["mode"] = query.mode
        return jsonify(body)

    return _conditional(build)


@bp.get("/api/campaigns/<campaign>")
@marketers_only
def api_campaign(campaign: str) -> Response:
    def build(query: Query) -> Response:
        detail = _load_campaign(campaign, query)
        return jsonify(
            {
                "campaign": campaign,
                "mode": query.mode,
                "from": query.span.first.isoformat() if query.span.first else None,
                "to": query.span.last.isoformat() if query.span.last else None,
                "timezone": query.timezone,
                "totals": Counters.from_metrics(detail.totals).as_json(),
                "daily": daily_series(detail.daily, query.days),
                "breakdown": {
                    dim: breakdown_rows(detail.breakdown.get(dim, {}))
                    for dim in BREAKDOWNS
                },
            }
        )

    return _conditional(build)


def _load_campaign(campaign: str, query: Query) -> CampaignDetail:
    """The campaign's numbers in the range; 404 when it never had any."""
    if campaign not in (NONE, UNATTRIBUTED) and not UTM_VALUE.fullmatch(campaign):
        abort(404)
    store = runtime().store
    detail = store.campaign(query.mode, campaign, query.days)
    if not detail.daily and (
        query.days is None or not store.daily(query.mode, campaign)
    ):
        abort(404)
    return detail


# -- CSV ----------------------------------------------------------------------------


def _csv_lines(header: list[str], body: Iterable[list[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in body:
        writer.writerow([csv_cell(v) for v in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _filename(kind: str, query: Query) -> str:
    span = "all-time"
    if query.span.first and query.span.last:
        span = f"{query.span.first}_{query.span.last}"
    return f"{kind}-{query.mode}-{span}.csv"


def _csv_response(lines: Iterator[str], name: str) -> Response:
    return Response(
        lines,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/api/campaigns.csv")
@marketers_only
def campaigns_csv() -> Response:
    """The scoreboard as a spreadsheet; revenue in major units per currency."""
    query = Query()
    needle = request.args.get("q", "")[:150].strip().lower()
    ranked = [
        (name, c)
        for name, c in rows(runtime().store.scoreboard(query.mode, query.days))
        if needle in name.lower()
    ]
    currencies = sorted({cur for _, c in ranked for cur in c.revenue})
    header = ["campaign", "landings", "conversions", "pending", "failed"]
    header += [f"revenue_{cur}" for cur in currencies]

    def body() -> Iterator[list[object]]:
        for name, c in ranked:
            yield [name, c.landings, c.conversions, c.pending, c.failed] + [
                plain_amount(c.revenue.get(cur, 0), cur) for cur in currencies
            ]

    return _csv_response(_csv_lines(header, body()), _filename("campaigns", query))


@bp.get("/api/campaigns/<campaign>.csv")
@marketers_only
def campaign_csv(campaign: str) -> Response:
    """A campaign's breakdowns as a spreadsheet, one row per value."""
    query = Query()
    detail = _load_campaign(campaign, query)
    by_dim = {dim: rows(detail.breakdown.get(dim, {})) for dim in BREAKDOWNS}
    currencies = sorted(
        {cur for ranked in by_dim.values() for _, c in ranked for cur in c.revenue}
    )
    header = ["breakdown", "value", "landings", "conversions", "pending", "failed"]
    header += [f"revenue_{cur}" for cur in currencies]

    def body() -> Iterator[list[object]]:
        for dim, ranked in by_dim.items():
            for value, c in ranked:
                yield [dim, value, c.landings, c.conversions, c.pending, c.failed] + [
                    plain_amount(c.revenue.get(cur, 0), cur) for cur in currencies
                ]

    name = _filename(f"campaign-{campaign}", query)
    return _csv_response(_csv_lines(header, body()), name)


SESSION_COLUMNS = [
    "session_id",
    "client_reference_id",
    "status",
    "amount_total",
    "currency",
    "campaign",
    "source",
    "medium",
    "content",
    "term",
    "payment_link",
    "landed_at",
    "paid_at",
]


@bp.get("/api/sessions.csv")
@marketers_only
def sessions_csv() -> Response:
    """One row per checkout session first seen in the range, streamed."""
    query = Query()
    zone = runtime().settings.zone
    start_ms, end_ms = _range_ms(query)
    store = runtime().store
    # Fail before the first byte if the store is away: a 503, not a torn file.
    store.ping()

    def body() -> Iterator[list[object]]:
        for sid, s in store.sessions(query.mode, start_ms, end_ms):
            yield [
                sid,
                s.get("client_reference_id", ""),
                s.get("status", "landed"),
                s.get("amount_total", ""),
                s.get("currency", ""),
                s.get("campaign", UNATTRIBUTED),
                s.get("source", ""),
                s.get("medium", ""),
                s.get("content", ""),
                s.get("term", ""),
                s.get("payment_link", ""),
                _iso(s.get("landed_at"), zone),
                _iso(s.get("paid_at"), zone),
            ]

    return _csv_response(
        stream_with_context(_csv_lines(SESSION_COLUMNS, body())),
        _filename("sessions", query),
    )


def _range_ms(query: Query) -> tuple[float, float]:
    """The range's first and after-last midnight in the report's zone, in ms."""
    if query.days is None:
        return float("-inf"), float("inf")
    zone = runtime().settings.zone
    first = datetime.combine(query.days[0], time.min, zone)
    after = datetime.combine(query.days[-1] + timedelta(1), time.min, zone)
    return first.timestamp() * 1000, after.timestamp() * 1000


def _iso(ms: str | None, zone: Any) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, zone).isoformat(timespec="seconds")


# -- HTML ---------------------------------------------------------------------------

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


# The query arguments the dashboard's pages understand; links keep only these.
PAGE_ARGS = ("from", "to", "mode", "q", "sort", "dir", "page")


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
    name = fragment if request.args.get("fragment") else template
    return Response(render_template(name, **common, **context))


@bp.get("/dashboard")
@marketers_only
def dashboard() -> Response:
    def build(query: Query) -> Response:
        rt = runtime()
        by_campaign = rt.store.scoreboard(query.mode, query.days)
        desc = request.args.get("dir", "desc") != "asc"
        shown = select(
            by_campaign,
            search=request.args.get("q", "")[:150],
            sort=request.args.get("sort", ""),
            descending=desc,
            page=_int_arg("page", 1),
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
            "q": request.args.get("q", "")[:150],
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
            "csv_url": _url("dashboard.campaigns_csv", sort=None, dir=None, page=None),
            "sessions_csv_url": _url(
                "dashboard.sessions_csv", q=None, sort=None, dir=None, page=None
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

    return _conditional(build)


@bp.get("/dashboard/campaigns/<campaign>")
@marketers_only
def campaign_page(campaign: str) -> Response:
    def build(query: Query) -> Response:
        detail = _load_campaign(campaign, query)
        totals = Counters.from_metrics(detail.totals)
        breakdowns = [
            (dim, BREAKDOWN_LABELS[dim], rows(detail.breakdown.get(dim, {})))
            for dim in BREAKDOWNS
        ]
        board = {
            "totals": totals,
            "charts": _charts(detail.daily, query, list(totals.revenue)),
            "breakdowns": breakdowns,
            "csv_url": _url("dashboard.campaign_csv"),
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

    return _conditional(build)


def _next_direction(key: str, current: str, descending: bool) -> str:
    """A click on a column sorts it its natural way first: names A-Z, numbers
    largest first; a second click reverses."""
    if key == current:
        return "asc" if descending else "desc"
    return "asc" if key == "campaign" else "desc"


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 9 else default


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


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        runtime().store.ping()
    except StoreError as exc:
        return jsonify(status="store unavailable", error=type(exc).__name__), 503
    return jsonify(status="ok"), 200
