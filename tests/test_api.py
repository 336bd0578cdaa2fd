"""The scoreboard's API, CSV and pages: access, meaning, ranges, safety."""

from __future__ import annotations

import base64
import csv
import io
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import landing.live
from landing import create_app, keys
from landing.dashboard import _keep_token
from landing.store import Client

from conftest import (
    AUTH,
    PASSWORD,
    PUBLIC_ROUTES,
    ROUTE_ARGUMENT,
    counters_json,
    flush,
    post_event,
    route_requests,
    rt,
    scoreboard,
    session_event,
    settings_env,
)

# Each test runs on a single node and on a Redis Cluster (conftest).
STORE_KINDS = ("node", "cluster")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_every_route_but_the_public_ones_is_found_behind_the_password(
    app: Flask,
) -> None:
    found = {path for _, path in route_requests(app)}
    assert {
        "/dashboard",
        "/dashboard/campaigns/spring",
        "/api/campaigns",
        "/api/campaigns/spring",
        "/api/campaigns.csv",
        "/api/campaigns/spring.csv",
        "/api/sessions.csv",
    } <= found
    assert not found & PUBLIC_ROUTES


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("admin", "wrong"),
        basic("root", PASSWORD),
        basic("admin", ""),
        basic("", ""),
        basic("", PASSWORD),
        basic("admin", PASSWORD + " "),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic !!!notbase64"},
    ],
)
def test_wrong_or_missing_credentials_get_401_on_every_route(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    client.get("/thanks?session_id=cs_live_auth&utm_campaign=spring")
    flush(app)  # so a route that forgot its check would answer 200, not 404
    answers = {}
    for n, (method, path) in enumerate(route_requests(app)):
        # One address a route: the sign-in throttle must not answer first.
        address = {"REMOTE_ADDR": f"192.0.2.{n + 1}"}
        response = client.open(
            path, method=method, headers=headers, environ_overrides=address
        )
        answers[f"{method} {path}"] = (
            response.status_code,
            response.headers.get("WWW-Authenticate", "")[:6],
        )
    assert answers == {route: (401, "Basic ") for route in answers}


def test_no_password_configured_answers_503_saying_what_to_set(
    redis_url: str, tmp_path: Path
) -> None:
    app = create_app(settings_env(redis_url, tmp_path, DASHBOARD_PASSWORD=""))
    try:
        client = app.test_client()
        for method, path in route_requests(app):
            response = client.open(path, method=method, headers=basic("admin", ""))
            assert response.status_code == 503, path
            assert b"DASHBOARD_PASSWORD" in response.data, path
    finally:
        rt(app).journal.close()


def test_custom_user(redis_url: str, tmp_path: Path) -> None:
    app = create_app(settings_env(redis_url, tmp_path, DASHBOARD_USER="marketing"))
    try:
        client = app.test_client()
        assert client.get("/api/campaigns", headers=AUTH).status_code == 401
        ok = client.get("/api/campaigns", headers=basic("marketing", PASSWORD))
        assert ok.status_code == 200
    finally:
        rt(app).journal.close()


def seed(app: Flask, client: FlaskClient) -> None:
    """spring: 3 landings 2 paid; autumn: 4 landings 1 paid; (none): 1."""
    for i in range(3):
        client.get(f"/thanks?session_id=cs_live_s{i}&utm_campaign=spring")
    for i in range(4):
        client.get(f"/thanks?session_id=cs_live_a{i}&utm_campaign=autumn")
    client.get("/thanks?session_id=cs_live_n0")
    flush(app)
    post_event(client, session_event("cs_live_s0", amount_total=2000))
    post_event(client, session_event("cs_live_s1", amount_total=2000))
    post_event(client, session_event("cs_live_a0", amount_total=900, currency="eur"))


def test_the_json_scoreboard_matches_spec_6(app: Flask, client: FlaskClient) -> None:
    seed(app, client)
    board = scoreboard(client)
    assert board["from"] is None and board["to"] is None
    assert board["timezone"] == "UTC"
    assert [r["campaign"] for r in board["campaigns"]] == ["spring", "autumn", "(none)"]
    assert board["campaigns"][0] == {
        "campaign": "spring",
        **counters_json(
            landings=3, conversions=2, revenue={"usd": 4000}, net_revenue={"usd": 4000}
        ),
    }
    assert board["totals"] == counters_json(
        landings=8,
        conversions=3,
        revenue={"eur": 900, "usd": 4000},
        net_revenue={"eur": 900, "usd": 4000},
    )


def test_ranges_count_days_in_the_report_timezone(
    redis_url: str, tmp_path: Path
) -> None:
    app = create_app(
        settings_env(redis_url, tmp_path, REPORT_TIMEZONE="Pacific/Auckland")
    )
    try:
        client = app.test_client()
        # 2026-03-01 11:30 UTC is already 2026-03-02 in Auckland (UTC+13).
        created = 1772364600
        post_event(client, session_event("cs_live_tz", created=created))
        on_day = scoreboard(client, "?from=2026-03-02&to=2026-03-02")
        assert on_day["totals"]["conversions"] == 1
        assert on_day["timezone"] == "Pacific/Auckland"
        assert (on_day["from"], on_day["to"]) == ("2026-03-02", "2026-03-02")
        before = scoreboard(client, "?from=2026-03-01&to=2026-03-01")
        assert before["totals"]["conversions"] == 0
    finally:
        rt(app).journal.close()


def test_ranges_are_inclusive_and_open_ended(client: FlaskClient) -> None:
    today = date.today()
    for days_ago in (0, 3, 10):
        created = int(time.time()) - days_ago * 86400
        post_event(client, session_event(f"cs_live_d{days_ago}", created=created))
    week = (today - timedelta(6)).isoformat()
    assert scoreboard(client, f"?from={week}&to={today}")["totals"]["conversions"] == 2
    assert scoreboard(client, f"?from={week}")["totals"]["conversions"] == 2
    assert scoreboard(client, f"?to={today}")["totals"]["conversions"] == 3
    three = (today - timedelta(3)).isoformat()
    assert scoreboard(client, f"?from={three}&to={three}")["totals"]["conversions"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "?from=yesterday",
        "?from=2026-13-01",
        "?to=2026-02-30",
        "?from=2026-03-02&to=2026-03-01",
        "?from=2000-01-01&to=2026-01-01",
        "?mode=prod",
        "?from=%00",
        "?from=2026-1-1",
        "?to=0001-01-01",
        "?from=9999-12-31",
        "?to=9999-12-31",
        "?from=2026-W01-1",
        "?to=20260101",
        "?from=2026-0%D9%A1-01",
    ],
)
def test_bad_queries_get_400_with_a_message(client: FlaskClient, query: str) -> None:
    for route in ("/api/campaigns", "/api/campaigns.csv", "/api/sessions.csv"):
        response = client.get(route + query, headers=AUTH)
        assert response.status_code == 400, route
        assert response.get_json()["error"]


def test_campaign_detail_daily_and_breakdowns(app: Flask, client: FlaskClient) -> None:
    seed(app, client)
    today = date.today().isoformat()
    body = client.get(f"/api/campaigns/spring?from={today}&to={today}", headers=AUTH)
    detail = body.get_json()
    assert detail["totals"]["conversions"] == 2
    assert detail["daily"] == [
        {
            "date": today,
            **counters_json(
                landings=3,
                conversions=2,
                revenue={"usd": 4000},
                net_revenue={"usd": 4000},
            ),
        }
    ]
    assert set(detail["breakdown"]) == {
        "source",
        "medium",
        "content",
        "term",
        "payment_link",
    }
    assert detail["breakdown"]["source"] == [
        {
            "value": "(none)",
            **{k: v for k, v in detail["daily"][0].items() if k != "date"},
        }
    ]


@pytest.mark.parametrize("name", ["nope", "%3Cscript%3E", "a" * 151])
def test_unknown_campaign_is_404(app: Flask, client: FlaskClient, name: str) -> None:
    seed(app, client)
    assert client.get(f"/api/campaigns/{name}", headers=AUTH).status_code == 404


def test_etag_lets_pollers_get_304_until_something_changes(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    first = client.get("/api/campaigns", headers=AUTH)
    etag = first.headers["ETag"]
    server = rt(app).store.redis
    server.config_resetstat()
    again = client.get("/api/campaigns", headers=AUTH | {"If-None-Match": etag})
    assert again.status_code == 304
    # A 304 costs the version's GET alone: no counter is read for it.
    sent = set(server.info("commandstats")) - {"cmdstat_config|resetstat"}
    assert sent == {"cmdstat_get"}
    post_event(client, session_event("cs_live_new"))
    changed = client.get("/api/campaigns", headers=AUTH | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["totals"]["conversions"] == 4


def test_campaigns_csv_matches_the_json_and_defuses_formulas(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get("/thanks?session_id=cs_live_f&utm_campaign=-2%2B3")  # invalid: dropped
    client.get("/thanks?session_id=cs_live_g&utm_campaign=-SUM")  # valid code
    flush(app)
    response = client.get("/api/campaigns.csv", headers=AUTH)
    assert response.headers["Content-Disposition"].startswith("attachment")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == [
        "campaign",
        "landings",
        "conversions",
        "pending",
        "failed",
        "abandoned",
        "renewals",
        "refunds",
        "revenue_eur",
        "refunded_eur",
        "net_eur",
        "revenue_usd",
        "refunded_usd",
        "net_usd",
    ]
    none = ["0.00"] * 3
    usd = ["40.00", "0.00", "40.00"]
    assert table[1] == ["spring", "3", "2", "0", "0", "0", "0", "0", *none, *usd]
    assert ["'-SUM", "1", "0", "0", "0", "0", "0", "0", *none, *none] in table
    names = [row[0] for row in table[1:]]
    assert not any(n.startswith(("=", "+", "-", "@")) for n in names)


def test_healthz(client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/healthz").status_code == 200
    app = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path / "down"))
    try:
        assert app.test_client().get("/healthz").status_code == 503
    finally:
        rt(app).journal.close(timeout=0.2)


VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/shares"): {"json": {"campaign": None, "days": 7}},
    ("POST", "/api/links"): {
        "json": {
            "payment_link_url": "https://buy.stripe.com/eVa16Q1Vd7yU1Ne8ww",
            "utm_campaign": "spring",
        }
    },
    ("POST", "/api/links/domains"): {"json": {"domain": "pay.example.com"}},
}


def test_api_answers_503_when_the_store_is_down(tmp_path: Path) -> None:
    app = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path))
    try:
        client = app.test_client()
        for method, path in route_requests(app):
            # A request good in every way but that the store is away.
            body = VALID_BODIES.get((method, path), {})
            # Well-formed ids where a route checks their shape before the store.
            if path.startswith("/api/shares/"):
                path = "/api/shares/0123456789ab"
            path = path.replace("/links/spring/", "/links/AbCd1234/")
            if path.endswith("/keep"):
                with app.test_request_context():
                    body = {"data": {"token": _keep_token("live", ROUTE_ARGUMENT)}}
            response = client.open(path, method=method, headers=AUTH, **body)
            # The redirect check asks Stripe, not the store: it still works.
            expected = 200 if path in ("/links/check",) else 503
            assert response.status_code == expected, path
    finally:
        rt(app).journal.close(timeout=0.2)


def test_dashboard_shows_the_numbers_in_each_currencys_format(
    app: Flask, client: FlaskClient
) -> None:
    post_event(client, session_event("cs_live_y", amount_total=500, currency="jpy"))
    post_event(client, session_event("cs_live_k", amount_total=1250, currency="kwd"))
    post_event(client, session_event("cs_live_u", amount_total=4000, currency="usd"))
    html = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert "¥500" in html and "$40.00" in html and "1.250" in html
    assert "Redirect coverage" in html and "0%" in html  # nobody came back


def test_dashboard_first_run_walks_through_setup(client: FlaskClient) -> None:
    html = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert "http://localhost/thanks?session_id={CHECKOUT_SESSION_ID}" in html
    assert "http://localhost/webhooks/stripe" in html


def test_dashboard_paging_and_search(app: Flask, client: FlaskClient) -> None:
    for i in range(60):
        client.get(f"/thanks?session_id=cs_live_p{i}&utm_campaign=camp_{i:02d}")
    flush(app)
    # Landings alone: the board shows the 25 most recent, and says so.
    waiting = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert waiting.count('class="badge"') == 25
    assert "60 campaigns have landings but no verified payment yet" in waiting
    for i in range(60):  # as their payments would
        rt(app).store.confirm_campaign("live", f"camp_{i:02d}")
    page1 = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert "Page 1 of 2" in page1
    assert "no verified payment yet" not in page1
    found = client.get("/dashboard?q=camp_42", headers=AUTH).get_data(as_text=True)
    assert ">camp_42</a>" in found and ">camp_41</a>" not in found


LIVE = "/dashboard?fragment=board"
CONVERSIONS_SHOWN = re.compile(
    r'<span class="value[^"]*">(\d+)</span><span class="label">conversions<'
)


def conversions_shown(response: TestResponse) -> int:
    found = CONVERSIONS_SHOWN.search(response.get_data(as_text=True))
    assert found, "the live part shows no conversions figure"
    return int(found.group(1))


def builds_since_reset(server: Client) -> int:
    """Live parts built since CONFIG RESETSTAT: each is shared in the store with
    one MULTI/EXEC (Store.keep_view), which nothing else the app does sends."""
    return int(server.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))


def test_open_dashboards_share_one_build_across_server_processes(
    app: Flask, client: FlaskClient, app_env: dict[str, str], tmp_path: Path
) -> None:
    # A second app on the same store stands for another gunicorn worker (or
    # another instance): the pollers of one view share one build among them.
    other = create_app({**app_env, "JOURNAL_DIR": str(tmp_path / "other")})
    try:
        clients = [client, other.test_client()]
        seed(app, client)
        assert conversions_shown(client.get(LIVE, headers=AUTH)) == 3
        post_event(client, session_event("cs_live_s2", amount_total=2000))
        server = rt(app).store.redis
        server.config_resetstat()
        # A dozen dashboards poll just after the payment, across both processes.
        answers = [clients[n % 2].get(LIVE, headers=AUTH) for n in range(12)]
        assert [r.status_code for r in answers] == [200] * 12
        assert [conversions_shown(r) for r in answers] == [4] * 12
        assert len({r.headers["ETag"] for r in answers}) == 1
        assert builds_since_reset(server) == 1
        # While one process holds the rebuild claim (750 ms; held here for
        # as long as the test needs), steady payments change nothing shown.
        claim = hold_rebuild_claim(server)
        server.config_resetstat()
        for n, sid in enumerate(("cs_live_s3", "cs_live_a1", "cs_live_a2")):
            post_event(client, session_event(sid, amount_total=900, currency="eur"))
            assert conversions_shown(clients[n % 2].get(LIVE, headers=AUTH)) == 4
        assert builds_since_reset(server) == 0
        # Once it lapses, the next poll, from either process, shows them all.
        server.delete(claim)
        assert conversions_shown(other.test_client().get(LIVE, headers=AUTH)) == 7
        assert builds_since_reset(server) == 1
        # Left alone, a claim lapses by itself: a payment shows within 2 s.
        post_event(client, session_event("cs_live_a3", amount_total=900))
        deadline = time.monotonic() + 2.0
        while conversions_shown(client.get(LIVE, headers=AUTH)) != 8:
            assert time.monotonic() < deadline, "the payment did not show in 2 s"
            time.sleep(0.05)
    finally:
        rt(other).journal.close(timeout=2)


def hold_rebuild_claim(server: Client) -> str:
    """Claim the one shared view's rebuild, as another process would; the
    claim key, to delete when the test lets it lapse."""
    found = cast(list[str], server.keys(keys.view("live", "*")))  # decoded
    (view,) = [k for k in found if ":claim" not in k]
    server.set(f"{view}:claim", "1", px=60_000)
    return f"{view}:claim"


def test_a_poll_never_takes_a_dashboard_back_to_older_numbers(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE, headers=AUTH)  # the view's first build: 3 conversions
    post_event(client, session_event("cs_live_s2", amount_total=2000))
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 4  # rebuilt
    hold_rebuild_claim(rt(app).store.redis)
    post_event(client, session_event("cs_live_s3", amount_total=2000))
    # A page loaded now shows 5, while pollers still share the build of 4.
    page = client.get("/dashboard", headers=AUTH)
    assert conversions_shown(page) == 5
    etag = page.headers["ETag"]
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 4
    # That page's first poll keeps its newer numbers instead.
    kept = client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    assert kept.status_code == 304 and kept.headers["ETag"] == etag
    # Once the store is emptied, the page's ETag is from another life.
    rt(app).store.redis.flushall()
    fresh = client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    assert fresh.status_code == 200 and "Nothing counted yet" in fresh.get_data(
        as_text=True
    )


def test_polls_answer_304_until_a_number_changes(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    first = client.get(LIVE, headers=AUTH)
    etag = first.headers["ETag"]
    again = client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    client.get("/thanks?session_id=cs_live_new&utm_campaign=spring")
    flush(app)
    changed = client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard?endpoint=x&_external=1&_anchor=y",
        "/dashboard?fragment=board&endpoint=x",
        "/dashboard/campaigns/spring?campaign=x&endpoint=y",
    ],
)
def test_unknown_arguments_never_break_a_page(
    app: Flask, client: FlaskClient, path: str
) -> None:
    seed(app, client)
    response = client.get(path, headers=AUTH)
    assert response.status_code == 200
    assert b"_external" not in response.data and b"endpoint=" not in response.data


def test_the_export_pages_by_score_with_ties_and_no_row_twice(
    app: Flask, client: FlaskClient
) -> None:
    for i in range(12):
        client.get(f"/thanks?session_id=cs_live_x{i:02d}&utm_campaign=export")
    flush(app)
    store = rt(app).store

    # Give several sessions the same first sighting, as a burst would.
    def index(sid: str) -> str:  # the index of the session's shard
        return keys.sessions_landed(keys.shard_for("live", sid))

    for i in range(0, 12, 2):
        store.redis.zadd(index(f"cs_live_x{i:02d}"), {f"cs_live_x{i:02d}": 1_000})
    export = store.sessions("live", float("-inf"), float("inf"), page=4)
    ids = [next(export)[0] for _ in range(4)]
    # Meanwhile a write trims the index's old end (retention): no row lost.
    for sid in ids:
        store.redis.zrem(index(sid), sid)
    ids += [sid for sid, _ in export]
    assert sorted(ids) == [f"cs_live_x{i:02d}" for i in range(12)]


def test_a_damaged_shared_build_is_rebuilt_not_served(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE, headers=AUTH)
    server = rt(app).store.redis
    (key,) = server.keys(keys.view("live", "*[^m]"))  # the build, not its claim
    server.hset(key, mapping={"version": "x"})
    server.hdel(key, "body")
    answer = client.get(LIVE, headers=AUTH)
    assert answer.status_code == 200 and conversions_shown(answer) == 3
    assert server.hget(key, "body")  # shared again, whole


@pytest.mark.parametrize("held", ["²", "1" * 5000, "-1", " 7"])
def test_a_made_up_etag_on_a_poll_is_just_not_a_match(
    app: Flask, client: FlaskClient, held: str
) -> None:
    seed(app, client)
    digest = client.get(LIVE, headers=AUTH).headers["ETag"].split("-")[1].strip('"')
    tag = f'W/"{held}-{digest}"'
    answer = client.get(LIVE, headers={**AUTH, "If-None-Match": tag})
    assert answer.status_code == 200 and conversions_shown(answer) == 3


def test_made_up_arguments_share_the_view_they_do_not_change(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    first = client.get(LIVE, headers=AUTH)
    junk = [client.get(f"{LIVE}&junk={n}", headers=AUTH) for n in range(20)]
    assert {r.headers["ETag"] for r in junk} == {first.headers["ETag"]}
    views = rt(app).store.redis.keys(keys.view("live", "*"))
    assert len([k for k in views if ":claim" not in k]) == 1


def paid_days_ago(client: FlaskClient, session_id: str, days: int, **kw: Any) -> None:
    created = int(time.time()) - days * 86400
    response = post_event(client, session_event(session_id, created=created, **kw))
    assert response.status_code == 200


def test_compare_previous_adds_the_period_just_before(
    app: Flask, client: FlaskClient
) -> None:
    today = date.today()
    for n in range(3):
        paid_days_ago(client, f"cs_live_t{n}", 0)  # today: 3
    paid_days_ago(client, "cs_live_y0", 1, currency="eur", amount_total=900)
    paid_days_ago(client, "cs_live_w0", 8)  # in the 7 days before last week
    paid_days_ago(client, "cs_live_w1", 13)
    paid_days_ago(client, "cs_live_old", 30)  # in neither
    day = today.isoformat()
    board = scoreboard(client, f"?from={day}&to={day}&compare=previous")
    yesterday = (today - timedelta(1)).isoformat()
    assert board["previous"] == {
        "from": yesterday,
        "to": yesterday,
        "totals": counters_json(
            conversions=1, revenue={"eur": 900}, net_revenue={"eur": 900}
        ),
    }
    week = scoreboard(client, "?range=7d&compare=previous")
    assert (week["from"], week["to"]) == ((today - timedelta(6)).isoformat(), day)
    assert week["totals"]["conversions"] == 4
    assert week["previous"]["from"] == (today - timedelta(13)).isoformat()
    assert week["previous"]["to"] == (today - timedelta(7)).isoformat()
    assert week["previous"]["totals"]["conversions"] == 2
    # The previous totals are what asking for that range gives.
    asked = scoreboard(
        client, f"?from={week['previous']['from']}&to={week['previous']['to']}"
    )
    assert asked["totals"] == week["previous"]["totals"]
    # All time has nothing before it: null, not a made-up period.
    assert scoreboard(client, "?compare=previous")["previous"] is None
    assert "previous" not in scoreboard(client, f"?from={day}&to={day}")


def test_compare_on_one_campaign(app: Flask, client: FlaskClient) -> None:
    client.get("/thanks?session_id=cs_live_c0&utm_campaign=spring")
    flush(app)
    paid_days_ago(client, "cs_live_c0", 0)
    paid_days_ago(client, "cs_live_c1", 1)  # (unattributed), not spring's
    detail = client.get(
        "/api/campaigns/spring?range=today&compare=previous", headers=AUTH
    ).get_json()
    assert detail["totals"]["conversions"] == 1
    assert detail["previous"]["totals"]["conversions"] == 0


def test_compare_and_range_are_part_of_the_etag(client: FlaskClient) -> None:
    paid_days_ago(client, "cs_live_e0", 0)
    plain = client.get("/api/campaigns?range=today", headers=AUTH)
    compared = client.get(
        "/api/campaigns?range=today&compare=previous",
        headers=AUTH | {"If-None-Match": plain.headers["ETag"]},
    )
    assert compared.status_code == 200 and "previous" in compared.get_json()


@pytest.mark.parametrize(
    "query",
    [
        "?compare=yes",
        "?compare=previous&range=week",
        "?range=today&from=2026-01-01",
    ],
)
def test_bad_comparisons_and_ranges_get_400(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/campaigns{query}", headers=AUTH)
    assert response.status_code == 400 and response.get_json()["error"]


def test_the_dashboard_shows_changes_and_todays_conversions_in_its_title(
    app: Flask, client: FlaskClient
) -> None:
    paid_days_ago(client, "cs_live_d0", 0)
    paid_days_ago(client, "cs_live_d1", 0)
    paid_days_ago(client, "cs_live_d2", 1)
    html = client.get("/dashboard?range=today", headers=AUTH).get_data(as_text=True)
    assert "<title>2 conversions today · Campaign scoreboard — landing</title>" in html
    assert '<span aria-hidden="true">▲ 100%</span>' in html  # 2 against 1
    assert "compare with the day before" in html
    every = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    assert "▲" not in every and "compare with" not in every  # all time


def test_a_board_left_on_today_moves_to_the_new_day_at_midnight(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = date.today()
    paid_days_ago(client, "cs_live_m0", 0)
    page = client.get("/dashboard?range=today", headers=AUTH)
    assert conversions_shown(page) == 1
    etag = page.headers["ETag"]
    live = "/dashboard?range=today&fragment=board"
    assert client.get(live, headers=AUTH | {"If-None-Match": etag}).status_code == 304
    # Midnight in REPORT_TIMEZONE: the same poll now asks about the new day.
    tomorrow = today + timedelta(1)
    monkeypatch.setattr(landing.live, "today_in", lambda zone: tomorrow)
    moved = client.get(live, headers=AUTH | {"If-None-Match": etag})
    assert moved.status_code == 200
    assert conversions_shown(moved) == 0
    assert f"Campaigns, {tomorrow}" in moved.get_data(as_text=True)
    assert 'data-title="0 conversions today' in moved.get_data(as_text=True)
    # The wall screen is "today" by default, and moves with it.
    tv = client.get("/dashboard/tv", headers=AUTH).get_data(as_text=True)
    assert f"{tomorrow:%A %-d %B %Y}" in tv


def test_the_wall_screen_shows_today_and_its_leaders(
    app: Flask, client: FlaskClient
) -> None:

    empty = client.get("/dashboard/tv", headers=AUTH).get_data(as_text=True)
    assert "No landings yet" in empty
    for n in range(3):
        client.get(f"/thanks?session_id=cs_live_w{n}&utm_campaign=winner")
    client.get("/thanks?session_id=cs_live_r0&utm_campaign=runner_up")
    flush(app)
    for n in range(2):
        paid_days_ago(client, f"cs_live_w{n}", 0)
    paid_days_ago(client, "cs_live_r0", 0, currency="jpy", amount_total=150000)
    paid_days_ago(client, "cs_live_old", 1)  # yesterday: not on today's screen
    page = client.get("/dashboard/tv?rotate=1", headers=AUTH)
    html = page.get_data(as_text=True)
    assert "<title>3 conversions today · Wall screen — landing</title>" in html
    assert re.search(r'class="value fit-s">3</span><span class="label">conv', html)
    leaders = re.findall(r'<li[^>]*data-campaign="([^"]+)"', html)
    assert leaders == ["winner", "runner_up"]
    assert 'data-rotate="3000"' in html  # at least 3 s a campaign
    # Revenue in each currency, never added up into one figure.
    assert "¥150,000" in html and "$80.00" in html
    assert "fragment=board" in html and "<form" not in html  # no controls
