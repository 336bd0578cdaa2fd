"""Stripe's minor units read, exported and shown as the customer paid them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.numbers import get_currency_precision
from hypothesis import given
from hypothesis import strategies as st

from landing.money import (
    THREE_DECIMAL,
    ZERO_DECIMAL,
    exponent,
    format_money,
    major_text,
    rank_currencies,
    to_major,
)

# https://docs.stripe.com/currencies, written out again so that a slip in the
# module's lists shows here.
STRIPE_ZERO = (
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
)  # fmt: skip
STRIPE_THREE = ("BHD", "JOD", "KWD", "OMR", "TND")
# Two-decimal in Stripe's API although CLDR (Babel) gives most of them fewer.
STRIPE_TWO_SPECIAL = (
    "ISK", "HUF", "TWD", "IDR", "COP", "AFN", "ALL",
    "LAK", "LBP", "MMK", "SOS", "STD", "YER",
)  # fmt: skip
ALL_KINDS = (*STRIPE_ZERO, *STRIPE_THREE, *STRIPE_TWO_SPECIAL, "USD", "EUR", "XYZ")


def test_lists_are_stripes_exactly() -> None:
    assert frozenset(STRIPE_ZERO) == ZERO_DECIMAL
    assert frozenset(STRIPE_THREE) == THREE_DECIMAL


@pytest.mark.parametrize("code", STRIPE_ZERO)
def test_zero_decimal(code: str) -> None:
    for spelled in (code, code.lower()):
        assert exponent(spelled) == 0
        assert str(to_major(500, spelled)) == "500"
        assert major_text(1500, spelled) == "1500"


@pytest.mark.parametrize("code", STRIPE_THREE)
def test_three_decimal(code: str) -> None:
    for spelled in (code, code.lower()):
        assert exponent(spelled) == 3
        assert str(to_major(1250, spelled)) == "1.250"
        assert major_text(-5, spelled) == "-0.005"


@pytest.mark.parametrize("code", [*STRIPE_TWO_SPECIAL, "USD", "EUR", "XYZ"])
def test_two_decimal_whatever_cldr_says(code: str) -> None:
    for spelled in (code, code.lower()):
        assert exponent(spelled) == 2
        assert str(to_major(100000, spelled)) == "1000.00"
        assert major_text(500, spelled) == "5.00"


@pytest.mark.parametrize("code", ["ISK", "HUF", "IDR", "COP", "LAK", "YER"])
def test_cldr_disagrees_with_stripe_here(code: str) -> None:
    # Why the exponent cannot come from Babel: ISK 500 would read as 500 kr.
    assert get_currency_precision(code) == 0
    assert exponent(code) == 2


@pytest.mark.parametrize(
    ("currency", "amount", "major"),
    [
        ("huf", 100000, "1000.00"),
        ("isk", 500, "5.00"),
        ("jpy", 500, "500"),
        ("kwd", 1250, "1.250"),
        ("usd", 4000, "40.00"),
        ("usd", 5, "0.05"),
        ("usd", 0, "0.00"),
        ("jpy", 0, "0"),
        ("kwd", 0, "0.000"),
        ("usd", -350, "-3.50"),
        ("jpy", -500, "-500"),
        ("kwd", -1, "-0.001"),
        ("usd", 10**30 + 1, "10000000000000000000000000000.01"),
    ],
)
def test_to_major_and_major_text(currency: str, amount: int, major: str) -> None:
    value = to_major(amount, currency)
    assert value == Decimal(major)
    # Equal Decimals can differ in digits (1000 == 1000.00): the digits count.
    assert value.as_tuple().exponent == -exponent(currency)
    assert major_text(amount, currency) == major


@pytest.mark.parametrize(
    ("currency", "amount", "locale", "shown"),
    [
        ("jpy", 500, "en", "¥500"),
        ("usd", 4000, "en", "$40.00"),
        ("USD", 4000, "en", "$40.00"),
        ("kwd", 1250, "en", "KWD1.250"),
        ("bhd", 1005, "en", "BHD1.005"),
        ("huf", 100000, "en", "HUF1,000"),
        ("isk", 500, "en", "ISK5"),
        ("idr", 100000000, "en", "IDR1,000,000"),
        ("krw", 150000, "en", "₩150,000"),
        ("vnd", 2000000, "en", "₫2,000,000"),
        ("twd", 1000, "en", "NT$10.00"),
        # A fraction CLDR's digits would hide (or round) is shown in full.
        ("huf", 100050, "en", "HUF1,000.50"),
        ("isk", 550, "en", "ISK5.50"),
        ("cop", 1234, "en", "COP12.34"),
        ("huf", -150, "en", "-HUF1.50"),
        ("usd", -350, "en", "-$3.50"),
        ("jpy", -500, "en", "-¥500"),
        ("usd", 0, "en", "$0.00"),
        ("jpy", 0, "en", "¥0"),
        ("xyz", 123, "en", "XYZ1.23"),
        ("usd", 4000, "de", "40,00\xa0$"),
        ("huf", 100050, "de", "1.000,50\xa0HUF"),
        ("kwd", 1250, "de", "1,250\xa0KWD"),
    ],
)
def test_format_money(currency: str, amount: int, locale: str, shown: str) -> None:
    assert format_money(amount, currency, locale) == shown


def test_format_money_is_cached() -> None:
    format_money(123457, "eur")
    hits = format_money.cache_info().hits
    assert format_money(123457, "eur") == "€1,234.57"
    assert format_money.cache_info().hits == hits + 1


currencies = st.sampled_from(ALL_KINDS).map(str.lower)
amounts = st.integers(min_value=-(10**40), max_value=10**40)


@given(amounts, currencies)
def test_major_text_round_trips(amount: int, currency: str) -> None:
    text = major_text(amount, currency)
    whole, _, fraction = text.partition(".")
    assert len(fraction) == exponent(currency)
    assert int(whole + fraction) == amount


@given(st.integers(min_value=-(10**12), max_value=10**12), currencies)
def test_format_money_never_hides_money(amount: int, currency: str) -> None:
    shown = format_money(amount, currency)
    figure = re.search(r"[\d,]+(\.\d+)?", shown)
    assert figure is not None
    assert Decimal(figure.group().replace(",", "")) == abs(to_major(amount, currency))
    assert shown.startswith("-") == (amount < 0)


def test_rank_by_conversions_not_amounts() -> None:
    conversions = {"usd": 5, "jpy": 1, "krw": 1, "vnd": 2}
    revenue = {"usd": 100000, "jpy": 120000, "krw": 150000, "vnd": 2000000}
    assert rank_currencies(conversions, revenue) == ["usd", "vnd", "jpy", "krw"]


def test_rank_puts_revenue_without_conversions_last() -> None:
    # Renewal revenue can come in a currency no conversion in range used.
    conversions = {"jpy": 1, "eur": 3}
    revenue = {"jpy": 500, "eur": 9000, "usd": 10**9, "chf": 100}
    assert rank_currencies(conversions, revenue) == ["eur", "jpy", "chf", "usd"]


def test_rank_empty() -> None:
    assert rank_currencies({}, {}) == []


codes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=3)


@given(
    st.dictionaries(codes, st.integers(min_value=1, max_value=50)),
    st.dictionaries(codes, st.integers(min_value=0, max_value=10**12)),
    st.integers(min_value=2, max_value=10**6),
)
def test_rank_ignores_amounts(
    conversions: dict[str, int], revenue: dict[str, int], factor: int
) -> None:
    ranked = rank_currencies(conversions, revenue)
    assert sorted(ranked) == sorted(set(conversions) | set(revenue))
    counted = ranked[: len(conversions)]
    assert set(counted) == set(conversions)
    counts = [conversions[c] for c in counted]
    assert counts == sorted(counts, reverse=True)
    scaled = {c: v * factor for c, v in revenue.items()}
    assert rank_currencies(conversions, scaled) == ranked
