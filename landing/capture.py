"""The journal record of a landing, and the sink that counts it in the store.

The write side of the product: thanks.py makes a record per landing, the
journal keeps it, and the sink sends batches of them to the store.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo

from landing.period import day_of
from landing.store import Store
from landing.utm import DIMENSIONS, MODES, SESSION_ID, Landing, valid_utm

log = logging.getLogger(__name__)


# The visitor digest's salt changes every UTC day, so digests cannot be
# linked across days; a reload within the window after a change still
# matches the digest under the previous salt (SPEC §4: 30 minutes whatever
# the clock says).
SALT_PERIOD = 86400
RELOAD_WINDOW = 30 * 60


def keyed_digest(secret: str, *parts: str) -> str:
    """A short, salted digest: lets us recognise a visitor without storing them."""
    mac = _keyed(secret).copy()
    mac.update("".join(part + "\x00" for part in parts).encode("utf-8", "replace"))
    return mac.hexdigest()[:32]


@lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    """HMAC-SHA256 keyed once: each digest copies it, as keying is most of
    what a short HMAC costs (OpenSSL 3 looks the algorithm up every time).
    Not hmac.digest(): its one-shot releases the GIL, and a request thread
    that lets go of it waits behind the others to get it back."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def visitor_key(secret: str, day_salt: str, address: str, agent: str, url: str) -> str:
    """Same address, browser and URL on the same salt: the same visitor.

    The raw address and user agent are never stored, only this digest.
    """
    return keyed_digest(secret, "visitor", day_salt, address, agent, url)


def visitor_keys(
    secret: str, timestamp: float, address: str, agent: str, url: str
) -> tuple[str, str | None]:
    """The visitor's digest under the current salt and, for the first
    RELOAD_WINDOW seconds of a salt period, under the previous one too."""
    period = int(timestamp // SALT_PERIOD)
    current = visitor_key(secret, str(period), address, agent, url)
    if timestamp - period * SALT_PERIOD >= RELOAD_WINDOW:
        return current, None
    return current, visitor_key(secret, str(period - 1), address, agent, url)


_today: dict[str, tuple[int, str]] = {}  # zone -> (minute, its report day)


def report_day(timestamp: float, zone: ZoneInfo) -> str:
    """The report day of a moment (ISO), worked out once a minute per zone.

    Every zone's offset is a whole number of minutes, so a minute never
    straddles a midnight.
    """
    minute = int(timestamp // 60)
    cached = _today.get(zone.key)
    if cached is None or cached[0] != minute:
        cached = _today[zone.key] = (minute, day_of(timestamp, zone).isoformat())
    return cached[1]


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
        visitor, previous = visitor_keys(secret, timestamp, address, agent, url)
        entry["visitor"] = visitor
        if previous is not None:
            entry["visitor_prev"] = previous
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
    for digest in (client, entry.get("visitor_prev")):
        if digest is not None and (
            not isinstance(digest, str) or not _DIGEST.fullmatch(digest)
        ):
            return False
    return all(
        entry.get(d) is None or (isinstance(entry.get(d), str) and valid_utm(entry[d]))
        for d in DIMENSIONS
    )


def sink(store: Store, rate_limit: int) -> Callable[[list[str]], None]:
    """What the journal's flusher calls with each batch of records."""

    def send(entries: list[str]) -> None:
        results = store.record_landings(entries, rate_limit)
        limited = results.count("limited")
        if limited:
            log.warning(
                "%d landing(s) not counted: over LANDING_RATE_LIMIT=%d per minute "
                "from one address",
                limited,
                rate_limit,
            )

    return send
