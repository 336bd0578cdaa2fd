"""The builder process keeps watched views built; web workers fall back to
building when it does not (SPEC §8: dashboards never slow customers down;
§4: a landing shows within 2 s)."""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from test_api import CONVERSIONS_SHOWN, LIVE, builds_since_reset, conversions_shown

from landing import builder, keys
from landing.devserver import GunicornServer
from landing.live import BUILDER_ALIVE_MS, BUILDER_LAG_MS
from landing.store import BUILDER

from conftest import (
    AUTH,
    PASSWORD,
    WEBHOOK_SECRET,
    flush,
    gunicorn_env,
    post_event,
    rt,
    session_event,
    signed,
)


def pay(client: FlaskClient, n: int) -> None:
    post_event(client, session_event(f"cs_live_b{n}", amount_total=1000))


def seed(app: Flask, client: FlaskClient, landings: int = 6) -> None:
    for i in range(landings):
        client.get(f"/thanks?session_id=cs_live_b{i}&utm_campaign=launch")
    flush(app)
    pay(client, 0)


def builder_pass(app: Flask) -> int:
    """What the builder process does, once: mark itself alive, and rebuild
    the watched views whose numbers changed; how many answered 200."""
    rt(app).store.mark_builder()
    return builder.refresh(app)


def builder_stopped(app: Flask) -> None:
    """As if the builder's last alive mark were long ago (it stopped)."""
    server = rt(app).store.redis
    old = int(time.time() * 1000) - 2 * BUILDER_ALIVE_MS
    server.zadd(keys.watched_views(), {BUILDER: old})


def test_a_poll_puts_its_view_on_the_builders_list(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE + "&q=launch&made_up=1", headers=AUTH)
    client.get("/api/campaigns?compare=previous", headers=AUTH)
    urls = rt(app).store.watched_views()
    # Only what the view depends on: a made-up argument is left out. The
    # API is built by whoever asks (never with older numbers), not watched.
    assert urls == ["http://localhost/dashboard?fragment=board&q=launch"]


def test_a_share_link_is_never_on_the_builders_list(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    made = client.post("/api/shares", json={"campaign": None, "days": 7}, headers=AUTH)
    assert made.status_code == 201
    token = made.get_json()["token"]
    assert client.get(f"/s/{token}?fragment=board").status_code == 200
    assert not any(token in url for url in rt(app).store.watched_views())


def test_the_builder_rebuilds_a_watched_view_and_workers_serve_its_build(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 1
    pay(client, 1)
    server = rt(app).store.redis
    server.config_resetstat()
    assert builder_pass(app) >= 1  # one pass: the changed view is rebuilt
    assert builds_since_reset(server) == 1
    server.config_resetstat()
    # Polls from every dashboard get the builder's build; no worker builds.
    answers = [client.get(LIVE, headers=AUTH) for _ in range(5)]
    assert [conversions_shown(r) for r in answers] == [2] * 5
    assert builds_since_reset(server) == 0


def test_while_the_builder_runs_workers_leave_a_change_to_it(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE, headers=AUTH)
    builder_pass(app)  # the builder is alive, the view's build is fresh
    pay(client, 1)
    server = rt(app).store.redis
    server.config_resetstat()
    # The poll right after the payment gets the recent build, not a build
    # of its own: the worker goes back to customers at once.
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 1
    assert builds_since_reset(server) == 0
    # The builder's next pass shows it to the next poll.
    builder_pass(app)
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 2


def test_workers_build_again_when_the_builder_stops(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE, headers=AUTH)
    builder_pass(app)
    pay(client, 1)
    builder_stopped(app)
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 2
    api = client.get("/api/campaigns", headers=AUTH).get_json()
    assert api["totals"]["conversions"] == 2


def test_a_build_the_builder_let_grow_old_is_not_served(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    client.get(LIVE, headers=AUTH)
    client.get("/api/campaigns", headers=AUTH)
    builder_pass(app)
    pay(client, 1)
    # The API never answers with older numbers, builder or not.
    api = client.get("/api/campaigns", headers=AUTH).get_json()
    assert api["totals"]["conversions"] == 2
    # The builder still runs but has not rebuilt the view (the machine is
    # too busy): a poll gets its build meanwhile, and once that build is
    # BUILDER_LAG_MS old, a worker builds.
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 1
    time.sleep(BUILDER_LAG_MS / 1000 + 0.1)
    rt(app).store.mark_builder()  # alive, with no rebuild
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 2


def test_the_api_answers_again_from_its_build_while_nothing_changes(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    first = client.get("/api/campaigns", headers=AUTH)
    server = rt(app).store.redis
    server.config_resetstat()
    again = client.get("/api/campaigns", headers=AUTH)
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]
    assert builds_since_reset(server) == 0
    # Without a builder, the API shows a change at once (SPEC §5).
    pay(client, 1)
    changed = client.get("/api/campaigns", headers=AUTH).get_json()
    assert changed["totals"]["conversions"] == 2


def test_the_minute_series_is_never_answered_from_an_old_build(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    server = rt(app).store.redis
    client.get("/api/campaigns?interval=minute", headers=AUTH)
    server.config_resetstat()
    client.get("/api/campaigns?interval=minute", headers=AUTH)
    stats = server.info("commandstats")
    # Built again (the minutes' counters read), as the clock moves on.
    assert stats.get("cmdstat_hgetall", {}).get("calls", 0) > 1
    assert builds_since_reset(server) == 0  # and not kept


# -- the builder as gunicorn.conf.py runs it --------------------------------


@pytest.fixture
def gunicorn(redis_url: str, tmp_path: Path) -> Iterator[GunicornServer]:
    env = gunicorn_env(
        redis_url,
        tmp_path,
        tmp_path / "journal",
        SECRET_KEY="builder-secret-key",
        DASHBOARD_PASSWORD=PASSWORD,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
    )
    server = GunicornServer(env, tmp_path / "gunicorn.log").start()
    try:
        yield server
    finally:
        server.stop(timeout=10)


def get(server: GunicornServer, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=AUTH)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def builder_pid(server: GunicornServer) -> int:
    """The process running landing.builder under gunicorn's master."""
    assert server.process is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server.process.pid and b"landing.builder" in command:
            return int(entry.name)
    raise AssertionError("no builder process under gunicorn")


def niceness(pid: int) -> int:
    return int((Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()[16])


def shown_within(server: GunicornServer, conversions: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = get(server, LIVE)
        found = CONVERSIONS_SHOWN.search(body)
        if status == 200 and found and int(found.group(1)) == conversions:
            return True
        time.sleep(0.05)
    return False


def test_gunicorn_runs_a_niced_builder_and_works_without_it(
    gunicorn: GunicornServer, redis_url: str
) -> None:
    pid = builder_pid(gunicorn)
    assert niceness(pid) == builder.NICENESS
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    for i in range(3):
        get(gunicorn, f"/thanks?session_id=cs_live_g{i}&utm_campaign=launch")
    assert shown_within(gunicorn, 0, 5)  # landed; nothing paid yet
    assert any("fragment=board" in u for u in store.zrange(keys.watched_views(), 0, -1))
    deadline = time.monotonic() + 20  # the builder is up once it made a pass
    while store.zscore(keys.watched_views(), BUILDER) is None:
        assert time.monotonic() < deadline, "the builder made no pass"
        time.sleep(0.05)
    # The builder goes; the workers build on their own, a payment still shows.
    os.kill(pid, signal.SIGKILL)
    body, headers = signed(session_event("cs_live_g0"))
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn.port, timeout=10)
    connection.request("POST", "/webhooks/stripe", body=body, headers=headers)
    assert connection.getresponse().status == 200
    connection.close()
    assert shown_within(gunicorn, 1, 2 + BUILDER_ALIVE_MS / 1000)


def test_a_store_too_full_for_the_list_still_answers_polls(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 1
    admin = rt(app).store.redis
    admin.delete(keys.watched_views())
    admin.config_set("maxmemory", 1)  # every write: an OOM error reply
    try:
        answer = client.get(LIVE, headers=AUTH)
        assert answer.status_code == 200 and conversions_shown(answer) == 1
        api = client.get("/api/campaigns", headers=AUTH)
        assert api.status_code == 200
        assert api.get_json()["totals"]["conversions"] == 1
    finally:
        admin.config_set("maxmemory", 0)
    assert not admin.exists(keys.watched_views())


def test_a_view_polled_again_after_a_pause_is_left_to_the_builder(
    app: Flask, client: FlaskClient
) -> None:
    seed(app, client)
    page = client.get("/dashboard", headers=AUTH)  # a page load, built fresh
    etag = page.headers["ETag"]
    client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    rt(app).store.mark_builder()
    # Nobody polls for a while (the view leaves the builder's list); its
    # build gets old while a payment comes.
    time.sleep(BUILDER_LAG_MS / 1000 + 0.1)
    rt(app).store.redis.delete(keys.watched_views())
    rt(app).store.mark_builder()
    pay(client, 1)
    server = rt(app).store.redis
    server.config_resetstat()
    # The first poll after the pause puts the view back on the list; the
    # builder has not seen it yet, so the worker answers with what it has.
    again = client.get(LIVE, headers={**AUTH, "If-None-Match": etag})
    assert again.status_code == 304
    assert builds_since_reset(server) == 0
    builder_pass(app)
    assert conversions_shown(client.get(LIVE, headers=AUTH)) == 2
