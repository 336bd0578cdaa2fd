"""The store's circuit breaker and bulkhead: a hanging Redis never holds
every server thread."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis

P = ParamSpec("P")
R = TypeVar("R")


class StoreUnavailable(redis.ConnectionError):
    """The breaker is open: the store failed just now, so we do not wait on it."""


class Breaker:
    """A circuit breaker: after `threshold` failures in a row, fail fast.

    A hanging store would otherwise hold a server thread for every timeout
    (webhooks, dashboards polling each second) until none is left for the
    customers' pages. While open, calls fail at once; after `cooldown` one
    call goes through, and its success closes the breaker by itself.
    """

    def __init__(
        self, threshold: int = 3, cooldown: float = 2.0, max_waiting: int = 4
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        # A bulkhead: at most max_waiting threads of a process wait on the
        # store at once (gunicorn runs 8), so the first seconds of a hang,
        # before the breaker opens, can never hold every thread.
        self._slots = threading.BoundedSemaphore(max_waiting)
        self._failures = 0
        self._open_until = 0.0
        self._trial = False
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self._failures >= self.threshold

    def before(self) -> None:
        """Take a slot, or raise StoreUnavailable at once; release() after."""
        trial = False
        with self._lock:
            if self._failures >= self.threshold:
                if time.monotonic() < self._open_until or self._trial:
                    raise StoreUnavailable(
                        "the store failed just now; not waiting on it"
                    )
                self._trial = trial = True  # half-open: this caller tries
        # A slot frees within milliseconds while the store answers, but its
        # holder may wait that long again for the GIL behind a big build:
        # 0.25 s covers that, and is still far below socket_timeout.
        if not self._slots.acquire(timeout=0.25):
            if trial:
                with self._lock:
                    self._trial = False
            raise StoreUnavailable("enough threads wait on the store already")

    def release(self) -> None:
        self._slots.release()

    def record(self, ok: bool) -> None:
        with self._lock:
            self._trial = False
            if ok:
                self._failures = 0
            else:
                self._failures += 1
                if self._failures >= self.threshold:
                    self._open_until = time.monotonic() + self.cooldown


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Run a Store method through its breaker; only outages count as failures."""

    @functools.wraps(method)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        breaker: Breaker = args[0].breaker  # type: ignore[attr-defined]
        breaker.before()
        try:
            result = method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):
            breaker.record(ok=False)
            raise
        except redis.exceptions.RedisClusterException as error:
            # A cluster client that reaches no node says so in an error of
            # its own: an outage like any other.
            breaker.record(ok=False)
            raise redis.ConnectionError(str(error)) from error
        except BaseException as error:
            # The store answered (an error reply such as OOM): no outage.
            # Unrecorded, a half-open breaker would stay open for good.
            breaker.record(ok=True)
            if isinstance(error, redis.exceptions.MovedError):
                try:
                    args[0].found_cluster()  # type: ignore[attr-defined]
                except Exception as switching:  # the store went away again
                    raise redis.ConnectionError(str(switching)) from error
            raise
        finally:
            breaker.release()
        breaker.record(ok=True)
        return result

    return wrapped
