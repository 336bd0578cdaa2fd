"""Query parameters of the dashboard and API routes (SPEC §6, §7); pure.

Every parameter a route reads goes through these few functions, which accept
what they name and nothing else, so any other input is a 400, never a 500.
"""

from __future__ import annotations

from landing.utm import MODES


class BadQuery(ValueError):
    """A query parameter the API cannot answer; the message says why."""


def parse_mode(raw: str | None) -> str:
    if raw is None or raw == "":
        return "live"
    if raw not in MODES:
        raise BadQuery("`mode` must be live or test")
    return raw


def parse_page(raw: str | None) -> int:
    """A page number: ASCII digits only (``str.isdigit`` also takes "²"),
    anything else is the first page."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) < 9:
        return max(1, int(raw))
    return 1


INTERVALS = ("day", "hour", "minute")


def parse_interval(raw: str | None) -> str:
    """The grain of a series: day (the default), hour or minute."""
    if raw is None or raw == "":
        return "day"
    if raw not in INTERVALS:
        raise BadQuery("`interval` must be day, hour or minute")
    return raw


def parse_compare(raw: str | None) -> bool:
    """`compare=previous` asks for the previous period too; nothing else is
    a comparison we know."""
    if raw is None or raw == "":
        return False
    if raw != "previous":
        raise BadQuery("`compare` must be previous")
    return True
