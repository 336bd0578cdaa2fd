"""Stripe's minor units and how amounts are shown (SPEC §5); pure."""

from __future__ import annotations

import functools
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision


def minor_to_major(amount: int, currency: str) -> Decimal:
    """Minor units to the currency's own precision (JPY 0, USD 2, KWD 3)."""
    precision = get_currency_precision(currency.upper())
    return Decimal(amount).scaleb(-precision)


@functools.lru_cache(maxsize=4096)
def format_money(amount: int, currency: str, locale: str = "en_US") -> str:
    """An amount as people read it: ¥500, $40.00, KWD 1.250 (Babel's CLDR data).

    Kept for the amounts seen lately: Babel takes some 100 us per call, and a
    scoreboard shows the same amounts build after build.
    """
    return format_currency(
        minor_to_major(amount, currency), currency.upper(), locale=locale
    )


def plain_amount(amount: int, currency: str) -> str:
    """The decimal figure for a spreadsheet: 40.00, 500, 1.250."""
    precision = get_currency_precision(currency.upper())
    return f"{minor_to_major(amount, currency):.{precision}f}"
