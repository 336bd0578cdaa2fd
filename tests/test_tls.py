"""rediss:// to the store, with a certificate made here.

The embedded Valkey is built without TLS, so every machine tests through a
TLS proxy in front of it; where a TLS-enabled redis-server is installed (CI
has Debian's), the same checks also run against the server's own TLS port.

Managed add-ons present self-signed certificates (SPEC §2): with
REDIS_TLS_VERIFY=false the app must work, with verification on it must refuse
an untrusted certificate (and still render /thanks), and it must accept one
whose CA the URL names with ``ssl_ca_certs``.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from flask import Flask
from tlsproxy import TLSProxy

from landing import create_app
from landing.devserver import EmbeddedServer, free_port
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


def counted_over(app: Flask, session_id: str, campaign: str) -> dict[str, Any]:
    """Health, a landing and its payment through the app's TLS store; the
    campaign's scoreboard row as it reads back."""
    try:
        assert app.test_client().get("/healthz").status_code == 200
        assert land_and_pay(app, session_id, campaign) == 200
        row = campaign_row(scoreboard(app.test_client()), campaign)
    finally:
        rt(app).journal.close(timeout=2)
    assert row is not None
    assert (row["landings"], row["conversions"]) == (1, 1)
    return row


def test_verification_off_accepts_a_self_signed_certificate(
    proxy: TLSProxy, redis_url: str, tmp_path: Path
) -> None:
    app = tls_app(
        f"rediss://127.0.0.1:{proxy.port}/0", tmp_path, REDIS_TLS_VERIFY="false"
    )
    row = counted_over(app, "cs_live_tls_off", "tls_off")
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
    counted_over(tls_app(url, tmp_path), "cs_live_tls_on", "tls_on")
    assert proxy.handshakes > 0
    assert proxy.failed_handshakes == 0


def tls_redis_server() -> str | None:
    """A redis-server or valkey-server on PATH built with TLS, if any."""
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path:
            probe = subprocess.run(
                [path, "--tls-port", "0", "--tls-cert-file", "/nonexistent"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if b"TLS support" not in probe.stdout + probe.stderr:
                return path
    return None


@pytest.fixture
def native_tls(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[int, EmbeddedServer]]:
    """A redis-server speaking TLS itself, with a certificate from our CA."""
    binary = tls_redis_server()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI has Debian's redis-server, built with TLS: not found")
        pytest.skip("no TLS-enabled redis-server on PATH (the proxy tests cover TLS)")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("c.pem", "k.pem", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    tls_port = free_port()
    server = EmbeddedServer(
        tmp_path / "native",
        binary=binary,
        extra_args=(
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(cert_file),
            "--tls-key-file",
            str(key_file),
            "--tls-ca-cert-file",
            str(ca_file),
            "--tls-auth-clients",
            "no",
        ),
    ).start()
    try:
        yield tls_port, server
    finally:
        server.stop()


def test_a_tls_enabled_redis_server_itself(
    native_tls: tuple[int, EmbeddedServer], ca_file: Path, tmp_path: Path
) -> None:
    tls_port, _ = native_tls
    relaxed = tls_app(
        f"rediss://127.0.0.1:{tls_port}/0", tmp_path / "a", REDIS_TLS_VERIFY="false"
    )
    trusted = tls_app(
        f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={quote(str(ca_file), safe='')}",
        tmp_path / "b",
    )
    refused = tls_app(f"rediss://127.0.0.1:{tls_port}/0", tmp_path / "c")
    try:
        assert land_and_pay(relaxed, "cs_live_native_a", "native") == 200
        assert land_and_pay(trusted, "cs_live_native_b", "native") == 200
        row = campaign_row(scoreboard(trusted.test_client()), "native")
        assert row is not None and (row["landings"], row["conversions"]) == (2, 2)
        assert refused.test_client().get("/healthz").status_code == 503
    finally:
        for app in (relaxed, trusted, refused):
            rt(app).journal.close(timeout=1)
