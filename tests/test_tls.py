"""rediss:// to the store, through a TLS proxy with a certificate made here.

Managed add-ons present self-signed certificates (SPEC §2): with
REDIS_TLS_VERIFY=false the app must work, with verification on it must refuse
an untrusted certificate (and still render /thanks), and it must accept one
whose CA the URL names with ``ssl_ca_certs``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import trustme
from flask import Flask
from tlsproxy import TLSProxy

from landing import create_app
from landing.devserver import EmbeddedServer
from landing.store import Store, connect

from conftest import (
    campaign_row,
    post_event,
    rt,
    scoreboard,
    session_event,
    settings_env,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def proxy(
    ca: trustme.CA, redis_url: str, redis_server: EmbeddedServer
) -> Iterator[TLSProxy]:
    """TLS on a free port of 127.0.0.1 in front of the private server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with TLSProxy(context, redis_server.port) as proxy:
        yield proxy


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_app(url: str, tmp_path: Path, **overrides: str) -> Flask:
    return create_app(settings_env(url, tmp_path, **overrides))


def land_and_pay(app: Flask, session_id: str, campaign: str) -> int:
    """A landing then its payment; returns the webhook's status."""
    client = app.test_client()
    page = client.get(f"/thanks?session_id={session_id}&utm_campaign={campaign}")
    assert page.status_code == 200
    assert rt(app).journal.flush(timeout=10), "the landing did not reach the store"
    return int(post_event(client, session_event(session_id)).status_code)


def test_verification_off_accepts_a_self_signed_certificate(
    proxy: TLSProxy, redis_url: str, tmp_path: Path
) -> None:
    app = tls_app(
        f"rediss://127.0.0.1:{proxy.port}/0", tmp_path, REDIS_TLS_VERIFY="false"
    )
    try:
        assert app.test_client().get("/healthz").status_code == 200
        assert land_and_pay(app, "cs_live_tls_off", "tls_off") == 200
        row = campaign_row(scoreboard(app.test_client()), "tls_off")
    finally:
        rt(app).journal.close(timeout=2)
    assert row is not None
    assert (row["landings"], row["conversions"]) == (1, 1)
    assert row["revenue"] == {"usd": 4000}
    assert proxy.handshakes > 0  # it went over TLS, not around the proxy


def test_verification_on_refuses_an_untrusted_certificate(
    proxy: TLSProxy, redis_url: str, tmp_path: Path
) -> None:
    app = tls_app(f"rediss://127.0.0.1:{proxy.port}/0", tmp_path)
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 503
        page = client.get("/thanks?session_id=cs_live_tls_refused&utm_campaign=tls")
        assert page.status_code == 200
        event = post_event(client, session_event("cs_live_tls_refused"))
        assert event.status_code == 503  # Stripe will retry it
        assert not rt(app).journal.flush(timeout=1.5)
    finally:
        rt(app).journal.close(timeout=1)
    assert proxy.failed_handshakes > 0
    assert proxy.handshakes == 0
    plain = Store(connect(redis_url))
    assert plain.session("live", "cs_live_tls_refused") == {}
    plain.redis.close()


def test_verification_on_trusts_the_ca_named_in_the_url(
    proxy: TLSProxy, ca_file: Path, redis_url: str, tmp_path: Path
) -> None:
    url = (
        f"rediss://127.0.0.1:{proxy.port}/0?ssl_ca_certs={quote(str(ca_file), safe='')}"
    )
    app = tls_app(url, tmp_path)
    try:
        assert app.test_client().get("/healthz").status_code == 200
        assert land_and_pay(app, "cs_live_tls_on", "tls_on") == 200
        row = campaign_row(scoreboard(app.test_client()), "tls_on")
    finally:
        rt(app).journal.close(timeout=2)
    assert row is not None
    assert (row["landings"], row["conversions"]) == (1, 1)
    assert proxy.handshakes > 0
    assert proxy.failed_handshakes == 0
