"""Abuse and hostile input: inflation, guessing, fuzzing (SPEC §7)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing import create_app
from landing.breaker import Breaker, StoreUnavailable
from landing.events import BadEvent, parse_event

from conftest import (
    AUTH,
    campaign_row,
    flush,
    freeze_landing_clock,
    post_event,
    route_requests,
    rt,
    scoreboard,
    session_event,
    settings_env,
    signed,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# The rate limit counts per clock minute: landings in these tests all arrive
# at this one moment, so no test run straddles two minutes.
LANDED_AT = 1_772_364_630.0  # 2026-03-01 11:30:30 UTC


@pytest.fixture
def limited(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    freeze_landing_clock(monkeypatch, LANDED_AT)
    app = create_app(settings_env(redis_url, tmp_path, LANDING_RATE_LIMIT="3"))
    yield app
    rt(app).journal.close()


def test_one_address_adds_at_most_the_rate_limit(
    limited: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = limited.test_client()
    with caplog.at_level(logging.WARNING):
        for i in range(6):
            page = client.get(f"/thanks?session_id=cs_live_rl{i}&utm_campaign=inflate")
            assert page.status_code == 200  # the page renders either way
        other = {"REMOTE_ADDR": "198.51.100.99"}
        client.get(
            "/thanks?session_id=cs_live_other&utm_campaign=inflate",
            environ_overrides=other,
        )
        flush(limited)
    row = campaign_row(scoreboard(client), "inflate")
    assert row is not None and row["landings"] == 4
    assert "LANDING_RATE_LIMIT" in caplog.text


def test_rate_limit_zero_switches_it_off(app: Flask, client: FlaskClient) -> None:
    for i in range(80):
        client.get(f"/thanks?session_id=cs_live_nl{i}&utm_campaign=nolimit")
    flush(app)
    row = campaign_row(scoreboard(client), "nolimit")
    assert row is not None and row["landings"] == 80


def test_forwarded_for_is_trusted_only_for_configured_hops(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_landing_clock(monkeypatch, LANDED_AT)

    def landings(hops: str, directory: str) -> int:
        env = settings_env(
            redis_url,
            tmp_path / directory,
            LANDING_RATE_LIMIT="1",
            TRUSTED_PROXY_HOPS=hops,
        )
        app = create_app(env)
        try:
            client = app.test_client()
            for i in range(3):
                # Each request claims a different client behind the router.
                client.get(
                    f"/thanks?session_id=cs_live_{directory}{i}&utm_campaign={directory}",
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
            flush(app)
            row = campaign_row(scoreboard(client), directory)
            return row["landings"] if row else 0
        finally:
            rt(app).journal.close()

    assert landings("0", "direct") == 1  # the header is ignored: one address
    assert landings("1", "proxied") == 3  # the router's header names each client


def test_failed_sign_ins_are_throttled_per_address(client: FlaskClient) -> None:
    bad = {"Authorization": "Basic YWRtaW46d3Jvbmc="}  # admin:wrong
    codes = [client.get("/api/campaigns", headers=bad).status_code for _ in range(12)]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]
    blocked = client.get("/api/campaigns", headers=AUTH)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    elsewhere = client.get(
        "/api/campaigns", headers=AUTH, environ_overrides={"REMOTE_ADDR": "192.0.2.5"}
    )
    assert elsewhere.status_code == 200


def test_the_breaker_opens_fails_fast_and_closes_by_itself() -> None:
    breaker = Breaker(threshold=2, cooldown=0.2)
    breaker.before()
    breaker.record(ok=False)
    breaker.before()
    breaker.record(ok=False)
    with pytest.raises(StoreUnavailable):
        breaker.before()
    time.sleep(0.25)
    breaker.before()  # half-open: one trial goes through...
    with pytest.raises(StoreUnavailable):
        breaker.before()  # ...and the others still fail fast
    breaker.record(ok=True)
    breaker.before()
    assert not breaker.open


def test_a_dead_store_is_not_waited_on_again_and_again(tmp_path: Path) -> None:
    app = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path))
    try:
        client = app.test_client()
        for _ in range(3):
            assert client.get("/healthz").status_code == 503
        assert rt(app).store.breaker.open
        started = time.monotonic()
        for _ in range(20):
            assert client.get("/api/campaigns", headers=AUTH).status_code == 503
        assert time.monotonic() - started < 1.0
    finally:
        rt(app).journal.close(timeout=0.2)


# -- fuzzing ------------------------------------------------------------------------


@FUZZ
@given(
    body=st.binary(max_size=2000),
    # What an HTTP header can carry: latin-1 without control characters.
    header=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=200),
)
def test_any_body_and_signature_header_get_4xx(
    client: FlaskClient, body: bytes, header: str
) -> None:
    response = client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": header}
    )
    assert 400 <= response.status_code < 500


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mangled_events() -> st.SearchStrategy[dict[str, Any]]:
    """Real-looking events with some fields replaced by anything at all."""
    paths = [
        ("type",),
        ("id",),
        ("created",),
        ("livemode",),
        ("data",),
        ("data", "object"),
        ("data", "object", "id"),
        ("data", "object", "payment_link"),
        ("data", "object", "payment_status"),
        ("data", "object", "amount_total"),
        ("data", "object", "currency"),
        ("data", "object", "client_reference_id"),
    ]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        event = session_event(f"cs_live_fz{draw(st.integers(0, 5))}")
        for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
            target: Any = event
            for key in path[:-1]:
                if not isinstance(target, dict) or key not in target:
                    break
                target = target[key]
            else:
                if isinstance(target, dict):
                    target[path[-1]] = draw(json_values)
        return event

    return build()


@FUZZ
@given(event=mangled_events())
def test_signed_but_mangled_events_get_200_or_400_never_5xx(
    app: Flask, client: FlaskClient, event: dict[str, Any]
) -> None:
    rt(app).store.redis.flushall()  # one event a board: examples share the store
    # What the event rule (tested on its own in test_events.py) makes of it
    # is exactly what the scoreboard must show.
    try:
        outcome = parse_event(json.loads(json.dumps(event)))
    except BadEvent:
        outcome, expected_status = None, 400
    else:
        expected_status = 200
    response = post_event(client, event)
    assert response.status_code == expected_status, response.get_data(as_text=True)
    for mode in ("live", "test"):
        totals = scoreboard(client, f"?mode={mode}")["totals"]
        shown = {k: totals[k] for k in ("conversions", "pending", "failed", "revenue")}
        want: dict[str, Any] = {
            "conversions": 0,
            "pending": 0,
            "failed": 0,
            "revenue": {},
        }
        if outcome is not None and outcome.mode == mode:
            want[{"paid": "conversions"}.get(outcome.status, outcome.status)] = 1
            if outcome.status == "paid" and outcome.amount_total:
                want["revenue"] = {outcome.currency: outcome.amount_total}
        assert shown == want, mode


@FUZZ
@given(
    raw_from=st.text(max_size=30),
    raw_to=st.text(max_size=30),
    mode=st.text(max_size=10),
)
def test_any_api_query_gets_a_clear_answer(
    client: FlaskClient, raw_from: str, raw_to: str, mode: str
) -> None:
    params = {"from": raw_from, "to": raw_to, "mode": mode}
    for route in ("/api/campaigns", "/api/campaigns.csv", "/dashboard"):
        response = client.get(route, query_string=params, headers=AUTH)
        assert response.status_code in (200, 400), route
        if response.status_code == 400:
            assert json.loads(response.data)["error"]


# Every parameter any route reads (SPEC §6), and one it does not.
PARAMETERS = ["from", "to", "mode", "q", "sort", "dir", "page", "fragment"]
PARAMETERS += ["interval", "compare"]
# Anything a URL can carry: printable and non-ASCII text (no lone surrogates,
# which no URL can encode), and digits that are digits only to str.isdigit.
query_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), max_size=20
) | st.sampled_from(
    [
        "²",
        "\u0661",
        "\u0663\u0664",
        "\uff12\uff10\uff12\uff16-01-01",
        "2026-W01-1",
        "-1",
        "0",
        "9" * 30,
    ]
)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(PARAMETERS) | st.text(min_size=1, max_size=10),
        query_values,
        max_size=5,
    )
)
def test_no_parameter_of_any_route_gets_a_5xx(
    app: Flask, client: FlaskClient, params: dict[str, str]
) -> None:
    client.get("/thanks?session_id=cs_live_fuzz&utm_campaign=spring")
    flush(app)  # so the campaign routes answer past their 404
    answers = {
        f"{method} {path}": client.open(
            path, method=method, query_string=params, headers=AUTH
        ).status_code
        for method, path in route_requests(app, public=True)
    }
    assert all(code < 500 for code in answers.values()), answers


@pytest.mark.parametrize(
    "page", ["²", "\u0661", "\uff12", "-1", "0", "1.5", " 2", "9" * 40]
)
def test_a_page_that_is_no_number_is_the_first_page(
    client: FlaskClient, page: str
) -> None:
    response = client.get("/dashboard", query_string={"page": page}, headers=AUTH)
    assert response.status_code == 200


def test_signed_replays_of_a_stale_event_are_refused(client: FlaskClient) -> None:
    body, headers = signed(
        session_event("cs_live_old"), timestamp=int(time.time()) - 3600
    )
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400


def test_a_landing_that_joins_a_confirmed_payment_is_never_limited(
    limited: Flask,
) -> None:
    client = limited.test_client()
    for i in range(3):  # the address's whole minute
        client.get(f"/thanks?session_id=cs_live_nat{i}&utm_campaign=nat")
    post_event(client, session_event("cs_live_paid_nat"))
    client.get("/thanks?session_id=cs_live_paid_nat&utm_campaign=nat")
    client.get("/thanks?session_id=cs_live_unpaid_nat&utm_campaign=nat")
    flush(limited)
    row = campaign_row(scoreboard(client), "nat")
    assert row is not None
    assert (row["landings"], row["conversions"]) == (4, 1)  # the unpaid 5th: no


def test_requests_without_credentials_leave_nothing_behind(
    app: Flask, client: FlaskClient
) -> None:
    for i in range(50):
        client.get("/api/campaigns", environ_overrides={"REMOTE_ADDR": f"10.0.0.{i}"})
    throttle = app.extensions["landing_logins"]
    assert throttle._failures == {}


@pytest.mark.parametrize("created", [10**20, -1, 32_503_680_000])
def test_a_signed_event_dated_past_any_calendar_gets_400(
    client: FlaskClient, created: int
) -> None:
    response = post_event(client, session_event("cs_live_far", created=created))
    assert response.status_code == 400
    assert "created" in response.get_json()["error"]
