"""Client addresses behind the PaaS router: trusted hops, or a warning (SPEC §2).

And what counts on that address: the sign-in throttle (SPEC §7).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from landing import create_app
from landing.access import KNOWN_BROWSER, client_key
from landing.proxies import wrap

from conftest import AUTH, PASSWORD, rt, settings_env

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


# -- the sign-in throttle, counted per client address ---------------------------


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


WRONG = basic("admin", "wrong")


def sign_in(client: FlaskClient, address: str, headers: dict[str, str] = AUTH) -> int:
    response = client.get(
        "/api/campaigns", headers=headers, environ_overrides={"REMOTE_ADDR": address}
    )
    return response.status_code


def test_a_guesser_never_locks_out_a_correct_password_from_elsewhere(
    client: FlaskClient,
) -> None:
    codes = [sign_in(client, "10.0.0.1", WRONG) for _ in range(20)]
    assert codes == [401] * 10 + [429] * 10
    assert sign_in(client, "10.0.0.2") == 200


def test_a_browser_that_signed_in_before_is_not_locked_out_by_a_guesser(
    app: Flask,
) -> None:
    marketer, guesser = app.test_client(), app.test_client()
    # The marketer and the guesser share one address (an office NAT, or a
    # router whose hop is not trusted).
    assert sign_in(marketer, "10.0.0.1") == 200
    assert marketer.get_cookie(KNOWN_BROWSER) is not None
    for _ in range(20):
        sign_in(guesser, "10.0.0.1", WRONG)
    assert sign_in(guesser, "10.0.0.1", WRONG) == 429
    assert sign_in(marketer, "10.0.0.1") == 200
    # Deliberate: a correct password in a browser never seen before, from the
    # address that is guessing, waits like every other try from there. A 200
    # would tell the guesser which of its tries was right.
    assert sign_in(guesser, "10.0.0.1") == 429


def test_the_known_browser_cookie_never_signs_anyone_in(app: Flask) -> None:
    marketer = app.test_client()
    response = marketer.get(
        "/api/campaigns", headers=AUTH, environ_overrides={"REMOTE_ADDR": "10.0.0.3"}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert PASSWORD not in cookie
    assert sign_in(marketer, "10.0.0.3", {}) == 401
    assert sign_in(marketer, "10.0.0.3", WRONG) == 401
    forged = app.test_client()
    forged.set_cookie(KNOWN_BROWSER, "known")
    for _ in range(10):
        sign_in(forged, "10.0.0.4", WRONG)
    assert sign_in(forged, "10.0.0.4") == 429  # an unsigned cookie is no one's


def test_a_new_password_forgets_every_known_browser(
    redis_url: str, tmp_path: Path
) -> None:
    def app_with(password: str) -> Flask:
        return create_app(
            settings_env(redis_url, tmp_path, DASHBOARD_PASSWORD=password)
        )

    old, new = app_with(PASSWORD), app_with("a brand new password")
    try:
        browser = old.test_client()
        assert sign_in(browser, "10.0.0.5") == 200
        cookie = browser.get_cookie(KNOWN_BROWSER)
        assert cookie is not None
        moved = new.test_client()
        moved.set_cookie(KNOWN_BROWSER, cookie.value)
        for _ in range(10):
            sign_in(moved, "10.0.0.5", WRONG)
        assert sign_in(moved, "10.0.0.5", basic("admin", "a brand new password")) == 429
    finally:
        rt(old).journal.close()
        rt(new).journal.close()


@pytest.mark.parametrize("credentials", [("admin", ""), ("", "")], ids=["admin:", ":"])
def test_empty_passwords_are_refused(
    client: FlaskClient, credentials: tuple[str, str]
) -> None:
    response = client.get("/api/campaigns", headers=basic(*credentials))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.fixture
def routed(redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app behind one trusted router hop."""
    app = create_app(settings_env(redis_url, tmp_path, TRUSTED_PROXY_HOPS="1"))
    yield app
    rt(app).journal.close()


def test_the_throttle_counts_the_client_behind_the_router_not_the_router(
    routed: Flask,
) -> None:
    client = routed.test_client()

    def via_router(customer: str, headers: dict[str, str]) -> int:
        response = client.get(
            "/api/campaigns",
            headers=headers | {"X-Forwarded-For": customer},
            environ_overrides={"REMOTE_ADDR": ROUTER},
        )
        return response.status_code

    for _ in range(12):
        via_router("203.0.113.1", WRONG)
    assert via_router("203.0.113.1", WRONG) == 429
    assert via_router("203.0.113.2", AUTH) == 200


def test_one_throttle_serves_the_whole_app(client: FlaskClient, app: Flask) -> None:
    sign_in(client, "10.0.0.6", WRONG)
    throttle = app.extensions["landing_logins"]
    sign_in(client, "10.0.0.6", WRONG)
    assert app.extensions["landing_logins"] is throttle
    assert len(throttle._failures["10.0.0.6"]) == 2


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", ""),
    ],
)
def test_failures_count_per_address_and_per_ipv6_64(address: str, key: str) -> None:
    assert client_key(address) == key


def test_an_ipv6_guesser_cannot_step_around_the_throttle(client: FlaskClient) -> None:
    for i in range(10):
        sign_in(client, f"2001:db8:5:6::{i + 1:x}", WRONG)
    assert sign_in(client, "2001:db8:5:6::ff", WRONG) == 429
    assert sign_in(client, "2001:db8:5:7::1") == 200  # another customer line
