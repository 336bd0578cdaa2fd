"""Parse and validate the redirect's query string (SPEC §4); pure, no Flask."""

from __future__ import annotations

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


def parse_query(query: str | bytes) -> Landing:
    """Keep what Stripe would keep; drop everything else silently.

    Parameters may come in any order, unknown ones are ignored and a repeated
    parameter keeps its first value, valid or not (as a browser's URL API does).
    """
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    first: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        # Only six short names matter: skip anything longer before decoding.
        if len(raw_name) > 40:
            continue
        name = _unquote(raw_name)
        if name in _WANTED and name not in first:
            first[name] = _unquote(raw_value[:1024])
            if len(first) == len(_WANTED):
                break
    values: dict[str, str | None] = {}
    for dim, name in _PARAMETERS:
        value = first.get(name)
        values[dim] = value if value is not None and valid_utm(value) else None
    session_id = first.get("session_id")
    if session_id is not None and not SESSION_ID.fullmatch(session_id):
        session_id = None
    return Landing(session_id=session_id, **values)


_PARAMETERS = tuple((dim, f"utm_{dim}") for dim in DIMENSIONS)
_WANTED = frozenset({"session_id", *(name for _, name in _PARAMETERS)})


def _unquote(text: str) -> str:
    """unquote_plus(), which has nothing to do without a '%' or a '+'."""
    if "%" in text or "+" in text:
        return unquote_plus(text)
    return text


def valid_utm(value: str) -> bool:
    return UTM_VALUE.fullmatch(value) is not None
