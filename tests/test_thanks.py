"""GET /thanks: what the customer sees, and what the scoreboard counts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing import create_app

from conftest import (
    AUTH,
    campaign_row,
    flush,
    freeze_landing_clock,
    rt,
    scoreboard,
    settings_env,
)


def land(client: FlaskClient, query: str, **headers: str) -> str:
    response = client.get(f"/thanks?{query}", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_page_renders_with_the_headers_spec_7_asks(client: FlaskClient) -> None:
    response = client.get("/thanks?session_id=cs_live_abc&utm_campaign=spring")
    assert response.status_code == 200
    assert "Thank you for your order" in response.get_data(as_text=True)
    headers = response.headers
    assert "no-store" in headers["Cache-Control"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "<script" not in response.get_data(as_text=True)  # no inline script
    assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_hsts_over_https(client: FlaskClient) -> None:
    response = client.get("/thanks", base_url="https://landing.example")
    assert "max-age" in response.headers["Strict-Transport-Security"]


def test_brand_support_and_continue_link_are_shown_escaped(
    redis_url: str, tmp_path: Path
) -> None:
    env = settings_env(
        redis_url,
        tmp_path,
        BRAND_NAME="Ada & <Co>",
        SUPPORT_EMAIL="help@ada.example",
        THANKS_CONTINUE_URL="https://ada.example/shop?x=1&y=2",
    )
    app = create_app(env)
    try:
        html = app.test_client().get("/thanks").get_data(as_text=True)
    finally:
        rt(app).journal.close()
    assert "Ada &amp; &lt;Co&gt;" in html and "<Co>" not in html
    assert 'href="mailto:help@ada.example"' in html
    assert 'href="https://ada.example/shop?x=1&amp;y=2"' in html


def test_neutral_page_without_settings(client: FlaskClient) -> None:
    html = land(client, "")
    assert "mailto:" not in html and 'class="button"' not in html


def test_a_landing_counts_once_per_session_however_often_loaded(
    app: Flask, client: FlaskClient
) -> None:
    for agent in ("phone", "laptop", "phone"):
        land(
            client,
            "session_id=cs_live_once&utm_campaign=spring",
            **{"User-Agent": agent},
        )
    land(client, "utm_campaign=spring&session_id=cs_live_once&utm_source=other")
    flush(app)
    row = campaign_row(scoreboard(client), "spring")
    assert row is not None and row["landings"] == 1


def test_breakdowns_get_the_codes(app: Flask, client: FlaskClient) -> None:
    land(
        client,
        "session_id=cs_live_b1&utm_campaign=spring&utm_source=newsletter"
        "&utm_medium=email&utm_content=hero&utm_term=shoes",
    )
    land(client, "session_id=cs_live_b2&utm_campaign=spring&utm_source=bad%20value")
    flush(app)
    body = client.get("/api/campaigns/spring", headers=AUTH).get_json()
    landings = {
        dim: {r["value"]: r["landings"] for r in body["breakdown"][dim]}
        for dim in ("source", "medium", "content", "term")
    }
    assert landings == {
        "source": {"newsletter": 1, "(none)": 1},
        "medium": {"email": 1, "(none)": 1},
        "content": {"hero": 1, "(none)": 1},
        "term": {"shoes": 1, "(none)": 1},
    }


def test_without_session_id_reloads_by_one_visitor_count_once(
    app: Flask, client: FlaskClient
) -> None:
    for _ in range(3):
        land(client, "utm_campaign=nosession", **{"User-Agent": "A"})
    land(client, "utm_campaign=nosession", **{"User-Agent": "B"})  # another browser
    land(client, "utm_campaign=nosession&utm_source=x", **{"User-Agent": "A"})
    flush(app)
    row = campaign_row(scoreboard(client), "nosession")
    assert row is not None and row["landings"] == 3


def test_a_landing_counts_on_its_day_in_the_report_timezone(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2026-03-01 11:30 UTC is already 2026-03-02 in Auckland (UTC+13).
    freeze_landing_clock(monkeypatch, 1772364600.0)
    app = create_app(
        settings_env(redis_url, tmp_path, REPORT_TIMEZONE="Pacific/Auckland")
    )
    try:
        client = app.test_client()
        land(client, "session_id=cs_live_nz&utm_campaign=kiwi")
        flush(app)
        on_day = scoreboard(client, "?from=2026-03-02&to=2026-03-02")
        row = campaign_row(on_day, "kiwi")
        assert row is not None and row["landings"] == 1
        utc_day = scoreboard(client, "?from=2026-03-01&to=2026-03-01")
        assert campaign_row(utc_day, "kiwi") is None
    finally:
        rt(app).journal.close()


def test_test_mode_landings_stay_out_of_live(app: Flask, client: FlaskClient) -> None:
    land(client, "session_id=cs_test_qa&utm_campaign=qa")
    flush(app)
    assert campaign_row(scoreboard(client), "qa") is None
    row = campaign_row(scoreboard(client, "?mode=test"), "qa")
    assert row is not None and row["landings"] == 1


def test_a_landing_shows_within_two_seconds_without_help(
    app: Flask, client: FlaskClient
) -> None:
    land(client, "session_id=cs_live_quick&utm_campaign=quick")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if campaign_row(scoreboard(client), "quick"):
            return
        time.sleep(0.05)
    pytest.fail("the landing did not show within 2 s")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "session_id=",
        "session_id=%ZZ",
        "utm_campaign=" + "x" * 3000,
        "&" * 500,
        "utm_campaign=a&utm_campaign=b&" * 100,
        "%00%01%02=%ff",
        "session_id=cs_live_" + "a" * 5000,
        "utm_campaign=%F0%9F%92%A9",
        "a=b=c=d",
    ],
)
def test_any_query_string_gets_the_page(
    app: Flask, client: FlaskClient, query: str
) -> None:
    land(client, query)
    flush(app)
    for row in scoreboard(client)["campaigns"]:
        assert row["campaign"] in ("(none)", "a")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=300))
def test_fuzzed_query_strings_always_get_200(client: FlaskClient, raw: bytes) -> None:
    # WSGI carries the raw bytes as a latin-1 string: any byte can arrive.
    response = client.get(
        "/thanks", environ_overrides={"QUERY_STRING": raw.decode("latin-1")}
    )
    assert response.status_code == 200


def test_the_page_renders_when_the_store_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: every store call would fail at once.
    app = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path))
    try:
        started = time.monotonic()
        response = app.test_client().get(
            "/thanks?session_id=cs_live_down&utm_campaign=x"
        )
        assert response.status_code == 200
        assert time.monotonic() - started < 2.0
        assert app.test_client().get("/healthz").status_code == 503
    finally:
        rt(app).journal.close(timeout=0.5)
    kept = b"".join(p.read_bytes() for p in (tmp_path / "journal").glob("*.jsonl"))
    assert b"cs_live_down" in kept  # waiting in the journal for the store
