"""The JSON scoreboard (SPEC §6) and /healthz."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from landing.access import marketers_only
from landing.live import Query, conditional
from landing.params import parse_compare
from landing.reporting import (
    BREAKDOWNS,
    Counters,
    breakdown_rows,
    daily_series,
    previous_json,
    scoreboard_json,
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
        by_campaign = store.scoreboard(query.mode, query.days)
        body = scoreboard_json(by_campaign, query.span, query.timezone)
        body["mode"] = query.mode
        if compare:  # all time has nothing before it: null
            by_day = store.daily(query.mode)
            body["previous"] = previous_json(by_day, query.previous, query.today)
        return jsonify(body)

    return conditional(build)


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
                "breakdown": {
                    dim: breakdown_rows(detail.breakdown.get(dim, {}))
                    for dim in BREAKDOWNS
                },
                **extra,
            }
        )

    return conditional(build)


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
