"""`landing demo` against a live server: the scoreboard shows what it sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from landing import cli
from landing.demo import Demo
from landing.utm import UNATTRIBUTED

from conftest import WEBHOOK_SECRET, campaign_row, flush, scoreboard


def test_scoreboard_shows_what_the_demo_sent(
    server: str, app: Flask, client: FlaskClient
) -> None:
    summary = Demo(server, secret=WEBHOOK_SECRET, rate=25, seed=4).run(3)
    flush(app)

    assert summary.errors == 0
    assert summary.requests >= 70
    board = scoreboard(client)
    totals = board["totals"]
    assert totals["landings"] == summary.landings
    assert totals["conversions"] == summary.conversions
    assert totals["pending"] == summary.pending
    assert totals["failed"] == summary.failed
    assert totals["revenue"] == dict(summary.revenue)
    assert len(totals["revenue"]) > 1, "conversions in more than one currency"
    assert totals["renewals"] == summary.renewals > 0
    assert totals["refunded"] == dict(summary.refunded)
    assert summary.refunded, "refunds and lost disputes"
    net = {cur: v - summary.refunded[cur] for cur, v in summary.revenue.items()}
    assert totals["net_revenue"] == net
    # Paid before landing: moved to their campaign; never landed: stayed.
    assert summary.early + summary.never_landed > 0
    orphans = campaign_row(board, UNATTRIBUTED)
    assert (orphans["conversions"] if orphans else 0) == summary.never_landed
    assert len(board["campaigns"]) >= 5
    assert scoreboard(client, "?mode=test")["campaigns"] == []


def test_test_mode_traffic_stays_out_of_live(
    server: str, app: Flask, client: FlaskClient
) -> None:
    summary = Demo(server, secret=WEBHOOK_SECRET, rate=20, mode="test", seed=2).run(1)
    flush(app)  # an empty board must not just be landings still on their way

    assert summary.conversions > 0 and summary.landings > 0
    assert scoreboard(client)["campaigns"] == []
    test_board = scoreboard(client, "?mode=test")
    assert test_board["totals"]["conversions"] == summary.conversions


def test_command_prints_a_summary(server: str) -> None:
    result = CliRunner().invoke(
        cli.main,
        ["demo", "--url", server, "--seconds", "1", "--rate", "10", "--seed", "1"],
        env={"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("demo: ")
    assert "0 errors" in result.output


def test_command_uses_the_secret_landing_run_kept(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "INSTANCE", tmp_path)
    (tmp_path / "webhook_secret").write_text(WEBHOOK_SECRET + "\n")
    result = CliRunner().invoke(
        cli.main,
        ["demo", "--url", server, "--seconds", "0.5", "--rate", "6"],
        env={"STRIPE_WEBHOOK_SECRET": ""},
    )
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_command_explains_a_missing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "INSTANCE", tmp_path)
    result = CliRunner().invoke(cli.main, ["demo"], env={"STRIPE_WEBHOOK_SECRET": ""})
    assert result.exit_code == 2
    assert "STRIPE_WEBHOOK_SECRET is not set" in result.output


def test_command_explains_a_wrong_secret(server: str) -> None:
    result = CliRunner().invoke(
        cli.main,
        ["demo", "--url", server, "--seconds", "2", "--rate", "10"],
        env={"STRIPE_WEBHOOK_SECRET": "whsec_not_the_servers"},
    )
    assert result.exit_code == 1
    assert "different STRIPE_WEBHOOK_SECRET" in result.output


def test_command_explains_no_server() -> None:
    result = CliRunner().invoke(
        cli.main,
        ["demo", "--url", "http://127.0.0.1:9", "--seconds", "1"],
        env={"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    assert result.exit_code == 1
    assert "make run" in result.output
