"""SPEC §6 series: every hour of a range in REPORT_TIMEZONE, days, minutes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from landing import stripe_events as se
from landing.period import when_of

from conftest import AUTH, flush, post_event


def test_the_hourly_series_counts_a_landing_and_a_payment_in_their_hour(
    make_app: Callable[..., Flask],
) -> None:
    kolkata = make_app(REPORT_TIMEZONE="Asia/Kolkata")
    client: FlaskClient = kolkata.test_client()
    client.get("/thanks?session_id=cs_live_h1&utm_campaign=launch")
    flush(kolkata)
    post_event(client, se.checkout_session_completed("cs_live_h1", amount_total=900))
    zone = ZoneInfo("Asia/Kolkata")
    today = datetime.now(zone).date().isoformat()
    for path in (
        f"/api/campaigns/launch?from={today}&to={today}&interval=hour",
        f"/api/campaigns?from={today}&to={today}&interval=hour",
    ):
        body = client.get(path, headers=AUTH).get_json()
        assert len(body["series"]) == 24
        now_hour = when_of(time.time(), zone).split("@")[1]
        busy = [row for row in body["series"] if row["landings"] or row["conversions"]]
        assert len(busy) == 1, busy
        (row,) = busy
        start = datetime.fromisoformat(row["start"])
        assert str(int(start.timestamp())) == now_hour
        assert row["start"].endswith("+05:30")
        assert (row["landings"], row["conversions"], row["revenue"]) == (
            1,
            1,
            {"usd": 900},
        )
    minutes = client.get("/api/campaigns?interval=minute", headers=AUTH).get_json()
    assert len(minutes["series"]) == 30
    assert minutes["series"][-1]["landings"] + minutes["series"][-2]["landings"] == 1


def test_bad_intervals_and_long_hourly_ranges_are_400(client: FlaskClient) -> None:
    for query in (
        "interval=week",
        "interval=hour",  # all time
        "from=2026-01-01&to=2026-01-31&interval=hour",
    ):
        response = client.get(f"/api/campaigns?{query}", headers=AUTH)
        assert response.status_code == 400, query
        assert response.get_json()["error"]
    daily = client.get(
        "/api/campaigns?from=2026-01-01&to=2026-01-03&interval=day", headers=AUTH
    ).get_json()
    assert [row["start"] for row in daily["series"]] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
        "2026-01-03T00:00:00+00:00",
    ]
