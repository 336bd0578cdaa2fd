"""Who may see the numbers: HTTP Basic auth and throttled guessing (SPEC §2, §7)."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from functools import wraps
from time import monotonic
from typing import ParamSpec, TypeVar

from flask import Flask, Response, current_app, request

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

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str) -> list[float]:
        cutoff = monotonic() - self.window
        recent = [t for t in self._failures.get(address, ()) if t > cutoff]
        if recent:
            self._failures[address] = recent
        else:
            self._failures.pop(address, None)  # nothing kept for the innocent
        return recent


def init_app(app: Flask) -> None:
    """One throttle per process, shared by every request."""
    app.extensions["landing_logins"] = LoginThrottle()


def _throttle() -> LoginThrottle:
    throttle: LoginThrottle = current_app.extensions["landing_logins"]
    return throttle


def marketers_only(view: Callable[P, R]) -> Callable[P, R | Response]:
    """HTTP Basic auth with a constant-time check (SPEC §2, §7)."""

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
        address = request.remote_addr or ""
        wait = _throttle().retry_after(address)
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
                _throttle().failed(address)
            return Response(
                "Sign in with the dashboard credentials.\n",
                401,
                {"WWW-Authenticate": 'Basic realm="landing", charset="UTF-8"'},
                mimetype="text/plain",
            )
        _throttle().succeeded(address)
        return view(*args, **kwargs)

    return wrapped
