"""POST /webhooks/stripe: signed events in, trustworthy numbers out."""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from landing import create_app, keys

from conftest import (
    AUTH,
    campaign_row,
    counters_json,
    flush,
    post_event,
    rt,
    scoreboard,
    session_event,
    settings_env,
    signed,
)

# Each test runs on a single node and on a Redis Cluster (conftest).
STORE_KINDS = ("node", "cluster")


def stored_keys(redis_url: str) -> list[bytes | str]:
    return redis.Redis.from_url(redis_url).keys(keys.PREFIX + "*")


def test_a_paid_session_counts_with_its_revenue_in_its_campaign(
    app: Flask, client: FlaskClient
) -> None:
    client.get("/thanks?session_id=cs_live_p1&utm_campaign=spring")
    flush(app)
    response = post_event(client, session_event("cs_live_p1", amount_total=4000))
    assert response.status_code == 200
    assert response.get_json()["result"] == "counted"
    board = scoreboard(client)
    assert board["campaigns"] == [
        {
            "campaign": "spring",
            **counters_json(
                landings=1,
                conversions=1,
                revenue={"usd": 4000},
                net_revenue={"usd": 4000},
            ),
        }
    ]
    assert board["totals"]["revenue"] == {"usd": 4000}


def test_the_same_event_twice_counts_once(client: FlaskClient) -> None:
    event = session_event("cs_live_dup")
    assert post_event(client, event).status_code == 200
    again = post_event(client, event)
    assert again.status_code == 200 and again.get_json()["result"] == "unchanged"
    assert scoreboard(client)["totals"]["conversions"] == 1


def test_payment_before_landing_is_unattributed_then_moves(
    app: Flask, client: FlaskClient
) -> None:
    post_event(
        client, session_event("cs_live_early", amount_total=1500, currency="eur")
    )
    row = campaign_row(scoreboard(client), "(unattributed)")
    assert row is not None and row["revenue"] == {"eur": 1500}
    client.get("/thanks?session_id=cs_live_early&utm_campaign=late_lander")
    flush(app)
    board = scoreboard(client)
    assert campaign_row(board, "(unattributed)") is None
    moved = campaign_row(board, "late_lander")
    assert moved is not None
    assert (moved["conversions"], moved["revenue"]) == (1, {"eur": 1500})


def test_delayed_payment_pending_then_paid_or_failed(client: FlaskClient) -> None:
    post_event(client, session_event("cs_live_slow", payment_status="unpaid"))
    post_event(client, session_event("cs_live_bad", payment_status="unpaid"))
    totals = scoreboard(client)["totals"]
    assert (totals["pending"], totals["conversions"], totals["revenue"]) == (2, 0, {})
    post_event(
        client,
        session_event("cs_live_slow", type="checkout.session.async_payment_succeeded"),
    )
    post_event(
        client,
        session_event(
            "cs_live_bad",
            type="checkout.session.async_payment_failed",
            payment_status="unpaid",
        ),
    )
    totals = scoreboard(client)["totals"]
    assert totals["pending"] == 0
    assert (totals["conversions"], totals["failed"]) == (1, 1)
    assert totals["revenue"] == {"usd": 4000}


def test_revenue_is_kept_per_currency(client: FlaskClient) -> None:
    for sid, amount, currency in [
        ("cs_live_u", 4000, "usd"),
        ("cs_live_j", 500, "jpy"),
        ("cs_live_k", 1250, "kwd"),
        ("cs_live_u2", 1000, "USD"),
    ]:
        post_event(client, session_event(sid, amount_total=amount, currency=currency))
    assert scoreboard(client)["totals"]["revenue"] == {
        "jpy": 500,
        "kwd": 1250,
        "usd": 5000,
    }


def test_livemode_false_counts_only_in_test_mode(client: FlaskClient) -> None:
    post_event(client, session_event("cs_test_qa"))
    assert scoreboard(client)["totals"]["conversions"] == 0
    assert scoreboard(client, "?mode=test")["totals"]["conversions"] == 1


def test_sessions_not_from_a_payment_link_and_other_events_are_ignored(
    client: FlaskClient, redis_url: str
) -> None:
    before = set(stored_keys(redis_url))
    response = post_event(client, session_event("cs_live_api", payment_link=None))
    assert response.status_code == 200 and response.get_json()["counted"] is False
    other = session_event("cs_live_x") | {"type": "customer.created"}
    assert post_event(client, other).status_code == 200
    assert set(stored_keys(redis_url)) == before


@pytest.mark.parametrize(
    "tamper",
    ["no header", "wrong secret", "stale", "bad json", "array", "missing field"],
)
def test_bad_input_is_400_and_stores_nothing(
    client: FlaskClient, redis_url: str, tamper: str
) -> None:
    event = session_event("cs_live_bad_input")
    body, headers = signed(event)
    if tamper == "no header":
        del headers["Stripe-Signature"]
    elif tamper == "wrong secret":
        body, headers = signed(event, secret="whsec_someone_else")
    elif tamper == "stale":
        body, headers = signed(event, timestamp=int(time.time()) - 301)
    elif tamper == "bad json":
        body, headers = signed("{not json")
    elif tamper == "array":
        body, headers = signed("[]")
    elif tamper == "missing field":
        del event["data"]["object"]["payment_status"]
        body, headers = signed(event)
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert "error" in response.get_json()
    assert stored_keys(redis_url) == []


def test_an_oversized_body_is_refused_without_5xx(client: FlaskClient) -> None:
    body = json.dumps({"padding": "x" * (2 * 1024 * 1024)})
    response = client.post("/webhooks/stripe", data=body, headers=signed(body)[1])
    assert response.status_code == 413


def test_without_a_secret_webhooks_answer_503_and_log_what_to_set(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_env(redis_url, tmp_path, STRIPE_WEBHOOK_SECRET=""))
    try:
        with caplog.at_level(logging.ERROR):
            response = post_event(app.test_client(), session_event("cs_live_1"))
    finally:
        rt(app).journal.close()
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in caplog.text
    assert stored_keys(redis_url) == []


def test_several_secrets_are_all_accepted(redis_url: str, tmp_path: Path) -> None:
    env = settings_env(
        redis_url, tmp_path, STRIPE_WEBHOOK_SECRET="whsec_old, whsec_new"
    )
    app = create_app(env)
    try:
        client = app.test_client()
        assert (
            post_event(
                client, session_event("cs_live_a"), secret="whsec_old"
            ).status_code
            == 200
        )
        assert (
            post_event(
                client, session_event("cs_live_b"), secret="whsec_new"
            ).status_code
            == 200
        )
        assert (
            post_event(client, session_event("cs_live_c"), secret="whsec_x").status_code
            == 400
        )
    finally:
        rt(app).journal.close()


def test_store_down_answers_503_so_stripe_retries_and_the_retry_counts_once(
    redis_url: str, tmp_path: Path
) -> None:
    down = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path / "a"))
    up = create_app(settings_env(redis_url, tmp_path / "b"))
    try:
        event = session_event("cs_live_retry")
        assert post_event(down.test_client(), event).status_code == 503
        client = up.test_client()
        assert post_event(client, event).status_code == 200
        assert post_event(client, event).status_code == 200
        assert scoreboard(client)["totals"]["conversions"] == 1
    finally:
        rt(down).journal.close(timeout=0.2)
        rt(up).journal.close()


def test_logs_never_show_a_full_session_id_or_the_secret(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    sid = "cs_live_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ"
    with caplog.at_level(logging.DEBUG):
        post_event(client, session_event(sid))
        post_event(client, session_event(sid), secret="whsec_wrong")
        client.get(f"/thanks?session_id={sid}")
    assert sid not in caplog.text
    assert "whsec_" not in caplog.text


def test_reconciliation_export_has_one_row_per_session(
    app: Flask, client: FlaskClient
) -> None:

    client.get("/thanks?session_id=cs_live_r1&utm_campaign=spring&utm_source=news")
    client.get("/thanks?session_id=cs_live_r3&utm_campaign=autumn")
    flush(app)
    post_event(
        client,
        session_event("cs_live_r1", amount_total=4000, client_reference_id="order-1"),
    )
    post_event(client, session_event("cs_live_r2", amount_total=500, currency="jpy"))
    response = client.get("/api/sessions.csv", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == (
        "session_id,client_reference_id,status,amount_total,amount_refunded,"
        "currency,campaign,source,medium,content,term,payment_link,subscription,"
        "landed_at,paid_at"
    )
    rows = {row["session_id"]: row for row in csv.DictReader(lines)}
    assert set(rows) == {"cs_live_r1", "cs_live_r2", "cs_live_r3"}
    r1 = rows["cs_live_r1"]
    assert [r1[c] for c in ("client_reference_id", "status", "amount_total")] == [
        "order-1",
        "paid",
        "4000",
    ]
    assert (r1["amount_refunded"], r1["currency"], r1["campaign"]) == (
        "0",
        "usd",
        "spring",
    )
    assert r1["source"] == "news" and r1["payment_link"] == "plink_1"
    assert r1["landed_at"] and r1["paid_at"] and r1["subscription"] == ""
    r2 = rows["cs_live_r2"]
    assert [r2[c] for c in ("status", "amount_total", "currency", "campaign")] == [
        "paid",
        "500",
        "jpy",
        "(unattributed)",
    ]
    assert r2["landed_at"] == ""  # never landed
    r3 = rows["cs_live_r3"]
    assert (r3["status"], r3["paid_at"], r3["amount_refunded"]) == ("landed", "", "")


def test_payment_link_breakdown(app: Flask, client: FlaskClient) -> None:
    client.get("/thanks?session_id=cs_live_l1&utm_campaign=spring")
    client.get("/thanks?session_id=cs_live_l2&utm_campaign=spring")
    flush(app)
    post_event(client, session_event("cs_live_l1", payment_link="plink_a"))
    post_event(
        client, session_event("cs_live_l2", payment_link="plink_b", amount_total=10)
    )
    body = client.get("/api/campaigns/spring", headers=AUTH).get_json()
    links = {r["value"]: r["revenue"] for r in body["breakdown"]["payment_link"]}
    assert links == {"plink_a": {"usd": 4000}, "plink_b": {"usd": 10}}
