"""Client addresses behind the PaaS router: trusted hops, or a warning (SPEC §2)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, request

from landing.proxies import wrap

ROUTER = "10.1.2.3"  # the address every request comes from behind a router


def echo_app(hops: int) -> Flask:
    """A minimal app that answers with the client address and scheme it sees."""
    app = Flask(__name__)

    @app.get("/")
    def whoami() -> str:
        return f"{request.remote_addr} {request.scheme}"

    app.wsgi_app = wrap(app.wsgi_app, hops)  # type: ignore[method-assign,assignment]
    return app


def get(app: Flask, headers: dict[str, str] | None = None) -> str:
    response = app.test_client().get(
        "/", headers=headers or {}, environ_base={"REMOTE_ADDR": ROUTER}
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "landing.proxies" and r.levelno == logging.WARNING
    ]


def test_untrusted_forwarding_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app(0)
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            seen = get(app, {"X-Forwarded-For": f"203.0.113.{i}"})
            assert seen == f"{ROUTER} http"  # the header is not believed
    [message] = warnings(caplog)
    assert "TRUSTED_PROXY_HOPS" in message
    assert "router's address" in message and "LANDING_RATE_LIMIT" in message
    assert "203.0.113." not in message  # no client address in the log


def test_concurrent_first_requests_still_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app(0)
    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda _: get(app, {"X-Forwarded-For": "203.0.113.9"}), range(32))
        )
    assert len(warnings(caplog)) == 1


def test_requests_without_the_header_are_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app(0)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert get(app) == f"{ROUTER} http"
    assert warnings(caplog) == []


def test_trusted_hops_give_the_client_address_and_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = echo_app(1)
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with caplog.at_level(logging.WARNING):
        assert get(app, headers) == "203.0.113.7 https"
    assert warnings(caplog) == []


def test_one_hop_believes_only_the_entry_the_router_appended() -> None:
    # A client may send its own X-Forwarded-For; the router appends the real
    # address after it, and only that last entry is trusted.
    spoofed = {"X-Forwarded-For": "198.51.100.66, 203.0.113.7"}
    assert get(echo_app(1), spoofed) == "203.0.113.7 http"
