"""Fixtures: a real Redis-protocol server per test session, apps and clients."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import stripe
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import strategies as st
from werkzeug.serving import make_server

from landing import create_app, money, thanks
from landing.devserver import EmbeddedCluster, EmbeddedServer
from landing.runtime import ROOT, Runtime
from landing.store import Client, Store, connect

try:
    from playwright.sync_api import Browser, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # reported by the browser fixture, with the reason
    HAVE_PLAYWRIGHT = False

WEBHOOK_SECRET = "whsec_test_secret_for_landing"
PASSWORD = "correct horse battery staple"
AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
}
CHROMIUM = os.environ.get("LANDING_CHROMIUM", "/usr/bin/chromium")
# Offline machine: without these, Chromium keeps dialling Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Where browser tests keep their screenshots, to be looked at.
ARTIFACTS = ROOT / "test-artifacts"
# Reports CSP violations as console errors, which every browser tab collects.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI);
});
"""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A private server on a free port: never the machine's, never a fake."""
    server = EmbeddedServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole session, shared by every browser test file
    (Playwright's sync API runs one instance a thread); skipped (or failed
    in CI) without it."""
    missing = None
    if not HAVE_PLAYWRIGHT:
        missing = "the playwright package is not installed (pip install -e '.[dev]')"
    elif not os.access(CHROMIUM, os.X_OK):
        missing = (
            f"no Chromium at {CHROMIUM}: apt-get install chromium "
            "(or set LANDING_CHROMIUM to its path)"
        )
    if missing:
        if os.environ.get("LANDING_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LANDING_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EmbeddedCluster]:
    """A real three-master cluster from the same binary (SPEC §7), started
    the first time a test asks for one."""
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``STORE_KINDS = ("node", "cluster")`` runs each of its
    tests on a single node and again on the cluster."""
    kinds = getattr(metafunc.module, "STORE_KINDS", None)
    if kinds and "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", kinds)


@pytest.fixture
def store_kind() -> str:
    return "node"


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, store_kind: str) -> str:
    """The test's store, emptied: the single node, or the cluster."""
    if store_kind == "cluster":
        cluster: EmbeddedCluster = request.getfixturevalue("redis_cluster")
        client: Any = connect(cluster.url)
        assert isinstance(client, redis.RedisCluster)
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        client.close()
        return cluster.url
    server: EmbeddedServer = request.getfixturevalue("redis_server")
    plain = redis.Redis.from_url(server.url)
    plain.flushall()
    plain.close()
    return server.url


@pytest.fixture
def store(redis_url: str) -> Store:
    return Store(connect(redis_url))


def gunicorn_env(
    redis_url: str, home: Path, journal: Path, **settings: str
) -> dict[str, str]:
    """The environment of a gunicorn a test starts: the machine's PATH and
    locale (and PYTHONPATH, so it runs the code under test), HOME for
    gunicorn's control socket, the store, the journal, then the settings."""
    passed = ("PATH", "LANG", "LC_ALL", "PYTHONPATH")
    env = {k: os.environ[k] for k in passed if k in os.environ}
    env.update(
        HOME=str(home),
        REDIS_URL=redis_url,
        JOURNAL_DIR=str(journal),
        PYTHONDONTWRITEBYTECODE="1",
        **settings,
    )
    return env


def settings_env(redis_url: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DASHBOARD_PASSWORD": PASSWORD,
        "JOURNAL_DIR": str(tmp_path / "journal"),
        "LANDING_RATE_LIMIT": "0",
    }
    env.update(overrides)
    return env


@pytest.fixture
def app_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment the app fixture is built from; tests may change it first."""
    return settings_env(redis_url, tmp_path)


@pytest.fixture
def app(app_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(app_env)
    yield app
    close(app)


@pytest.fixture
def engine(redis_url: str) -> tuple[Store, Client]:
    """A store and a raw client on it (a cluster client on a cluster), for
    property tests that empty the store themselves between examples
    (fixtures run once per test): ``flush(raw)``."""
    return Store(connect(redis_url)), connect(redis_url)


def flush_store(raw: Client) -> None:
    """Empty the store: every primary of a cluster."""
    if isinstance(raw, redis.RedisCluster):
        raw.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    else:
        raw.flushall()


@pytest.fixture
def make_app(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app with some settings changed (REPORT_TIMEZONE=…, …) on the
    test's emptied store; each is closed after the test."""
    made: list[Flask] = []

    def make(**overrides: str) -> Flask:
        made.append(create_app(settings_env(redis_url, tmp_path, **overrides)))
        return made[-1]

    yield make
    for app in made:
        close(app, timeout=1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app over real HTTP on a free port; its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="live-app", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def rt(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["landing"]
    return runtime


def close(app: Flask, timeout: float = 2) -> None:
    """What a worker's exit ends: the journal, and (a cluster) the drainer."""
    rt(app).journal.close(timeout=timeout)
    rt(app).store.stop_drainer()


def flush(app: Flask) -> None:
    """Wait until the app's journal has reached the store."""
    assert rt(app).journal.flush(timeout=10), "journal did not drain"


def session_event(
    session_id: str,
    *,
    type: str = "checkout.session.completed",
    payment_status: str = "paid",
    amount_total: int | None = 4000,
    currency: str | None = "usd",
    payment_link: str | None = "plink_1",
    livemode: bool | None = None,
    created: int | None = None,
    event_id: str | None = None,
    client_reference_id: str | None = None,
) -> dict[str, Any]:
    """A Checkout Session event as Stripe sends it (the fields we read)."""
    return {
        "id": event_id or f"evt_{abs(hash((session_id, type))) % 10**12}",
        "object": "event",
        "type": type,
        "created": int(time.time()) if created is None else created,
        "livemode": (not session_id.startswith("cs_test_"))
        if livemode is None
        else livemode,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "payment_link": payment_link,
                "payment_status": payment_status,
                "amount_total": amount_total,
                "currency": currency,
                "client_reference_id": client_reference_id,
                "mode": "payment",
            }
        },
    }


def signed(
    event: dict[str, Any] | str,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> tuple[str, dict[str, str]]:
    """The body and headers Stripe would send, signed by the stripe library."""
    body = event if isinstance(event, str) else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=timestamp
    )
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def post_event(client: FlaskClient, event: dict[str, Any] | str, **kw: Any) -> Any:
    body, headers = signed(event, **kw)
    return client.post("/webhooks/stripe", data=body, headers=headers)


def scoreboard(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/campaigns{query}", headers=AUTH)
    assert response.status_code == 200, response.data
    body: dict[str, Any] = response.get_json()
    return body


# A row's counters as SPEC §6 names them, written out here rather than taken
# from the product, so a counter the product dropped fails the tests.
ROW_COUNTS = (
    "landings",
    "conversions",
    "pending",
    "failed",
    "abandoned",
    "renewals",
    "refunds",
)
ROW_AMOUNTS = ("revenue", "refunded", "net_revenue")


def counters_json(**values: Any) -> dict[str, Any]:
    """A row's counters as the API gives them (SPEC §6): zero unless given."""
    zero: dict[str, Any] = {name: 0 for name in ROW_COUNTS}
    zero.update({amount: {} for amount in ROW_AMOUNTS})
    return {**zero, **values}


def campaign_row(board: dict[str, Any], name: str) -> dict[str, Any] | None:
    for row in board["campaigns"]:
        if row["campaign"] == name:
            return dict(row)
    return None


# Routes anyone may call: every other route in the app's URL map needs the
# dashboard credentials, and tests find those routes there, not in a list.
# /s/<token> is a share link: anyone holding it sees its board (SPEC §3).
PUBLIC_ROUTES = {"/thanks", "/webhooks/stripe", "/healthz", "/s/<token>"}
# What a test puts in a route's <argument>: a campaign that tests can seed.
ROUTE_ARGUMENT = "spring"
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>")


def route_requests(app: Flask, *, public: bool = False) -> list[tuple[str, str]]:
    """(method, path) for every route of the app's URL map, each method it
    answers, arguments filled in; only those behind a password unless
    `public`. Static files are never behind one."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if rule.rule in PUBLIC_ROUTES and not public:
            continue
        path = _ARGUMENT.sub(
            lambda m: "1" if m.group(1) in ("int", "float") else ROUTE_ARGUMENT,
            rule.rule,
        )
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        out += [(method, path) for method in methods]
    return sorted(out, key=lambda r: (r[1], r[0]))


class FrozenClock:
    """The `time` module as a view sees it, with time() fixed at one moment."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        return self.at

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def freeze_landing_clock(monkeypatch: pytest.MonkeyPatch, at: float) -> None:
    """Every landing /thanks records from now on arrives at `at` (epoch s)."""
    monkeypatch.setattr(thanks, "time", FrozenClock(at))


@pytest.fixture(autouse=True)
def fresh_money_formats() -> None:
    """Every test sees what money.py computes now, never an amount formatted
    before it (a mutation run forks its tests from a process that ran them)."""
    money.format_money.cache_clear()
    money._pattern.cache_clear()


# Scoreboards as the store hands them (campaign → metric → count), for
# property tests of the rows and pages made from them; and a change to one
# campaign (None: it goes, deleted or renamed).
BOARD_COUNTS = ("landings", "conversions", "pending", "failed", "abandoned")
METRIC = st.sampled_from(
    [
        *BOARD_COUNTS,
        "renewals",
        "refunds",
        "revenue:usd",
        "revenue:eur",
        "refunded:usd",
        "refunded:jpy",
        "conversions:usd",
    ]
)
BOARD = st.dictionaries(
    st.text("abcAB_é-", min_size=1, max_size=4),
    st.dictionaries(METRIC, st.integers(min_value=0, max_value=10**12), max_size=6),
    max_size=8,
)
CHANGE = st.tuples(
    st.text("abcAB_", min_size=1, max_size=3),
    st.one_of(
        st.none(),  # the campaign goes (deleted, renamed)
        st.dictionaries(METRIC, st.integers(min_value=0, max_value=10**6), max_size=6),
    ),
)


def changed_board(
    board: dict[str, dict[str, int]], step: list[tuple[str, dict[str, int] | None]]
) -> dict[str, dict[str, int]]:
    """A board after some CHANGEs, as the store hands it: a new dict, where
    campaigns that did not change keep their metrics object."""
    board = dict(board)
    for name, metrics in step:
        if metrics is None:
            board.pop(name, None)
        else:
            board[name] = dict(metrics)
    return board
