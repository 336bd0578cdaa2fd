"""The API's scoreboard rows, made in one pass for 10,000 campaigns, say
what the dashboard's and the CSV's rows say (SPEC §6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from landing import create_app
from landing.reporting import RowsKept, campaigns_json, rows, summed

from conftest import (
    AUTH,
    BOARD,
    CHANGE,
    changed_board,
    flush,
    post_event,
    rt,
    session_event,
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


def test_the_api_after_changes_says_what_a_new_process_says(
    app: Flask, client: FlaskClient, app_env: dict[str, str], tmp_path: Path
) -> None:
    """A process reuses the rows of campaigns whose counters did not change
    since its last build (api.KeptRows, Store._nested): its answers must be
    a new process's, byte for byte, through payments, refunds of numbers,
    deletes and renames."""
    for i in range(12):
        client.get(f"/thanks?session_id=cs_live_k{i}&utm_campaign=c{i % 4}")
    flush(app)
    post_event(client, session_event("cs_live_k0"))
    steps: list[Callable[[], object]] = [
        lambda: post_event(client, session_event("cs_live_k1", amount_total=700)),
        lambda: post_event(
            client, session_event("cs_live_k2", amount_total=900, currency="eur")
        ),
        lambda: rt(app).store.rename_campaign("live", "c3", "c2"),
        lambda: client.get("/thanks?session_id=cs_live_k99&utm_campaign=c0"),
        lambda: rt(app).store.delete_campaign("live", "c2"),
    ]
    for path in ("/api/campaigns", f"/api/campaigns?from={date.today()}"):
        client.get(path, headers=AUTH)  # the rows a later build reuses
    for step in steps:
        step()
        flush(app)
        for path in ("/api/campaigns", f"/api/campaigns?from={date.today()}"):
            kept = client.get(path, headers=AUTH)
            other = create_app({**app_env, "JOURNAL_DIR": str(tmp_path / "new")})
            try:
                # Another host name: a view of its own, not the kept build.
                fresh = other.test_client().get(
                    path, headers=AUTH, base_url="http://other.example/"
                )
            finally:
                rt(other).journal.close(timeout=1)
            assert kept.status_code == fresh.status_code == 200
            assert kept.data == fresh.data


@settings(max_examples=200, deadline=None)
@given(BOARD, st.lists(st.lists(CHANGE, max_size=4), max_size=6))
def test_rows_patched_from_the_last_call_are_the_rows_made_anew(
    board: dict[str, dict[str, int]],
    changes: list[list[tuple[str, dict[str, int] | None]]],
) -> None:
    """A view's rows patched from its last build (RowsKept: only campaigns
    whose metrics are another object are read again) are what a build from
    nothing makes, through campaigns that come, change and go."""
    kept = RowsKept()
    campaigns_json(board, kept)
    for step in changes:
        board = changed_board(board, step)
        patched = campaigns_json(board, kept)
        assert json.dumps(patched) == json.dumps(campaigns_json(board))
