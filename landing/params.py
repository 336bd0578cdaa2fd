"""Query parameters of the dashboard and API routes (SPEC §6, §7); pure.

Every parameter a route reads goes through these few functions, which accept
what they name and nothing else, so any other input is a 400 or is ignored,
never a 500. Numbers are ASCII digits only: `str.isdigit` also takes "²" and
Arabic-Indic digits, and `int()` then raises or reads a digit nobody typed.
"""

from __future__ import annotations

import re
from datetime import date

from landing.utm import MODES


class BadQuery(ValueError):
    """A query parameter the API cannot answer; the message says why."""


# Longest search or sort text kept: longer is never a campaign or a column.
MAX_TEXT = 150
# YYYY-MM-DD in ASCII digits; date.fromisoformat alone also takes "20260101"
# and ISO weeks ("2026-W01-1").
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INTERVALS = ("day", "hour", "minute")


def ascii_number(raw: str | None, *, digits: int = 8) -> int | None:
    """A whole number of at most `digits` ASCII digits, else None."""
    if raw and len(raw) <= digits and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def parse_mode(raw: str | None) -> str:
    if raw is None or raw == "":
        return "live"
    if raw not in MODES:
        raise BadQuery("`mode` must be live or test")
    return raw


def parse_day(name: str, raw: str | None) -> date | None:
    """`from` or `to`: a day as YYYY-MM-DD between 1970 and 9998, or absent."""
    if raw is None or raw == "":
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadQuery(f"`{name}` must be a date as YYYY-MM-DD") from None
    if not 1970 <= day.year <= 9998:  # before Stripe, or past date arithmetic
        raise BadQuery(f"`{name}` must be between 1970-01-01 and 9998-12-31")
    return day


def parse_page(raw: str | None) -> int:
    """A page number; anything that is not one is the first page."""
    return max(1, ascii_number(raw) or 1)


def parse_text(raw: str | None) -> str:
    """A search (`q`) or a column name (`sort`): any text, cut to MAX_TEXT;
    what matches nothing simply finds nothing."""
    return (raw or "")[:MAX_TEXT]


def parse_descending(raw: str | None) -> bool:
    """`dir`: asc, or else the natural largest-first."""
    return raw != "asc"


def parse_flag(raw: str | None) -> bool:
    """A parameter that matters only by being there, like `fragment`."""
    return bool(raw)


def parse_interval(raw: str | None) -> str:
    """`interval`: day (the default), hour or minute."""
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
