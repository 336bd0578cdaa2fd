"""The JSON scoreboard (SPEC §6) and /healthz."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from landing.access import marketers_only
from landing.live import Query, conditional
from landing.params import BadQuery, parse_compare, parse_interval
from landing.period import MAX_HOURLY_DAYS, day_starts, hour_starts, minute_starts
from landing.reporting import (
    BREAKDOWNS,
    Counters,
    RowsKept,
    breakdown_rows,
    campaigns_json,
    daily_series,
    previous_json,
    scoreboard_json,
    series,
)
from landing.runtime import runtime
from landing.store import CampaignDetail, StoreError
from landing.utm import NONE, UNATTRIBUTED, UTM_VALUE

bp = Blueprint("api", __name__)


@bp.get("/api/campaigns")
@marketers_only
def api_campaigns() -> Response:
    compare = parse_compare(request.args.get("compare"))

    def build(query: Query) -> Response:
        store = runtime().store
        pending = store.unconfirmed(query.mode)
        by_campaign = store.scoreboard(query.mode, query.days, pending)
        days = query.days
        view = (query.mode, f"{days[0]}..{days[-1]}" if days else "all time")
        rows, totals = ROWS.encoded(view, by_campaign)
        body = scoreboard_json({}, query.span, query.timezone)
        body["campaigns"], body["totals"] = ROWS_HERE, totals
        body["mode"] = query.mode
        if compare:  # all time has nothing before it: null
            by_day = store.daily(query.mode, pending=pending)
            body["previous"] = previous_json(by_day, query.previous, query.today)
        if request.args.get("interval"):
            body["series"] = series_of(query, None)
        response = jsonify(body)
        text = response.get_data(as_text=True)
        response.set_data(text.replace(current_app.json.dumps(ROWS_HERE), rows, 1))
        return response

    return conditional(build, shared=_shareable())


# Where the encoded rows go in the scoreboard's JSON: no other value of it
# can hold a NUL.
ROWS_HERE = "\0campaigns\0"
# A view's rows kept in this process from one build to the next.
VIEWS_KEPT = 4


class KeptRows:
    """The rows of each view's last /api/campaigns build in this process,
    and their JSON text: a campaign whose counters did not change since (the
    store gives the same metrics object again) costs no work but adding its
    numbers to the totals. With 10,000 campaigns and a few landing at a
    time, that is most of a build."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: OrderedDict[
            tuple[str, str], tuple[RowsKept, dict[int, tuple[dict[str, Any], str]]]
        ] = OrderedDict()

    def encoded(
        self, view: tuple[str, str], by_campaign: Mapping[str, Mapping[str, int]]
    ) -> tuple[str, dict[str, Any]]:
        """The ranked rows as a JSON array, and their totals."""
        with self._lock:  # taken out: a build of the view meanwhile starts anew
            kept, texts = self._views.pop(view, (RowsKept(), {}))
        rows, totals = campaigns_json(by_campaign, kept)
        dumps = current_app.json.dumps
        now: dict[int, tuple[dict[str, Any], str]] = {}
        parts = []
        for row in rows:
            entry = texts.get(id(row))
            if entry is None or entry[0] is not row:
                entry = (row, dumps(row, separators=(",", ":")))
            now[id(row)] = entry
            parts.append(entry[1])
        with self._lock:
            self._views[view] = (kept, now)
            while len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        return f"[{','.join(parts)}]", totals


ROWS = KeptRows()


def series_of(query: Query, campaign: str | None) -> list[dict[str, Any]]:
    """The `interval` series of a campaign, or of all (SPEC §6): every hour
    of a range up to MAX_HOURLY_DAYS, every day, or the last 30 minutes."""
    interval = parse_interval(request.args.get("interval"))
    store, zone = runtime().store, runtime().settings.zone
    if interval == "minute":
        if campaign is not None:
            raise BadQuery("`interval=minute` is for all campaigns together")
        now = time.time()
        return series(store.minutes(query.mode, now), minute_starts(now, zone))
    days = query.days
    if days is None:
        if interval == "hour":
            raise BadQuery(
                f"`interval=hour` needs a range (`from`, `to`) of at most "
                f"{MAX_HOURLY_DAYS} days"
            )
        by_day = store.daily(query.mode, campaign)
        if not by_day:
            return []
        first = date.fromisoformat(min(by_day))
        days = [first + timedelta(n) for n in range((query.today - first).days + 1)]
    if interval == "hour":
        if len(days) > MAX_HOURLY_DAYS:
            raise BadQuery(f"`interval=hour` spans at most {MAX_HOURLY_DAYS} days")
        return series(store.hourly(query.mode, days, campaign), hour_starts(days, zone))
    by_day = store.daily(query.mode, campaign)
    starts = day_starts(days, zone)
    by_start = {
        str(int(start.timestamp())): by_day.get(day.isoformat(), {})
        for day, start in zip(days, starts, strict=True)
    }
    return series(by_start, starts)


@bp.get("/api/campaigns/<campaign>")
@marketers_only
def api_campaign(campaign: str) -> Response:
    compare = parse_compare(request.args.get("compare"))

    def build(query: Query) -> Response:
        detail = load_campaign(campaign, query)
        extra = {}
        if compare:
            by_day = runtime().store.daily(query.mode, campaign)
            extra["previous"] = previous_json(by_day, query.previous, query.today)
        return jsonify(
            {
                "campaign": campaign,
                "mode": query.mode,
                "from": query.span.first.isoformat() if query.span.first else None,
                "to": query.span.last.isoformat() if query.span.last else None,
                "timezone": query.timezone,
                "totals": Counters.from_metrics(detail.totals).as_json(),
                "daily": daily_series(detail.daily, query.days),
                **(
                    {"series": series_of(query, campaign)}
                    if request.args.get("interval")
                    else {}
                ),
                "breakdown": {
                    dim: breakdown_rows(detail.breakdown.get(dim, {}))
                    for dim in BREAKDOWNS
                },
                **extra,
            }
        )

    return conditional(build, shared=_shareable())


def _shareable() -> bool:
    """Whether an answer may be kept and given again while no number changes:
    not the last 30 minutes' series, which moves with the clock."""
    return request.args.get("interval") != "minute"


def load_campaign(campaign: str, query: Query) -> CampaignDetail:
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


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        runtime().store.ping()
    except StoreError as exc:
        return jsonify(status="store unavailable", error=type(exc).__name__), 503
    return jsonify(status="ok"), 200
