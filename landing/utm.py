"""Parse and validate the redirect's query string (SPEC §4); pure, no Flask."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

# Stripe's own rule for the UTM codes it forwards to the redirect.
UTM_VALUE = re.compile(r"[A-Za-z0-9_-]{1,150}")
# A Checkout Session id: "cs_" then letters, digits and underscores, 255 at most.
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")

DIMENSIONS = ("source", "medium", "campaign", "term", "content")
NONE = "(none)"
UNATTRIBUTED = "(unattributed)"
MODES = ("live", "test")
# How long reloads of one URL by one visitor count as one landing.
VISITOR_WINDOW_SECONDS = 30 * 60


@dataclass(frozen=True)
class Landing:
    """What the redirect told us: a session id and the valid UTM codes."""

    session_id: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None

    @property
    def mode(self) -> str:
        """Test-mode sessions never touch the live scoreboard."""
        if self.session_id and self.session_id.startswith("cs_test_"):
            return "test"
        return "live"

    @property
    def campaign_name(self) -> str:
        return self.campaign or NONE

    def dimension(self, name: str) -> str:
        """The value shown in a breakdown: the code, or `(none)`."""
        value: str | None = getattr(self, name)
        return value or NONE


def parse_query(query: str | bytes) -> Landing:
    """Keep what Stripe would keep; drop everything else silently.

    Parameters may come in any order, unknown ones are ignored and a repeated
    parameter keeps its first value, valid or not (as a browser's URL API does).
    """
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    wanted = {"session_id", *(f"utm_{d}" for d in DIMENSIONS)}
    first: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        # Only six short names matter: skip anything longer before decoding.
        if len(raw_name) > 40:
            continue
        name = unquote_plus(raw_name)
        if name in wanted and name not in first:
            first[name] = unquote_plus(raw_value[:1024])
            if len(first) == len(wanted):
                break
    values: dict[str, str | None] = {}
    for dim in DIMENSIONS:
        value = first.get(f"utm_{dim}")
        values[dim] = value if value is not None and _valid_utm(value) else None
    session_id = first.get("session_id")
    if session_id is not None and not SESSION_ID.fullmatch(session_id):
        session_id = None
    return Landing(session_id=session_id, **values)


def _valid_utm(value: str) -> bool:
    return UTM_VALUE.fullmatch(value) is not None


def keyed_digest(secret: str, *parts: str) -> str:
    """A short, salted digest: lets us recognise a visitor without storing them."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part.encode("utf-8", "replace"))
        mac.update(b"\x00")
    return mac.hexdigest()[:32]


def visitor_key(secret: str, day_salt: str, address: str, agent: str, url: str) -> str:
    """Same address, browser and URL on the same salt: the same visitor.

    The salt rotates daily, so the digest cannot be linked across days; the raw
    address and user agent are never stored.
    """
    return keyed_digest(secret, "visitor", day_salt, address, agent, url)


def session_fingerprint(session_id: str) -> str:
    """What a log line may show of a session id: enough to grep, not to reuse."""
    return f"{session_id[:8]}…{session_id[-4:]}"


def landing_entry(
    landing: Landing,
    *,
    timestamp: float,
    day: str,
    secret: str,
    address: str,
    agent: str,
    url: str,
) -> dict[str, object]:
    """The journal line for one landing: only validated values and digests."""
    entry: dict[str, object] = {
        "ts": int(timestamp * 1000),
        "day": day,
        "mode": landing.mode,
        "client": keyed_digest(secret, "client", address),
    }
    if landing.session_id:
        entry["sid"] = landing.session_id
    else:
        utc_day = str(int(timestamp // 86400))
        entry["visitor"] = visitor_key(secret, utc_day, address, agent, url)
    for dim in DIMENSIONS:
        value = getattr(landing, dim)
        if value:
            entry[dim] = value
    return entry


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGEST = re.compile(r"[0-9a-f]{32}")


def valid_entry(entry: object) -> bool:
    """Whether a journal line is one we wrote; anything else is skipped."""
    if not isinstance(entry, dict):
        return False
    ts, day, mode = entry.get("ts"), entry.get("day"), entry.get("mode")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts <= 0:
        return False
    if not isinstance(day, str) or not _DAY.fullmatch(day) or mode not in MODES:
        return False
    sid, visitor, client = entry.get("sid"), entry.get("visitor"), entry.get("client")
    if sid is not None:
        if not isinstance(sid, str) or not SESSION_ID.fullmatch(sid):
            return False
        if mode != Landing(session_id=sid).mode:
            return False
    elif not isinstance(visitor, str) or not _DIGEST.fullmatch(visitor):
        return False
    if client is not None and (
        not isinstance(client, str) or not _DIGEST.fullmatch(client)
    ):
        return False
    return all(
        entry.get(d) is None or (isinstance(entry.get(d), str) and _valid_utm(entry[d]))
        for d in DIMENSIONS
    )
