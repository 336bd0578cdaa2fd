"""Stripe's minor units as people read them: exponents, major units, display (pure).

Amounts in the store are integers in Stripe's minor units (SPEC §5). How many
minor units make one major unit is Stripe's rule, not CLDR's: Babel only
formats a value this module has already computed from Stripe's exponent.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from decimal import Decimal

from babel import Locale
from babel.numbers import NumberPattern, format_currency, get_currency_precision

# Stripe's own lists, checked against https://docs.stripe.com/currencies
# (sections "Zero-decimal currencies", "Three-decimal currencies" and "Special
# cases"). Every other currency is two-decimal in Stripe's API: TWD and HUF
# too (Stripe treats them as zero-decimal for payouts only), and ISK, HUF,
# IDR, COP, LAK, LBP, MMK, ... where CLDR (and so Babel) says 0. For
# ISK see https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds
# ("ISK will remain a two-decimal currency in the Stripe API").
ZERO_DECIMAL: frozenset[str] = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
THREE_DECIMAL: frozenset[str] = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# A scoreboard shows the same few amounts build after build, and Babel takes
# some 100 us per call: keep the recent ones.
_FORMAT_CACHE_SIZE = 8192


def exponent(currency: str) -> int:
    """Digits after the point in Stripe's minor units for `currency` (any case)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units to major units, exactly, with Stripe's exponent digits."""
    # Built from the digits rather than scaleb() or division: those round to
    # the decimal context's 28 digits, and a sum of revenue must never round.
    sign, digits, _ = Decimal(amount).as_tuple()
    return Decimal((sign, digits, -exponent(currency)))


def major_text(amount: int, currency: str) -> str:
    """The plain figure for a spreadsheet: 40.00, 500, 1.250, -3.50."""
    return format(to_major(amount, currency), "f")


def _display_digits(amount: int, currency: str) -> int:
    """CLDR's digits for the currency, unless they would hide part of `amount`."""
    stripe = exponent(currency)
    cldr = get_currency_precision(currency.upper())
    if cldr >= stripe or amount % 10 ** (stripe - cldr) == 0:
        return cldr
    # HUF 1,000.50 shown as "HUF1,000" (or ISK 5.50 rounded to "ISK6") would
    # misstate the money: fall back to every digit Stripe counts.
    return stripe


@functools.lru_cache(maxsize=64)
def _pattern(locale: str, digits: int) -> NumberPattern:
    """The locale's currency pattern (symbol, grouping) with `digits` decimals."""
    standard: NumberPattern = Locale.parse(locale).currency_formats["standard"]
    # A copy: the locale's own pattern object is shared by every Babel caller.
    pattern = copy.copy(standard)
    pattern.frac_prec = (digits, digits)
    return pattern


@functools.lru_cache(maxsize=_FORMAT_CACHE_SIZE)
def format_money(amount: int, currency: str, locale: str = "en") -> str:
    """An amount as people read it: ¥500, $40.00, KWD1.250, HUF1,000."""
    code = currency.upper()
    digits = _display_digits(amount, code)
    # currency_digits=False: the digits come from the pattern chosen above, so
    # Babel can neither round away a fraction nor invent one.
    return format_currency(
        to_major(amount, code),
        code,
        format=_pattern(locale, digits),
        locale=locale,
        currency_digits=False,
    )


def rank_currencies(
    conversions_by_currency: Mapping[str, int], revenue: Mapping[str, int]
) -> list[str]:
    """Currencies in the order charts show them: most conversions first."""
    # Raw amounts are never compared across currencies: KRW 150000 (about
    # $100) would outrank USD 100000 ($1,000). Sales counts are comparable.
    counted = sorted(
        conversions_by_currency, key=lambda c: (-conversions_by_currency[c], c)
    )
    rest = sorted(set(revenue) - set(conversions_by_currency))
    return counted + rest
