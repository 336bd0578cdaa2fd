"""Faults caused against real processes: gunicorn and a private Valkey (SPEC §7).

Each test starts the product as it runs in production (gunicorn with
gunicorn.conf.py, two gthread workers, a journal directory of its own) and a
persistent Valkey on a fixed free port, then breaks one of them: the store
stops, comes back full, or hangs; the app is stopped, killed, or finds a
damaged journal.
What is asserted is what customers, Stripe and marketers would see.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from landing.devserver import EmbeddedServer, GunicornServer, free_port
from landing.store import Store, connect

from conftest import AUTH, PASSWORD, WEBHOOK_SECRET, gunicorn_env, session_event, signed

T = TypeVar("T")

# A /thanks answer later than this breaks the promise of SPEC §7.
THANKS_BUDGET = 2.0
# How long a landing may take to be counted once the store is back: the
# journal's retry backoff (at most 5 s) plus the breaker's cooldown.
RECOVERY = 15.0


# -- processes ----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request on its own connection, closed after (no keep-alive linger)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return Reply(response.status, data, time.monotonic() - started)


def timed(port: int, method: str, path: str, **kw: Any) -> Reply:
    """Like request(), but no answer in time is a reply too: status 0."""
    started = time.monotonic()
    try:
        return request(port, method, path, **kw)
    except OSError:
        return Reply(0, b"", time.monotonic() - started)


def thanks(port: int, session_id: str, campaign: str) -> Reply:
    query = f"session_id={session_id}&utm_source=fault&utm_campaign={campaign}"
    return timed(port, "GET", f"/thanks?{query}", timeout=10)


def webhook(port: int, session_id: str, timeout: float = 15.0) -> Reply:
    body, headers = signed(session_event(session_id, event_id=f"evt_{session_id}"))
    return request(
        port, "POST", "/webhooks/stripe", body=body, headers=headers, timeout=timeout
    )


def board(port: int) -> dict[str, Any] | None:
    """The all-time live scoreboard, None while the API cannot answer."""
    try:
        reply = request(port, "GET", "/api/campaigns", headers=AUTH, timeout=5.0)
    except OSError:
        return None
    if reply.status != 200:
        return None
    data: dict[str, Any] = json.loads(reply.body)
    return data


def counts(port: int, campaign: str) -> tuple[int, int] | None:
    """(landings, conversions) of one campaign; None when unknown or unreachable."""
    data = board(port)
    if data is None:
        return None
    for row in data["campaigns"]:
        if row["campaign"] == campaign:
            return int(row["landings"]), int(row["conversions"])
    return (0, 0)


def wait_for(
    check: Callable[[], T], want: Callable[[T], bool], timeout: float, what: str
) -> T:
    """Poll check() until want(value), at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if want(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f} s")
        time.sleep(0.2)


def segments(journal: Path) -> list[Path]:
    return sorted(journal.glob("*.jsonl"))


def journal_text(journal: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in segments(journal))


# -- fixtures -------------------------------------------------------------------


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A private persistent server on a fixed free port; restarts keep its data."""
    server = EmbeddedServer(tmp_path / "valkey", port=free_port(), persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.resume()  # a paused server ignores SIGTERM until resumed
        server.stop(timeout=5)


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@contextlib.contextmanager
def gunicorn_launcher(
    redis_url: str, journal_dir: Path, tmp_path: Path
) -> Iterator[Callable[[], GunicornServer]]:
    """Start gunicorn servers on a store and journal; all stopped at the end."""
    started: list[GunicornServer] = []
    home = tmp_path / "home"  # gunicorn's control socket goes under $HOME
    home.mkdir()
    env = gunicorn_env(
        redis_url,
        home,
        journal_dir,
        SECRET_KEY="fault-secret-key",
        DASHBOARD_PASSWORD=PASSWORD,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LANDING_RATE_LIMIT="0",
        WEB_CONCURRENCY="2",
    )

    def start() -> GunicornServer:
        server = GunicornServer(env, tmp_path / f"gunicorn-{len(started)}.log")
        started.append(server)
        # Any answer will do: the store may be down on purpose.
        return server.start(any_answer=True, timeout=20)

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def launch(
    valkey: EmbeddedServer, journal_dir: Path, tmp_path: Path
) -> Iterator[Callable[[], GunicornServer]]:
    with gunicorn_launcher(valkey.url, journal_dir, tmp_path) as start:
        yield start


def store_of(valkey: EmbeddedServer) -> Store:
    return Store(connect(valkey.url))


def landings_in_store(valkey: EmbeddedServer, campaign: str) -> int:
    store = store_of(valkey)
    try:
        return store.scoreboard("live", None).get(campaign, {}).get("landings", 0)
    finally:
        store.redis.close()


def send_landings(port: int, ids: list[str], campaign: str) -> list[Reply]:
    replies = [thanks(port, sid, campaign) for sid in ids]
    assert [r.status for r in replies] == [200] * len(ids)
    assert max(r.seconds for r in replies) < THANKS_BUDGET
    return replies


def healthy(port: int) -> int:
    try:
        return request(port, "GET", "/healthz", timeout=10).status
    except OSError:
        return 0


# -- 1. the store stops ---------------------------------------------------------


def test_store_down_then_back_counts_everything_once(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer]
) -> None:
    app = launch()
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    send_landings(app.port, ["cs_live_down_before"], "down")
    wait_for(lambda: counts(app.port, "down"), lambda c: c == (1, 0), 5, "counted")

    valkey.kill()
    ids = [f"cs_live_down_{i}" for i in range(10)]
    send_landings(app.port, ids, "down")
    send_landings(app.port, ids[:3], "down")  # reloads: the same sessions
    health = request(app.port, "GET", "/healthz", timeout=10)
    assert health.status == 503
    paid = webhook(app.port, ids[0])
    assert paid.status == 503, paid.body  # not acknowledged: Stripe retries
    assert paid.seconds < 5

    valkey.start()
    wait_for(
        lambda: counts(app.port, "down"),
        lambda c: c is not None and c[0] >= 11,
        RECOVERY,
        "landings counted after the store came back",
    )
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    # Stripe's retry of the event answered 503 above.
    wait_for(lambda: webhook(app.port, ids[0]).status, lambda s: s == 200, 10, "retry")
    assert webhook(app.port, ids[0]).status == 200  # a duplicate delivery
    time.sleep(0.5)  # a late double count would show now
    assert counts(app.port, "down") == (11, 1)


def test_store_back_but_full_then_fine_recovers_by_itself(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer]
) -> None:
    """An outage opens the breakers; the store returns full (OOM), then frees up.

    Managed add-ons on small plans hit maxmemory. The first call a breaker
    lets through after its cooldown then gets an error reply, not a
    timeout: the breaker must still close once the store is fine again.
    """
    app = launch()
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    valkey.kill()
    ids = [f"cs_live_oom_{i}" for i in range(10)]
    send_landings(app.port, ids, "oom")  # both workers' journals wait
    for sid in ids[:6]:  # Stripe's deliveries trip both workers' breakers
        assert webhook(app.port, sid).status == 503

    valkey.start()
    admin = redis.Redis(port=valkey.port, socket_timeout=2)
    admin.config_set("maxmemory", 1)  # every write: OOM error reply
    time.sleep(2.5)  # past the breakers' cooldown: their trial calls write
    for sid in ids[:6]:
        assert webhook(app.port, sid).status == 503  # not stored: retried
    time.sleep(0.5)
    admin.config_set("maxmemory", 0)
    admin.close()

    wait_for(
        lambda: counts(app.port, "oom"),
        lambda c: c is not None and c[0] >= len(ids),
        RECOVERY,
        "landings counted once the store has room again",
    )
    assert [healthy(app.port) for _ in range(10)] == [200] * 10
    assert all(webhook(app.port, sid).status == 200 for sid in ids[:6])
    assert counts(app.port, "oom") == (len(ids), 6)


# -- 2. the store hangs ---------------------------------------------------------


@pytest.mark.parametrize("hang", ["sigstop", "client_pause"])
def test_hanging_store_never_slows_thanks(
    hang: str, valkey: EmbeddedServer, launch: Callable[[], GunicornServer]
) -> None:
    app = launch()
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    # Both workers hold open store connections, as in production.
    send_landings(app.port, [f"cs_live_{hang}_warm_{i}" for i in range(4)], hang)
    wait_for(lambda: counts(app.port, hang), lambda c: c == (4, 0), 5, "warm")

    if hang == "sigstop":
        valkey.pause()
    else:
        client = redis.Redis(port=valkey.port, socket_timeout=2)
        client.client_pause(5000, all=True)  # CLIENT PAUSE 5000 ALL
        client.close()

    # Marketers' dashboards and Stripe keep calling while customers land.
    body, headers = signed(session_event(f"cs_live_{hang}_0", event_id="evt_hang"))
    with ThreadPoolExecutor(max_workers=24) as pool:
        api = [
            pool.submit(timed, app.port, "GET", "/api/campaigns", headers=AUTH)
            for _ in range(20)
        ]
        health = pool.submit(timed, app.port, "GET", "/healthz")
        paid = pool.submit(
            timed, app.port, "POST", "/webhooks/stripe", body=body, headers=headers
        )
        ids = [f"cs_live_{hang}_{i}" for i in range(12)]
        pages = []
        for sid in ids:
            pages.append(thanks(app.port, sid, hang))
            time.sleep(0.3)
        health_reply, paid_reply = health.result(), paid.result()
        api_replies = [f.result() for f in api]

    def seen(replies: list[Reply]) -> str:
        return " ".join(f"{r.status}:{r.seconds:.1f}s" for r in replies)

    report = (
        f"thanks {seen(pages)} | healthz {seen([health_reply])} | "
        f"webhook {seen([paid_reply])} | api {seen(api_replies)}"
    )
    assert all(p.status == 200 for p in pages), report
    assert max(p.seconds for p in pages) < THANKS_BUDGET, report
    assert health_reply.status == 503 and health_reply.seconds < 5, report
    assert paid_reply.status >= 500 and paid_reply.seconds < 5, report
    # Never a 500 and no pile-up (a hang may end before the last answer).
    assert {r.status for r in api_replies} <= {200, 503}, report
    assert max(r.seconds for r in api_replies) < 5, report

    if hang == "sigstop":
        valkey.resume()
    # CLIENT PAUSE ends by itself after 5 s.
    wait_for(
        lambda: counts(app.port, hang),
        lambda c: c is not None and c[0] >= 4 + len(ids),
        RECOVERY,
        "landings counted after the hang",
    )
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    wait_for(lambda: webhook(app.port, ids[0]).status, lambda s: s == 200, 10, "retry")
    time.sleep(0.5)
    assert counts(app.port, hang) == (4 + len(ids), 1)


# -- 3. the app stops -----------------------------------------------------------


def test_sigterm_while_store_down_keeps_the_journal_for_the_next_start(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer], journal_dir: Path
) -> None:
    first = launch()
    valkey.kill()
    ids = [f"cs_live_term_down_{i}" for i in range(8)]
    send_landings(first.port, ids, "term_down")

    started = time.monotonic()
    assert first.terminate() == 0
    assert time.monotonic() - started < 15  # within gunicorn's graceful_timeout
    left = segments(journal_dir)
    assert left, "no journal segment left on disk"
    kept = journal_text(journal_dir)
    assert all(sid in kept for sid in ids)
    log = first.log.read_text(errors="replace")
    assert "journal keeps" in log and "unsent bytes for the next start" in log
    assert "Traceback" not in log

    valkey.start()
    second = launch()
    wait_for(
        lambda: counts(second.port, "term_down"),
        lambda c: c is not None and c[0] >= len(ids),
        RECOVERY,
        "landings replayed from the journal",
    )
    wait_for(
        lambda: [p for p in left if p.exists()], lambda rest: not rest, 10, "replayed"
    )
    assert counts(second.port, "term_down") == (len(ids), 0)


def test_sigterm_while_store_up_drains_the_journal_before_exit(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer], journal_dir: Path
) -> None:
    app = launch()
    ids = [f"cs_live_term_up_{i}" for i in range(30)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda sid: thanks(app.port, sid, "term_up"), ids))
    assert all(r.status == 200 for r in replies)
    assert app.terminate() == 0
    # Right after the exit, with no server left to replay anything.
    assert landings_in_store(valkey, "term_up") == len(ids)
    assert sorted(p.name for p in journal_dir.iterdir()) == []  # nor .done files


def test_kill_9_of_the_whole_app_loses_and_doubles_nothing(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer]
) -> None:
    first = launch()
    ids = [f"cs_live_kill_{i}" for i in range(60)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda sid: thanks(first.port, sid, "kill"), ids))
    assert all(r.status == 200 for r in replies)
    first.kill()  # master and workers, the instant the last page was answered

    second = launch()
    wait_for(
        lambda: counts(second.port, "kill"),
        lambda c: c is not None and c[0] >= len(ids),
        RECOVERY,
        "landings of the killed app",
    )
    time.sleep(0.5)
    assert counts(second.port, "kill") == (len(ids), 0)


# -- 4. a damaged journal ----------------------------------------------------------


def test_damaged_journal_counts_the_good_lines_and_logs_the_bad(
    valkey: EmbeddedServer, launch: Callable[[], GunicornServer], journal_dir: Path
) -> None:
    first = launch()
    valkey.kill()
    ids = [f"cs_live_damage_{i}" for i in range(5)]
    send_landings(first.port, ids, "damage")
    assert first.terminate() == 0

    segment = max(segments(journal_dir), key=lambda p: p.stat().st_size)
    good = segment.read_bytes().splitlines()[0]
    extra = json.loads(good)
    extra["sid"] = "cs_live_damage_extra"
    with segment.open("ab") as f:
        f.write(good[: len(good) // 2] + b"\n")  # a line a full disk cut
        f.write(b"\x00\xff garbage \xfe\n")  # not even text
        f.write(b'{"ts": "yesterday", "sid": "cs_live_damage_forged"}\n')
        f.write(json.dumps(extra, separators=(",", ":")).encode() + b"\n")
        f.write(good[: len(good) // 3])  # torn at the very end

    valkey.start()
    second = launch()
    wait_for(
        lambda: counts(second.port, "damage"),
        lambda c: c is not None and c[0] >= len(ids) + 1,
        RECOVERY,
        "good lines of the damaged journal",
    )
    wait_for(lambda: segment.exists(), lambda exists: not exists, 10, "replayed")
    time.sleep(0.5)
    assert counts(second.port, "damage") == (len(ids) + 1, 0)
    log = second.log.read_text(errors="replace")
    assert log.count("journal: skipping an unreadable line") == 3, log
    assert "journal: skipping a torn last line" in log, log
    assert "cs_live_damage" not in log  # no session id in a log line
