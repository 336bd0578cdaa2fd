"""CSV exports: the scoreboard, a campaign, and sessions for finance."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from landing.access import marketers_only
from landing.api import load_campaign
from landing.live import Query
from landing.money import major_text
from landing.params import parse_text
from landing.reporting import BREAKDOWNS, COUNTERS, Counters, rows
from landing.runtime import runtime
from landing.utm import UNATTRIBUTED

bp = Blueprint("exports", __name__)

CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if isinstance(value, str) and text.startswith(CSV_FORMULA_START):
        return "'" + text
    return text


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


class CounterColumns:
    """The counter columns of a CSV: the counts, then per currency in the rows
    revenue, refunded and net revenue, in major units from Stripe's exponent."""

    def __init__(self, shown: Iterable[Counters]) -> None:
        self.currencies = sorted({cur for c in shown for cur in c.net_revenue})
        self.header = list(COUNTERS)
        for cur in self.currencies:
            self.header += [f"revenue_{cur}", f"refunded_{cur}", f"net_{cur}"]

    def cells(self, c: Counters) -> list[object]:
        cells: list[object] = [getattr(c, name) for name in COUNTERS]
        net = c.net_revenue
        for cur in self.currencies:
            cells += [
                major_text(c.revenue.get(cur, 0), cur),
                major_text(c.refunded.get(cur, 0), cur),
                major_text(net.get(cur, 0), cur),
            ]
        return cells


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
    needle = parse_text(request.args.get("q")).strip().lower()
    ranked = [
        (name, c)
        for name, c in rows(runtime().store.scoreboard(query.mode, query.days))
        if needle in name.lower()
    ]
    columns = CounterColumns([c for _, c in ranked])
    header = ["campaign", *columns.header]

    def body() -> Iterator[list[object]]:
        for name, c in ranked:
            yield [name, *columns.cells(c)]

    return _csv_response(_csv_lines(header, body()), _filename("campaigns", query))


@bp.get("/api/campaigns/<campaign>.csv")
@marketers_only
def campaign_csv(campaign: str) -> Response:
    """A campaign's breakdowns as a spreadsheet, one row per value."""
    query = Query()
    detail = load_campaign(campaign, query)
    by_dim = {dim: rows(detail.breakdown.get(dim, {})) for dim in BREAKDOWNS}
    columns = CounterColumns([c for ranked in by_dim.values() for _, c in ranked])
    header = ["breakdown", "value", *columns.header]

    def body() -> Iterator[list[object]]:
        for dim, ranked in by_dim.items():
            for value, c in ranked:
                yield [dim, value, *columns.cells(c)]

    name = _filename(f"campaign-{campaign}", query)
    return _csv_response(_csv_lines(header, body()), name)


SESSION_COLUMNS = [
    "session_id",
    "client_reference_id",
    "status",
    "amount_total",
    "amount_refunded",
    "currency",
    "campaign",
    "source",
    "medium",
    "content",
    "term",
    "payment_link",
    "subscription",
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
            # The landing's codes, else its link token's (SPEC §9).
            codes = "" if "campaign" in s else "token_"
            status = s.get("status") or ("abandoned" if "abandoned" in s else "landed")
            yield [
                sid,
                s.get("client_reference_id", ""),
                status,
                s.get("amount_total", ""),
                s.get("refunded", "0" if "amount_total" in s else ""),
                s.get("currency", ""),
                s.get(codes + "campaign", UNATTRIBUTED),
                *(
                    s.get(codes + dim, "")
                    for dim in ("source", "medium", "content", "term")
                ),
                s.get("payment_link", ""),
                s.get("subscription", ""),
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
