"""Who may see the numbers: HTTP Basic auth and throttled guessing (SPEC §2, §7)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable
from functools import wraps
from time import monotonic, time
from typing import ParamSpec, TypeVar

from flask import Flask, Response, after_this_request, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

from landing.config import Settings
from landing.runtime import runtime

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class LoginThrottle:
    """Failed sign-ins per client address: after `limit` in `window` s, 429.

    Kept in each process's memory, not in the store: it must work when the
    store is the thing that is down, and a guesser spread over a few workers
    still gets only a few dozen tries a minute against a long password.
    """

    def __init__(self, limit: int = 10, window: float = 60.0, size: int = 10_000):
        self.limit = limit
        self.window = window
        self.size = size
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds this address must wait, 0 when it may try."""
        with self._lock:
            recent = self._recent(address)
            if len(recent) < self.limit:
                return 0
            return max(1, int(recent[0] + self.window - monotonic()) + 1)

    def failed(self, address: str) -> None:
        with self._lock:
            if len(self._failures) >= self.size and address not in self._failures:
                self._failures.pop(next(iter(self._failures)))  # forget the oldest
            recent = self._recent(address)
            recent.append(monotonic())
            self._failures[address] = recent

    def _recent(self, address: str) -> list[float]:
        cutoff = monotonic() - self.window
        recent = [t for t in self._failures.get(address, ()) if t > cutoff]
        if recent:
            self._failures[address] = recent
        else:
            self._failures.pop(address, None)  # nothing kept for the innocent
        return recent


THROTTLE = "landing_logins"  # app.extensions key: one throttle per app
KNOWN_BROWSER = "landing_known_browser"  # the cookie's name
KNOWN_FOR = 30 * 24 * 3600  # seconds a browser stays known without signing in
RENEW_AFTER = 24 * 3600  # a known browser's cookie is renewed once a day


def init_app(app: Flask) -> None:
    """Give the app its one sign-in throttle (made on first use otherwise)."""
    app.extensions.setdefault(THROTTLE, LoginThrottle())


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle | None = current_app.extensions.get(THROTTLE)
    if throttle is None:  # setdefault: two first requests still share one
        throttle = current_app.extensions.setdefault(THROTTLE, LoginThrottle())
    return throttle


def client_key(address: str) -> str:
    """What failures are counted by: the address, or its /64 for IPv6.

    One IPv6 customer line gets a whole /64, so a guesser can change address
    on every try inside it.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _known_browsers(settings: Settings) -> URLSafeTimedSerializer:
    # The salt binds each cookie to the current credentials: a new password
    # (or SECRET_KEY) forgets every browser. The salt is never sent anywhere.
    credentials = f"{settings.dashboard_user}\0{settings.dashboard_password}"
    digest = hashlib.sha256(credentials.encode()).hexdigest()
    return URLSafeTimedSerializer(
        settings.secret_key, salt=f"landing.access.known-browser.{digest}"
    )


def _known_since(settings: Settings) -> float | None:
    """When this browser last signed in correctly (its signed cookie), if ever."""
    token = request.cookies.get(KNOWN_BROWSER)
    if not token:
        return None
    try:
        _, signed_at = _known_browsers(settings).loads(
            token, max_age=KNOWN_FOR, return_timestamp=True
        )
    except BadData:
        return None
    return float(signed_at.timestamp())


def _remember_browser(settings: Settings) -> None:
    token = _known_browsers(settings).dumps("known")

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            KNOWN_BROWSER,
            token,
            max_age=KNOWN_FOR,
            secure=request.is_secure,
            httponly=True,
            samesite="Strict",
        )
        return response


def marketers_only(view: Callable[P, R]) -> Callable[P, R | Response]:
    """HTTP Basic auth with a constant-time check (SPEC §2, §7).

    Failed sign-ins are throttled per client address (request.remote_addr,
    the customer's own once TRUSTED_PROXY_HOPS is right). Over the limit,
    every try from that address gets 429 before its credentials are looked
    at: answering a correct password with 200 there would tell a guesser
    which try was right, and the limit would limit nothing. A correct
    password is never refused because of other addresses' failures, nor in
    a browser that has signed in correctly before (a signed cookie, renewed
    daily, kept 30 days): a guesser behind the same router or office NAT
    cannot lock the marketers out. The cookie only lifts the throttle; it
    never signs anyone in.
    """

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        settings = runtime().settings
        if not settings.dashboard_password:
            return Response(
                "The dashboard is closed: set DASHBOARD_PASSWORD (and optionally "
                "DASHBOARD_USER, default admin) in this server's environment.\n",
                503,
                mimetype="text/plain",
            )
        throttle = _throttle()
        address = client_key(request.remote_addr or "")
        known_since = _known_since(settings)
        wait = 0 if known_since is not None else throttle.retry_after(address)
        if wait:
            log.warning("dashboard sign-in refused: too many failures from one address")
            return Response(
                "Too many failed sign-ins; try again shortly.\n",
                429,
                {"Retry-After": str(wait)},
                mimetype="text/plain",
            )
        auth = request.authorization
        given_user = auth.username if auth and auth.type == "basic" else None
        given_password = auth.password if auth and auth.type == "basic" else None
        # Compare both, always, so timing says nothing about which was wrong.
        user_ok = hmac.compare_digest(
            (given_user or "").encode(), settings.dashboard_user.encode()
        )
        password_ok = hmac.compare_digest(
            (given_password or "").encode(), settings.dashboard_password.encode()
        )
        if not (user_ok and password_ok) or given_user is None:
            if auth is not None:  # a browser's first, credential-less try is free
                throttle.failed(address)
            return Response(
                "Sign in with the dashboard credentials.\n",
                401,
                {"WWW-Authenticate": 'Basic realm="landing", charset="UTF-8"'},
                mimetype="text/plain",
            )
        # A correct sign-in does not wipe the address's failures: behind a
        # shared address that would hand a guesser a fresh allowance every
        # time the dashboard polls. They expire by themselves.
        if known_since is None or time() - known_since > RENEW_AFTER:
            _remember_browser(settings)
        return view(*args, **kwargs)

    return wrapped
