"""The previous period, changes, relative ranges, charts and figure sizes: pure."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from landing.chart import HEIGHT, MAX_BAR, TOP, WIDTH, bar_chart
from landing.dashboard import fit
from landing.params import BadQuery, parse_compare
from landing.period import (
    MAX_RANGE_DAYS,
    Range,
    parse_range,
    previous_range,
    relative_range,
)
from landing.reporting import (
    Counters,
    change,
    changes,
    currency_order,
    previous_json,
    rate_change,
    totals_of_days,
)

from conftest import counters_json

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("span", "before"),
    [
        (Range(TODAY, TODAY), Range(date(2026, 11, 26), date(2026, 11, 26))),
        (
            Range(date(2026, 11, 21), TODAY),
            Range(date(2026, 11, 14), date(2026, 11, 20)),
        ),
        # Across a month and a year, February in a leap year.
        (
            Range(date(2024, 3, 1), date(2024, 3, 31)),
            Range(date(2024, 1, 30), date(2024, 2, 29)),
        ),
        (
            Range(date(2026, 1, 1), date(2026, 1, 2)),
            Range(date(2025, 12, 30), date(2025, 12, 31)),
        ),
        (Range(), None),  # all time has nothing before it
    ],
)
def test_the_previous_period_is_as_long_and_just_before(
    span: Range, before: Range | None
) -> None:
    assert previous_range(span, TODAY) == before


@given(
    first=st.dates(date(1971, 1, 1), date(2100, 1, 1)),
    length=st.integers(1, MAX_RANGE_DAYS),
)
def test_previous_periods_tile_the_calendar(first: date, length: int) -> None:
    span = Range(first, date.fromordinal(first.toordinal() + length - 1))
    before = previous_range(span, TODAY)
    assert before is not None
    days, earlier = span.days(TODAY), before.days(TODAY)
    assert days is not None and earlier is not None
    assert len(earlier) == len(days)
    assert earlier[-1].toordinal() + 1 == days[0].toordinal()


@pytest.mark.parametrize(
    ("name", "first"),
    [("today", TODAY), ("7d", date(2026, 11, 21)), ("30d", date(2026, 10, 29))],
)
def test_relative_ranges_end_today(name: str, first: date) -> None:
    assert relative_range(name, TODAY) == Range(first, TODAY)
    assert parse_range(None, None, TODAY, name) == Range(first, TODAY)
    # At midnight the same name is the next day.
    tomorrow = date(2026, 11, 28)
    assert relative_range(name, tomorrow).last == tomorrow


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "relative"),
    [(None, None, "yesterday"), ("2026-11-01", None, "today"), (None, "x", "7d")],
)
def test_bad_relative_ranges(
    raw_from: str | None, raw_to: str | None, relative: str
) -> None:
    with pytest.raises(BadQuery):
        parse_range(raw_from, raw_to, TODAY, relative)


@pytest.mark.parametrize(
    ("raw", "wanted"), [(None, False), ("", False), ("previous", True)]
)
def test_compare_accepts_previous_only(raw: str | None, wanted: bool) -> None:
    assert parse_compare(raw) is wanted


@pytest.mark.parametrize("raw", ["prev", "PREVIOUS", "true", "1"])
def test_other_comparisons_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery, match="compare"):
        parse_compare(raw)


@pytest.mark.parametrize(
    ("current", "previous", "text", "direction"),
    [
        (112, 100, "▲ 12%", "up"),
        (95, 100, "▼ 5%", "down"),
        (100, 100, "±0%", "same"),
        (0, 100, "▼ 100%", "down"),
        (26, 2, "▲ 1,200%", "up"),
        (1001, 1000, "▲ <1%", "up"),
        (999, 1000, "▼ <1%", "down"),
        (5, 0, "no data", "none"),  # a rise from nothing has no percentage
        (0, 0, "no data", "none"),
    ],
)
def test_changes_read_as_arrows_and_percentages(
    current: int, previous: int, text: str, direction: str
) -> None:
    shown = change(current, previous)
    assert (shown.text, shown.direction) == (text, direction)


def test_a_rate_changes_in_points() -> None:
    assert rate_change(0.12, 0.10).text == "▲ 2.0 pt"
    assert rate_change(0.10, 0.125).text == "▼ 2.5 pt"
    assert rate_change(0.1, None).text == "no data"
    assert rate_change(None, 0.1).text == "no data"


def test_every_big_number_gets_its_change() -> None:
    now = Counters(landings=20, conversions=3, revenue={"usd": 5000, "eur": 100})
    before = Counters(landings=10, conversions=4, failed=1, revenue={"usd": 4000})
    shown = {k: c.text for k, c in changes(now, before).items()}
    assert shown == {
        "landings": "▲ 100%",
        "conversions": "▼ 25%",
        "pending": "no data",
        "failed": "▼ 100%",
        "abandoned": "no data",
        "renewals": "no data",
        "refunds": "no data",
        "rate": "▼ 25.0 pt",
        "revenue:usd": "▲ 25%",
        "revenue:eur": "no data",  # no EUR before: nothing to compare
        "net:usd": "▲ 25%",
        "net:eur": "no data",
    }


def test_previous_totals_add_up_the_days_before() -> None:
    by_day = {
        "2026-11-25": {"landings": 2, "conversions": 1, "revenue:usd": 900},
        "2026-11-26": {"landings": 3, "revenue:eur": 50},
        "2026-11-27": {"landings": 100},
    }
    span = Range(date(2026, 11, 25), date(2026, 11, 26))
    assert totals_of_days(by_day, span.days(TODAY) or []) == Counters(
        landings=5, conversions=1, revenue={"eur": 50, "usd": 900}
    )
    assert previous_json(by_day, span, TODAY) == {
        "from": "2026-11-25",
        "to": "2026-11-26",
        "totals": counters_json(
            landings=5,
            conversions=1,
            revenue={"eur": 50, "usd": 900},
            net_revenue={"eur": 50, "usd": 900},
        ),
    }
    assert previous_json(by_day, None, TODAY) is None


def test_currencies_rank_by_conversions_never_by_amount() -> None:
    amounts = {"revenue:usd": 4000, "revenue:jpy": 150000, "revenue:eur": 900}
    counted = {**amounts, "conversions:eur": 9, "conversions:usd": 2}
    assert currency_order(counted) == ["eur", "usd", "jpy"]
    # Revenue without conversions (renewals only) comes last, by code.
    assert currency_order(amounts) == ["eur", "jpy", "usd"]


def test_a_one_day_chart_is_one_slim_bar_under_its_label() -> None:
    chart = bar_chart("Conversions per day", [("2026-11-27", 7)])
    (bar,) = chart.bars
    assert bar.width == MAX_BAR
    assert bar.x == pytest.approx((WIDTH - MAX_BAR) / 2)
    assert bar.y == TOP and bar.y + bar.height == HEIGHT  # the peak's band is free


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=400))
def test_no_bar_reaches_into_the_label_band_or_past_the_chart(
    values: list[int],
) -> None:
    chart = bar_chart("x", [(str(n), v) for n, v in enumerate(values)])
    for bar in chart.bars:
        assert bar.y >= TOP - 1e-6 and bar.y + bar.height <= HEIGHT + 1e-6
        assert bar.x >= 0 and bar.x + bar.width <= WIDTH + 0.01
        assert bar.width <= MAX_BAR


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("7", "fit-s"),
        ("100.0%", "fit-s"),
        ("KWD18.300", "fit-m"),
        ("$1,234.56", "fit-m"),
        ("€12,345.67", "fit-l"),
        ("KWD18,300.000", "fit-l"),
        ("KWD1,234,567.890", "fit-xl"),
    ],
)
def test_long_figures_are_set_smaller(text: str, size: str) -> None:
    assert fit(text) == size
