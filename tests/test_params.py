"""Query parameters and ranges: what each accepts, and nothing else (SPEC §6, §7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from landing.params import (
    BadQuery,
    ascii_number,
    parse_compare,
    parse_day,
    parse_descending,
    parse_flag,
    parse_interval,
    parse_mode,
    parse_page,
    parse_text,
)
from landing.period import MAX_RANGE_DAYS, Range, day_of, parse_range, today_in

TODAY = date(2026, 11, 27)
AUCKLAND = ZoneInfo("Pacific/Auckland")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("0", 0),
        ("7", 7),
        ("0012", 12),
        ("99999999", 99_999_999),
        ("999999999", None),  # past eight digits
        ("²", None),  # a digit to str.isdigit, and int() refuses it
        ("\u0661", None),  # Arabic-Indic one: int() would read it as 1
        ("\uff12", None),  # fullwidth
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_numbers_are_ascii_digits_only(raw: str | None, number: int | None) -> None:
    assert ascii_number(raw) == number


def test_a_number_may_be_as_long_as_asked() -> None:
    assert ascii_number("123", digits=3) == 123
    assert ascii_number("1234", digits=3) is None


@pytest.mark.parametrize(
    ("raw", "page"),
    [("3", 3), ("1", 1), ("0", 1), ("²", 1), ("-2", 1), ("x", 1), (None, 1)],
)
def test_a_page_that_is_no_page_number_is_the_first(raw: str | None, page: int) -> None:
    assert parse_page(raw) == page


@given(st.text(max_size=12))
def test_any_page_text_is_a_page_number(raw: str) -> None:
    page = parse_page(raw)
    assert page >= 1
    assert page == 1 or (raw.isascii() and raw.isdigit() and int(raw) == page)


@pytest.mark.parametrize(("raw", "mode"), [(None, "live"), ("", "live")])
def test_mode_defaults_to_live(raw: str | None, mode: str) -> None:
    assert parse_mode(raw) == mode


@pytest.mark.parametrize("mode", ["live", "test"])
def test_modes(mode: str) -> None:
    assert parse_mode(mode) == mode


@pytest.mark.parametrize("raw", ["prod", "Live", "test ", "\uff54\uff45\uff53\uff54"])
def test_other_modes_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery, match=r"^`mode` must be live or test$"):
        parse_mode(raw)


@pytest.mark.parametrize(
    ("raw", "day"),
    [
        ("2026-03-02", date(2026, 3, 2)),
        ("1970-01-01", date(1970, 1, 1)),
        ("9998-12-31", date(9998, 12, 31)),
        ("", None),
        (None, None),
    ],
)
def test_days(raw: str | None, day: date | None) -> None:
    assert parse_day("from", raw) == day


@pytest.mark.parametrize(
    "raw",
    [
        "20260302",  # date.fromisoformat takes it; the API says YYYY-MM-DD
        "2026-W01-1",  # and ISO weeks
        "\uff12\uff10\uff12\uff16-03-02",
        "2026-0\u0663-02",
        "2026-3-2",
        "2026-02-30",
        "2026-03-02 ",
        "2026-03-02T00",
        "yesterday",
    ],
)
def test_a_day_is_yyyy_mm_dd_in_ascii_digits(raw: str) -> None:
    with pytest.raises(BadQuery, match=r"^`to` must be a date as YYYY-MM-DD$"):
        parse_day("to", raw)


@pytest.mark.parametrize("raw", ["1969-12-31", "0001-01-01", "9999-12-31"])
def test_days_before_stripe_or_past_date_arithmetic_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery) as refused:
        parse_day("from", raw)
    assert str(refused.value) == "`from` must be between 1970-01-01 and 9998-12-31"


def test_search_and_sort_text_is_kept_up_to_150_characters() -> None:
    assert parse_text(None) == ""
    assert parse_text("spring") == "spring"
    assert parse_text("²" * 151) == "²" * 150


@pytest.mark.parametrize(
    ("raw", "descending"),
    [("asc", False), ("desc", True), (None, True), ("ASC", True), ("", True)],
)
def test_direction(raw: str | None, descending: bool) -> None:
    assert parse_descending(raw) is descending


@pytest.mark.parametrize(
    ("raw", "flag"), [("board", True), ("0", True), ("", False), (None, False)]
)
def test_flags_are_set_by_any_value(raw: str | None, flag: bool) -> None:
    assert parse_flag(raw) is flag


@pytest.mark.parametrize(
    ("raw", "interval"), [(None, "day"), ("", "day"), ("day", "day"), ("hour", "hour")]
)
def test_intervals(raw: str | None, interval: str) -> None:
    assert parse_interval(raw) == interval


@pytest.mark.parametrize("raw", ["week", "Hour", "hours"])
def test_other_intervals_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery, match=r"^`interval` must be day, hour or minute$"):
        parse_interval(raw)


@pytest.mark.parametrize(
    ("raw", "compare"), [(None, False), ("", False), ("previous", True)]
)
def test_compare(raw: str | None, compare: bool) -> None:
    assert parse_compare(raw) is compare


@pytest.mark.parametrize("raw", ["next", "1", "Previous"])
def test_other_comparisons_are_refused(raw: str) -> None:
    with pytest.raises(BadQuery, match=r"^`compare` must be previous$"):
        parse_compare(raw)


# -- ranges -------------------------------------------------------------------


def test_all_time_reads_no_days() -> None:
    span = parse_range(None, "", TODAY)
    assert span == Range() and span.all_time and span.days(TODAY) is None


def test_a_range_lists_each_of_its_days() -> None:
    span = parse_range("2026-11-25", "2026-11-27", TODAY)
    assert not span.all_time
    assert span.days(TODAY) == [date(2026, 11, d) for d in (25, 26, 27)]


def test_a_range_from_a_future_day_is_that_day() -> None:
    assert parse_range("2026-12-05", None, TODAY).days(TODAY) == [date(2026, 12, 5)]


def test_a_range_of_exactly_the_longest_span_is_allowed() -> None:
    last = date(2026, 11, 27)
    first = last - timedelta(MAX_RANGE_DAYS - 1)
    span = parse_range(first.isoformat(), last.isoformat(), TODAY)
    assert span == Range(first, last)
    with pytest.raises(
        BadQuery, match=f"^a range may span at most {MAX_RANGE_DAYS} days$"
    ):
        parse_range((first - timedelta(1)).isoformat(), last.isoformat(), TODAY)


def test_from_after_to_is_refused() -> None:
    with pytest.raises(BadQuery, match=r"^`from` must not be after `to`$"):
        parse_range("2026-11-28", "2026-11-27", TODAY)


def test_a_one_day_range_is_allowed() -> None:
    assert parse_range("2026-11-27", "2026-11-27", TODAY).days(TODAY) == [TODAY]


def test_a_range_with_only_a_last_day_is_a_span_of_days_not_all_time() -> None:
    span = Range(None, TODAY)
    assert not span.all_time and span.days(TODAY) == [TODAY]
    assert Range(TODAY, None).days(date(2026, 11, 29)) == [
        TODAY,
        date(2026, 11, 28),
        date(2026, 11, 29),
    ]


# -- days in the report's zone ------------------------------------------------

# 2026-03-01 11:30 UTC is already 2026-03-02 in Auckland (UTC+13).
INSTANT = 1_772_364_600


def test_a_moment_falls_on_the_report_zones_day() -> None:
    assert day_of(INSTANT, AUCKLAND) == date(2026, 3, 2)
    assert day_of(INSTANT, ZoneInfo("UTC")) == date(2026, 3, 1)


def test_today_is_the_report_zones_today() -> None:
    now = datetime.fromtimestamp(INSTANT, UTC)
    assert today_in(AUCKLAND, now) == date(2026, 3, 2)
    assert today_in(ZoneInfo("UTC"), now) == date(2026, 3, 1)
    assert today_in(AUCKLAND) == datetime.now(AUCKLAND).date()


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "named"), [("May 1", None, "from"), (None, "May 2", "to")]
)
def test_a_bad_range_names_the_parameter(
    raw_from: str | None, raw_to: str | None, named: str
) -> None:
    with pytest.raises(BadQuery) as refused:
        parse_range(raw_from, raw_to, TODAY)
    assert str(refused.value) == f"`{named}` must be a date as YYYY-MM-DD"
