"""The JSON scoreboard (SPEC §6) and /healthz."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from landing.access import marketers_only
from landing.live import Query, conditional
from landing.params import BadQuery, parse_compare, parse_interval
from landing.period import MAX_HOURLY_DAYS, day_starts, hour_starts, minute_starts
from landing.reporting import (
    BREAKDOWNS,
    Counters,
    breakdown_rows,
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
        body = scoreboard_json(by_campaign, query.span, query.timezone)
        body["mode"] = query.mode
        if compare:  # all time has nothing before it: null
            by_day = store.daily(query.mode, pending=pending)
            body["previous"] = previous_json(by_day, query.previous, query.today)
        if request.args.get("interval"):
            body["series"] = series_of(query, None)
        return jsonify(body)

    return conditional(build, shared=_shareable(), watched=True)


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

    return conditional(build, shared=_shareable(), watched=True)


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
