"""The API's scoreboard rows, made in one pass for 10,000 campaigns, say
what the dashboard's and the CSV's rows say (SPEC §6)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from landing.reporting import campaigns_json, rows, summed

COUNTS = ("landings", "conversions", "pending", "failed", "abandoned")
METRIC = st.sampled_from(
    [
        *COUNTS,
        "renewals",
        "refunds",
        "revenue:usd",
        "revenue:eur",
        "refunded:usd",
        "refunded:jpy",
        "conversions:usd",
    ]
)
BOARD = st.dictionaries(
    st.text("abcAB_é-", min_size=1, max_size=4),
    st.dictionaries(METRIC, st.integers(min_value=0, max_value=10**12), max_size=6),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(BOARD)
def test_the_apis_rows_are_the_boards_rows(board: dict[str, dict[str, int]]) -> None:
    """The API's one-pass rows (campaigns_json) say what the dashboard's and
    the CSV's Counters say, in the same order, key for key."""
    campaigns, totals = campaigns_json(board)
    expected = [{"campaign": n, **c.as_json()} for n, c in rows(board)]
    assert json.dumps(campaigns) == json.dumps(expected)
    assert json.dumps(totals) == json.dumps(summed(board.values()).as_json())
