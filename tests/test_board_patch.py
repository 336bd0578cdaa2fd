"""A scoreboard build patches the last one (reporting.select with BoardKept,
Store._board_at): what it shows must be what a build from nothing shows,
order, totals and currencies alike, whatever changed in between (SPEC §6)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from landing import create_app, dashboard
from landing import stripe_events as se
from landing.reporting import SORTABLE, BoardKept, Page, rows, select
from landing.store import Store

from conftest import AUTH, BOARD, CHANGE, changed_board, flush, post_event, rt

SORTS = st.sampled_from(["", *SORTABLE, "revenue_usd", "revenue_eur", "nonsense"])
VIEW = st.fixed_dictionaries(
    {
        "search": st.sampled_from(["", "a", "B_", " ab "]),
        "sort": SORTS,
        "descending": st.booleans(),
        "page": st.integers(1, 4),
        "per_page": st.integers(1, 5),
    }
)


def shown(page: Page) -> tuple[object, ...]:
    """Everything of a page a board shows."""
    return (
        page.rows,
        page.number,
        page.pages,
        page.matching,
        page.totals,
        page.shown_totals,
        page.currencies,
        page.sort,
    )


@settings(max_examples=300, deadline=None)
@given(BOARD, st.lists(st.tuples(st.lists(CHANGE, max_size=4), VIEW), max_size=8))
def test_a_page_patched_from_the_last_call_is_the_page_made_anew(
    board: dict[str, dict[str, int]],
    steps: list[tuple[list[tuple[str, dict[str, int] | None]], dict[str, object]]],
) -> None:
    """select() with the view's last call kept patches only campaigns whose
    metrics changed (new ones, gone ones, equal ones read anew) and gives
    the page, totals and currencies a call from nothing gives, through any
    search, sort, direction and page (a kept view may be asked another)."""
    kept = BoardKept()
    select(board, kept=kept)
    for step, view in steps:
        board = changed_board(board, step)
        patched = select(board, kept=kept, **view)  # type: ignore[arg-type]
        assert shown(patched) == shown(select(board, **view))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(BOARD, st.lists(st.lists(CHANGE, max_size=3), max_size=6))
def test_the_patched_order_is_the_specs(
    board: dict[str, dict[str, int]],
    steps: list[list[tuple[str, dict[str, int] | None]]],
) -> None:
    """Patched or not, the rows come in SPEC §6's order: conversions, then
    landings, both descending (reporting.rows, what the CSV gives)."""
    kept = BoardKept()
    for step in [[], *steps]:
        board = changed_board(board, step)
        page = select(board, kept=kept, per_page=10**6)
        # rows() leaves out what shows no number (conversions:usd alone).
        assert [(n, c) for n, c in page.rows if not c.empty] == rows(board)


# -- through the app: what a marketer's browser gets ------------------------

TODAY = datetime.now(UTC).date()
VIEWS = (
    "/dashboard",
    f"/dashboard?from={TODAY - timedelta(29)}&to={TODAY}",
    f"/dashboard?from={TODAY}&to={TODAY}&sort=revenue_eur",
    "/dashboard?sort=conversions&dir=asc&page=2",
    "/dashboard?q=C&sort=rate",
    "/dashboard/tv",
)


def expire(store: Store, campaign: str) -> None:
    """What the engine's TTLs do when an unconfirmed campaign's time is up:
    every key of its numbers goes (its entry in the index stays until a
    later landing prunes it)."""
    raw = store.redis
    numbers = list(raw.scan_iter(match=f"*:{campaign}*"))
    assert numbers
    for key in numbers:
        assert raw.ttl(key) > 0  # unconfirmed: each expires by itself
        raw.pexpire(key, 1)
    time.sleep(0.05)
    assert not list(raw.scan_iter(match=f"*:{campaign}*"))


@contextmanager
def fresh_boards() -> Iterator[None]:
    """This process's kept boards set aside: builds start from nothing."""
    kept = dashboard.BOARDS
    dashboard.BOARDS = dashboard.KeptBoards()
    try:
        yield
    finally:
        dashboard.BOARDS = kept


def test_the_board_after_changes_is_what_a_new_process_shows(
    app: Flask,
    client: FlaskClient,
    app_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process patches each view's last build (dashboard.BOARDS, the
    store's kept boards): its pages must be a new process's, byte for byte,
    through landings, payments in two currencies, a refund, renames (into
    an existing campaign too), a delete, and an unconfirmed campaign that
    expires."""
    monkeypatch.setattr(dashboard, "PER_PAGE", 2)  # a second page to show
    # The last 30 minutes move with the clock, not with the numbers.
    monkeypatch.setattr(dashboard, "launch_strip", lambda query: None)
    for i in range(12):
        client.get(f"/thanks?session_id=cs_live_p{i}&utm_campaign=c{i % 5}")
    flush(app)
    for i in range(4):  # c0..c3 confirmed by a payment; c4 is not
        post_event(client, se.checkout_session_completed(f"cs_live_p{i}"))
    steps: list[Callable[[], object]] = [
        lambda: post_event(
            client,
            se.checkout_session_completed(
                "cs_live_p5", amount_total=900, currency="eur", payment_intent="pi_5"
            ),
        ),
        lambda: post_event(
            client, se.charge_refunded("ch_5", payment_intent="pi_5", amount=900)
        ),
        lambda: client.get("/thanks?session_id=cs_live_p99&utm_campaign=c1"),
        lambda: client.get("/thanks?session_id=cs_live_p98&utm_campaign=fresh"),
        lambda: rt(app).store.rename_campaign("live", "c3", "c2"),
        lambda: rt(app).store.rename_campaign("live", "c0", "Cnew"),
        lambda: rt(app).store.delete_campaign("live", "c4"),
        lambda: expire(rt(app).store, "fresh"),  # unconfirmed: its numbers go
        lambda: post_event(
            client,
            se.checkout_session_completed(
                "cs_live_p6", amount_total=70, currency="eur", payment_intent="pi_6"
            ),
        ),
    ]
    for path in VIEWS:
        client.get(path, headers=AUTH)  # the builds a later one patches
    for n, step in enumerate(steps):
        step()
        flush(app)
        for path in VIEWS:
            kept = client.get(path, headers=AUTH)
            with fresh_boards():
                # A new process's store too: no board read before.
                new = create_app({**app_env, "JOURNAL_DIR": str(tmp_path / "new")})
                try:
                    fresh = new.test_client().get(path, headers=AUTH)
                finally:
                    rt(new).journal.close(timeout=1)
            assert kept.status_code == fresh.status_code == 200
            assert kept.data == fresh.data, (n, path)
