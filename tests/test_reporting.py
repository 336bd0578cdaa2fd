"""What the numbers mean and how they read: pure rules, many cases."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landing.exports import csv_cell
from landing.money import format_money, major_text
from landing.params import BadQuery
from landing.period import MAX_RANGE_DAYS, Range, parse_range
from landing.reporting import (
    SORTABLE,
    Counters,
    breakdown_rows,
    daily_series,
    rows,
    scoreboard_json,
    select,
)

from conftest import counters_json

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("amount", "currency", "shown", "plain"),
    [
        (500, "jpy", "¥500", "500"),
        (4000, "usd", "$40.00", "40.00"),
        (1250, "kwd", "KWD1.250", "1.250"),
        (123456, "eur", "€1,234.56", "1234.56"),
        (5, "usd", "$0.05", "0.05"),
        (99, "krw", "₩99", "99"),
        (1000, "bhd", "BHD1.000", "1.000"),
    ],
)
def test_each_currency_in_its_own_precision(
    amount: int, currency: str, shown: str, plain: str
) -> None:
    assert format_money(amount, currency) == shown
    assert major_text(amount, currency) == plain


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("spring", "spring"),
        ("-SUM", "'-SUM"),
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        (-5, "-5"),  # a number stays a number
        (None, ""),
    ],
)
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_rows_follow_conversions_then_landings_and_hide_empty_campaigns() -> None:
    ranked = rows(
        {
            "a": {"landings": 9, "conversions": 1},
            "b": {"landings": 1, "conversions": 2},
            "c": {"landings": 5, "conversions": 1},
            "gone": {},
        }
    )
    assert [name for name, _ in ranked] == ["b", "a", "c"]


def test_select_pages_sorts_and_searches_on_raw_counters() -> None:
    board = {
        f"camp_{i:02d}": {"landings": i, "conversions": i % 3, "revenue:usd": i * 100}
        for i in range(1, 61)
    }
    first = select(board, per_page=50)
    assert (first.pages, first.matching, len(first.rows)) == (2, 60, 50)
    assert first.rows[0][0] == "camp_59"  # most conversions, then landings
    assert first.totals.landings == sum(range(1, 61))
    assert first.totals.revenue == {"usd": sum(range(1, 61)) * 100}
    last = select(board, page=99, per_page=50)
    assert (last.number, len(last.rows)) == (2, 10)
    by_name = select(board, sort="campaign", descending=False)
    assert by_name.rows[0][0] == "camp_01"
    by_revenue = select(board, sort="revenue_usd")
    assert by_revenue.rows[0] == (
        "camp_60",
        Counters(landings=60, revenue={"usd": 6000}),
    )
    found = select(board, search="CAMP_4")
    assert {n for n, _ in found.rows} == {f"camp_4{i}" for i in range(10)}
    assert found.shown_totals.landings == sum(range(40, 50))
    assert found.totals == first.totals  # the totals row of everything stays


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "first", "last"),
    [
        (None, None, None, None),
        ("2026-11-01", "2026-11-30", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-11-20", None, date(2026, 11, 20), TODAY),
        ("2026-12-05", None, date(2026, 12, 5), date(2026, 12, 5)),
        ("2026-11-27", "2026-11-27", TODAY, TODAY),
    ],
)
def test_ranges(
    raw_from: str | None, raw_to: str | None, first: date | None, last: date | None
) -> None:
    span = parse_range(raw_from, raw_to, TODAY)
    assert (span.first, span.last) == (first, last)


def test_a_range_with_only_to_reaches_back_as_far_as_allowed() -> None:
    span = parse_range(None, "2026-11-27", TODAY)
    days = span.days(TODAY)
    assert days is not None and len(days) == MAX_RANGE_DAYS and days[-1] == TODAY


@pytest.mark.parametrize(
    ("raw_from", "raw_to"),
    [("2026-11-30", "2026-11-01"), ("20261101", None), ("2020-01-01", "2026-01-01")],
)
def test_bad_ranges(raw_from: str, raw_to: str | None) -> None:
    with pytest.raises(BadQuery):
        parse_range(raw_from, raw_to, TODAY)


@pytest.mark.parametrize("sort", ["", "revenue_eur", "nonsense", "__class__"])
def test_only_real_columns_sort(sort: str) -> None:
    board = {"a": {"landings": 1, "revenue:usd": 900}, "b": {"conversions": 1}}
    page = select(board, sort=sort)
    assert page.sort == ""  # no such column: the SPEC's order
    assert [name for name, _ in page.rows] == ["b", "a"]
    assert page.currencies == ["usd"]
    assert select(board, sort="revenue_usd").sort == "revenue_usd"


@settings(max_examples=200, deadline=None)
@given(
    board=st.dictionaries(
        st.text("abcAB_", min_size=1, max_size=4),
        st.fixed_dictionaries(
            {},
            optional={
                "landings": st.integers(0, 5),
                "conversions": st.integers(0, 3),
                "revenue:usd": st.integers(0, 900),
            },
        ),
        max_size=40,
    ),
    sort=st.sampled_from([*SORTABLE, "revenue_usd", ""]),
    descending=st.booleans(),
    per_page=st.integers(1, 7),
)
def test_every_page_is_its_slice_of_the_whole_table_sorted(
    board: dict[str, dict[str, int]], sort: str, descending: bool, per_page: int
) -> None:
    """Pages are cut from a partial sort; together they are the full order."""
    everything = select(board, sort=sort, descending=descending, per_page=10**6)
    order = [name for name, _ in everything.rows]
    assert sorted(order) == sorted(n for n, m in board.items() if any(m.values()))
    if everything.sort == "":  # the SPEC's order, whatever was asked
        want = [name for name, _ in rows(board)]
        assert order == want
    else:
        keys = [_column(n, c, everything.sort) for n, c in everything.rows]
        assert keys == sorted(keys, reverse=descending)
    pages = select(board, per_page=per_page).pages
    cut = [
        name
        for n in range(1, pages + 1)
        for name, _ in select(
            board, sort=sort, descending=descending, page=n, per_page=per_page
        ).rows
    ]
    assert cut == order


def _column(name: str, c: Counters, key: str) -> tuple[Any, str]:
    """What a column shows, then the name: the order a click promises."""
    if key == "campaign":
        return (name.lower(), name)
    if key == "rate":
        return (c.conversion_rate or 0.0, name)
    if key.startswith("revenue_"):
        return (c.revenue.get(key.removeprefix("revenue_"), 0), name)
    return (getattr(c, key), name)


def test_counters_read_every_counter_and_revenue_in_currency_order() -> None:
    c = Counters.from_metrics(
        {
            "landings": 7,
            "conversions": 3,
            "pending": 2,
            "failed": 1,
            "revenue:usd": 500,
            "revenue:eur": 300,
            "revenue:jpy": 0,  # nothing there: not a currency of this row
        }
    )
    assert c == Counters(
        landings=7, conversions=3, pending=2, failed=1, revenue={"eur": 300, "usd": 500}
    )
    assert list(c.revenue) == ["eur", "usd"]
    assert c.as_json() == counters_json(
        landings=7,
        conversions=3,
        pending=2,
        failed=1,
        revenue={"eur": 300, "usd": 500},
        net_revenue={"eur": 300, "usd": 500},
    )


def test_the_scoreboard_json_is_spec_6s() -> None:
    board = {
        "spring": {"landings": 3, "conversions": 2, "revenue:usd": 4000},
        "autumn": {"landings": 4, "pending": 1},
        "empty": {},
    }
    span = parse_range("2026-11-01", "2026-11-27", TODAY)
    assert scoreboard_json(board, span, "Europe/Lisbon") == {
        "from": "2026-11-01",
        "to": "2026-11-27",
        "timezone": "Europe/Lisbon",
        "campaigns": [
            {
                "campaign": "spring",
                **counters_json(
                    landings=3,
                    conversions=2,
                    revenue={"usd": 4000},
                    net_revenue={"usd": 4000},
                ),
            },
            {"campaign": "autumn", **counters_json(landings=4, pending=1)},
        ],
        "totals": counters_json(
            landings=7,
            conversions=2,
            pending=1,
            revenue={"usd": 4000},
            net_revenue={"usd": 4000},
        ),
    }
    all_time = scoreboard_json({}, Range(), "UTC")
    assert (all_time["from"], all_time["to"], all_time["campaigns"]) == (None, None, [])


def test_a_daily_series_has_every_day_of_a_range_or_each_day_with_data() -> None:
    by_day = {
        "2026-11-27": {"conversions": 1, "revenue:usd": 900},
        "2026-11-25": {"landings": 2},
    }
    zero = counters_json()
    day25 = {**zero, "date": "2026-11-25", "landings": 2}
    usd = {"usd": 900}
    day27 = {
        **zero,
        "date": "2026-11-27",
        "conversions": 1,
        "revenue": usd,
        "net_revenue": usd,
    }
    days = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]
    assert daily_series(by_day, days) == [
        day25,
        {**zero, "date": "2026-11-26"},
        day27,
    ]
    assert daily_series(by_day, None) == [day25, day27]


def test_breakdown_rows_are_ranked_values() -> None:
    by_value = {"ads": {"landings": 1}, "newsletter": {"conversions": 1}, "x": {}}
    assert breakdown_rows(by_value) == [
        {"value": "newsletter", **counters_json(conversions=1)},
        {"value": "ads", **counters_json(landings=1)},
    ]


def test_select_shows_50_a_page_and_currencies_by_conversions() -> None:
    board = {f"c{i:02d}": {"landings": 1} for i in range(51)}
    board["c00"] = {"landings": 1, "revenue:eur": 100, "revenue:usd": 900}
    board["c01"] = {"conversions:eur": 2, "conversions:usd": 1}
    page = select(board)
    assert (page.pages, len(page.rows)) == (2, 50)
    # Most conversions paid in each first, never the larger amount.
    assert page.currencies == ["eur", "usd"]
    assert select({"a": {"landings": 1}}).pages == 1


def test_without_a_sort_ties_in_conversions_go_to_more_landings() -> None:
    board = {"a": {"conversions": 1}, "b": {"conversions": 1, "landings": 1}}
    assert [name for name, _ in select(board).rows] == ["b", "a"]


def test_sorting_by_rate_puts_campaigns_without_landings_at_zero() -> None:
    board = {
        "half": {"landings": 2, "conversions": 1},
        "none": {"conversions": 1},  # a payment whose customer never landed
        "all": {"landings": 1, "conversions": 1},
    }
    ranked = select(board, sort="rate")
    assert ranked.sort == "rate"
    assert [name for name, _ in ranked.rows] == ["all", "half", "none"]


def test_sorting_by_a_currency_puts_campaigns_without_it_last() -> None:
    board = {
        "a": {"conversions": 1, "revenue:usd": 1},  # one cent
        "b": {"conversions": 1, "revenue:eur": 500},
    }
    ranked = select(board, sort="revenue_usd")
    assert [name for name, _ in ranked.rows] == ["a", "b"]
