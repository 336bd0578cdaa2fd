"""Read-only share links (SPEC §3): a live board anyone with the link sees.

A link's token is random (256 bits) and shown once, when it is made; the
store keeps only its HMAC under SECRET_KEY, so neither the store nor a copy
of it opens a board. A link ends by itself (Redis TTL) or when revoked, and
an unknown, revoked or expired link all get the same 404. The shared board
shows one campaign or all, live, and nothing else: no exports, no session
data, no other campaign, no link into the signed-in pages.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for

from landing.access import marketers_only
from landing.dashboard import (
    BREAKDOWN_LABELS,
    charts,
    comparison,
    range_label,
    render_board,
    this_url,
    today_title,
)
from landing.live import Query, conditional
from landing.params import BadQuery, parse_mode
from landing.reporting import BREAKDOWNS, Counters, rows, select
from landing.runtime import runtime
from landing.utm import NONE, UNATTRIBUTED, UTM_VALUE

bp = Blueprint("shares", __name__)

TOKEN_BYTES = 32  # secrets.token_urlsafe: 43 characters, 256 bits
MAX_DAYS = 365
# A share's id, shown in the list (which never shows a token): revokes it too.
SHARE_ID = re.compile(r"[0-9a-f]{12}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
# Campaigns a shared board of all campaigns lists, in the scoreboard's order.
SHARED_ROWS = 50


# -- the rules (pure) ----------------------------------------------------------


@dataclass(frozen=True)
class ShareRequest:
    """What POST /api/shares asks for."""

    campaign: str | None  # None: every campaign
    days: int


def parse_share_request(body: object) -> ShareRequest:
    """`{"campaign": name or null, "days": 1-365}`; BadQuery says what is wrong."""
    if not isinstance(body, dict):
        raise BadQuery('send a JSON object: {"campaign": name or null, "days": 1-365}')
    campaign = body.get("campaign")
    if campaign is not None and not (
        isinstance(campaign, str)
        and (campaign in (NONE, UNATTRIBUTED) or UTM_VALUE.fullmatch(campaign))
    ):
        raise BadQuery("`campaign` must be a campaign's name, or null for all")
    days = body.get("days")
    # bool is an int in Python, and JSON's true is not a number of days.
    if isinstance(days, bool) or not isinstance(days, int):
        raise BadQuery(f"`days` must be a whole number from 1 to {MAX_DAYS}")
    if not 1 <= days <= MAX_DAYS:
        raise BadQuery(f"`days` must be from 1 to {MAX_DAYS}, got {days}")
    return ShareRequest(campaign, days)


def token_digest(secret_key: str, token: str) -> str:
    """What the store keeps of a token: its HMAC-SHA256 under SECRET_KEY."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Share:
    """A share link as the store keeps it (no token)."""

    id: str
    digest: str
    campaign: str | None
    mode: str
    created: int
    expires: int

    @classmethod
    def from_record(cls, share_id: str, record: dict[str, Any]) -> Share | None:
        """None for a record that is not whole (never trusted half-written)."""
        try:
            return cls(
                id=share_id,
                digest=str(record["digest"]),
                campaign=str(record["campaign"]) or None,
                mode=str(record["mode"]),
                created=int(record["created"]),
                expires=int(record["expires"]),
            )
        except (KeyError, ValueError):
            return None

    def record(self) -> dict[str, str]:
        return {
            "digest": self.digest,
            "campaign": self.campaign or "",
            "mode": self.mode,
            "created": str(self.created),
            "expires": str(self.expires),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "campaign": self.campaign,
            "mode": self.mode,
            "created_at": _iso(self.created),
            "expires_at": _iso(self.expires),
        }


# -- the API (Basic auth) ------------------------------------------------------


@bp.post("/api/shares")
@marketers_only
def create_share() -> tuple[Response, int, dict[str, str]]:
    """A new share link; its token and URL are shown this once."""
    mode = parse_mode(request.args.get("mode"))
    # JSON only: a cross-site form cannot send it without the browser asking
    # first, so a signed-in marketer's browser cannot be made to share.
    if not request.is_json:
        raise BadQuery("send JSON, with Content-Type: application/json")
    wanted = parse_share_request(request.get_json(silent=True))
    rt = runtime()
    if wanted.campaign is not None and not rt.store.daily(mode, wanted.campaign):
        raise BadQuery(f"unknown campaign {wanted.campaign!r} (in {mode} mode)")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = int(time.time())
    share = Share(
        id=secrets.token_hex(6),
        digest=token_digest(rt.settings.secret_key, token),
        campaign=wanted.campaign,
        mode=mode,
        created=now,
        expires=now + wanted.days * 86400,
    )
    rt.store.add_share(share.id, share.record(), share.expires)
    url = url_for("shares.shared_board", token=token, _external=True)
    body = {"token": token, "url": url, **share.as_json()}
    return jsonify(body), 201, {"Location": url}


@bp.get("/api/shares")
@marketers_only
def list_shares() -> Response:
    """Live share links, newest first; never a token."""
    records = runtime().store.shares()
    live = [
        share
        for share_id, record in records.items()
        if (share := Share.from_record(share_id, record)) is not None
    ]
    live.sort(key=lambda s: (-s.created, s.id))
    return jsonify(shares=[s.as_json() for s in live])


@bp.delete("/api/shares/<key>")
@marketers_only
def revoke_share(key: str) -> Response | tuple[Response, int]:
    """Revoke by the link's token, or by the id the list shows."""
    rt = runtime()
    share_id = digest = None
    if SHARE_ID.fullmatch(key):
        record = rt.store.shares().get(key)
        if record and "digest" in record:
            share_id, digest = key, str(record["digest"])
    elif TOKEN.fullmatch(key):
        digest = token_digest(rt.settings.secret_key, key)
        share_id = rt.store.share(digest).get("id")
    if not (share_id and digest and rt.store.revoke_share(share_id, digest)):
        return jsonify(error="no such share link"), 404
    return Response(status=204)


# -- the shared board (anyone with the link) -----------------------------------


def _share_for(token: str) -> Share:
    """The live share the token opens; the same 404 for anything else."""
    if not TOKEN.fullmatch(token):
        abort(404)
    rt = runtime()
    digest = token_digest(rt.settings.secret_key, token)
    record = rt.store.share(digest)
    share = Share.from_record(record.get("id", ""), record)
    if (
        share is None
        or not hmac.compare_digest(share.digest, digest)
        or share.expires <= time.time()  # the TTL's own moment, to the second
    ):
        abort(404)
    return share


@bp.get("/s/<token>")
def shared_board(token: str) -> Response:
    share = _share_for(token)

    def build(query: Query) -> Response:
        if share.campaign is None:
            board = _every_campaign(query)
            fragment = "_shared_board.html"
        else:
            board = _one_campaign(query, share.campaign)
            fragment = "_campaign_board.html"
        board |= {"live_url": this_url(fragment="board"), "etag": f'W/"{query.etag}"'}
        return render_board(
            "shared.html",
            fragment,
            query,
            board=board,
            share=share,
            fragment_name=fragment,
        )

    response = conditional(build, mode=share.mode)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _every_campaign(query: Query) -> dict[str, Any]:
    store = runtime().store
    pending = store.unconfirmed(query.mode)
    by_campaign = store.scoreboard(query.mode, query.days, pending)
    shown = select(by_campaign, per_page=SHARED_ROWS)
    by_day = store.daily(query.mode, pending=pending)
    compared, against = comparison(query, shown.totals, by_day)
    return {
        "title": today_title(by_day, query, "Live scoreboard"),
        "changes": compared,
        "against": against,
        "totals": shown.totals,
        "charts": charts(by_day, query, shown.currencies),
        "currencies": shown.currencies,
        "rows": shown.rows,
        "more": shown.matching - len(shown.rows),
        "range_label": range_label(query),
    }


def _one_campaign(query: Query, campaign: str) -> dict[str, Any]:
    store = runtime().store
    detail = store.campaign(query.mode, campaign, query.days)
    totals = Counters.from_metrics(detail.totals)
    by_day = store.daily(query.mode, campaign)
    compared, against = comparison(query, totals, by_day)
    return {
        "title": today_title(by_day, query, campaign),
        "changes": compared,
        "against": against,
        "totals": totals,
        "charts": charts(detail.daily, query, totals.currencies),
        "breakdowns": [
            (dim, BREAKDOWN_LABELS[dim], rows(detail.breakdown.get(dim, {})))
            for dim in BREAKDOWNS
        ],
        "csv_url": None,  # no exports on a shared board
    }
