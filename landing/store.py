"""Every Redis key and command the product uses; no Flask import.

Keys (``{m}`` is ``live`` or ``test``, ``{c}`` a campaign, ``{d}`` a day in
REPORT_TIMEZONE as YYYY-MM-DD; counters are hashes of integers, and a field
that falls to zero is deleted):

- ``landing:{m}:board``            ``{c}|{metric}``: all-time scoreboard
- ``landing:{m}:board:{d}``        ``{c}|{metric}``: one day's scoreboard
- ``landing:{m}:daily``            ``{d}|{metric}``: all campaigns, per day
- ``landing:{m}:campaign:{c}``     ``{dim}|{value}|{metric}``: breakdowns
- ``landing:{m}:campaign:{c}:{d}`` the same for one day
- ``landing:{m}:campaign:{c}:daily`` ``{d}|{metric}``: the campaign per day
- ``landing:{m}:session:{id}``     one checkout session (expires after
  SESSION_RETENTION_DAYS): its landing's codes and its outcome
- ``landing:{m}:sessions``         sorted set: session id by first sighting (ms)
- ``landing:{m}:visitor:{digest}`` a session-less landing, for 30 minutes
- ``landing:{m}:version``          bumped on every change (the API's ETag)
- ``landing:{m}:view:{digest}``    a dashboard's live part as last built, shared
  by every server process polling that view: version, etag, type, body
- ``landing:{m}:view:{digest}:claim`` held (for a moment) by whoever rebuilds it
- ``landing:{m}:day-versions``     ``{d}``: bumped when that day's counters change
- ``landing:ratelimit:{digest}:{minute}`` landings one client added

Metrics: ``landings``, ``conversions``, ``pending``, ``failed`` and
``revenue:{currency}`` (minor units). Dims: source, medium, content, term and
payment_link. Each write is one Lua script call: one round trip, atomic.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from typing import Any, ParamSpec, TypeVar, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from landing.events import Outcome

PREFIX = "landing:"
Metrics = dict[str, int]
# Range sums kept per process: a few dashboards' views (each up to a few MB
# with 10,000 campaigns).
SUMS_KEPT = 8
# Any error from the store: views answer 503 for these, never 500.
StoreError = redis.RedisError
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
        except BaseException:
            # The store answered (an error reply such as OOM): no outage.
            # Unrecorded, a half-open breaker would stay open for good.
            breaker.record(ok=True)
            raise
        finally:
            breaker.release()
        breaker.record(ok=True)
        return result

    return wrapped


def _script(name: str) -> str:
    common = files("landing").joinpath("common.lua").read_text()
    return common + "\n" + files("landing").joinpath(name).read_text()


def connect(url: str, *, tls_verify: bool = True) -> redis.Redis:
    """One client per process, shared by threads; bounded waits everywhere."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 1.0,
        "socket_timeout": 2.0,
        "health_check_interval": 15,
        # One quick retry rides over a connection Redis dropped on restart;
        # more would only make a caller wait longer for an outage's answer.
        # Only on connection errors: a timeout means the store hangs, and
        # retrying it (and the new connection's handshake) made one call
        # wait 4-8 s instead of socket_timeout.
        "retry": Retry(
            ExponentialBackoff(cap=0.2, base=0.05),
            1,
            supported_errors=(redis.ConnectionError,),
        ),
    }
    if url.startswith("rediss://") and not tls_verify:
        # Managed add-ons present self-signed certificates.
        options["ssl_cert_reqs"] = "none"
        options["ssl_check_hostname"] = False
    return redis.Redis.from_url(url, **options)


@dataclass(frozen=True)
class Build:
    """A rendered live view kept in the store for every server process."""

    version: int  # the mode's version read before it was built
    etag: str
    content_type: str
    body: str


@dataclass(frozen=True)
class CampaignDetail:
    """One campaign's raw counters: totals, per day, per breakdown value."""

    totals: Metrics
    daily: dict[str, Metrics]
    breakdown: dict[str, dict[str, Metrics]]


class Store:
    """The product's data in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        retention_days: int = 90,
        breaker: Breaker | None = None,
    ) -> None:
        self.redis = client
        self.breaker = breaker or Breaker()
        self._sums: OrderedDict[tuple[Any, ...], dict[str, int]] = OrderedDict()
        self._sums_lock = threading.Lock()
        self.retention_seconds = retention_days * 86400
        self._landings = client.register_script(_script("landings.lua"))
        self._outcome = client.register_script(_script("outcome.lua"))

    # -- writes -------------------------------------------------------------

    @guarded
    def record_landings(
        self, landings: Sequence[Mapping[str, Any] | str], rate_limit: int
    ) -> list[str]:
        """Count journal entries (dicts, or their JSON text as the journal
        keeps it); one round trip for the whole batch."""
        if not landings:
            return []
        args: list[Any] = [_now_ms(), self.retention_seconds, rate_limit]
        args += [
            e if isinstance(e, str) else json.dumps(e, separators=(",", ":"))
            for e in landings
        ]
        return cast(list[str], self._landings(args=args))

    @guarded
    def record_outcome(self, outcome: Outcome, day: date) -> str:
        """Apply one verified event; returns counted, changed or unchanged."""
        result = self._outcome(
            args=[
                outcome.mode,
                outcome.session_id,
                outcome.status,
                outcome.amount_total,
                outcome.currency,
                outcome.payment_link,
                outcome.client_reference_id,
                day.isoformat(),
                outcome.created * 1000,
                _now_ms(),
                self.retention_seconds,
            ]
        )
        return cast(str, result)

    # -- reads --------------------------------------------------------------

    @guarded
    def ping(self) -> bool:
        return bool(self.redis.ping())

    @guarded
    def version(self, mode: str) -> int:
        """Changes whenever any number of this mode changes."""
        return int(cast(str | None, self.redis.get(f"{PREFIX}{mode}:version")) or 0)

    @guarded
    def live_view(self, mode: str, view: str) -> tuple[int, Build | None]:
        """The mode's version and the view's last build, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(f"{PREFIX}{mode}:version")
        pipe.hgetall(f"{PREFIX}{mode}:view:{view}")
        version, fields = pipe.execute()
        build = None
        complete = {"etag", "type", "body"} <= fields.keys()
        if complete and fields.get("version", "").isdigit():  # else: rebuild it
            build = Build(
                version=int(fields["version"]),
                etag=fields["etag"],
                content_type=fields["type"],
                body=fields["body"],
            )
        return int(version or 0), build

    @guarded
    def claim_view(self, mode: str, view: str, milliseconds: int) -> bool:
        """True for one caller per `milliseconds`: that one rebuilds the view."""
        key = f"{PREFIX}{mode}:view:{view}:claim"
        return bool(self.redis.set(key, "1", nx=True, px=milliseconds))

    @guarded
    def keep_view(self, mode: str, view: str, build: Build, seconds: int) -> None:
        """Share a build of the view; it is dropped when nobody polls it."""
        key = f"{PREFIX}{mode}:view:{view}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "version": build.version,
                "etag": build.etag,
                "type": build.content_type,
                "body": build.body,
            },
        )
        pipe.expire(key, seconds)
        pipe.execute()

    def scoreboard(self, mode: str, days: Sequence[date] | None) -> dict[str, Metrics]:
        """Campaign → metrics, all time (days None) or summed over days.

        A range costs one round trip in the steady state: the days before
        the last are summed once and reused until one of them changes (their
        versions say so), so polling "the last 30 days" re-reads only today.
        """
        if days is None:
            return _nest(self._hgetall(f"{PREFIX}{mode}:board"))
        names = [d.isoformat() for d in days]
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(f"{PREFIX}{mode}:day-versions", names)
        pipe.hgetall(f"{PREFIX}{mode}:board:{names[-1]}")
        versions, last = self._run(pipe)
        flat = dict(self._sum_of_days(mode, names[:-1], tuple(versions[:-1])))
        _add_flat(flat, last)
        return _nest(flat)

    def _sum_of_days(
        self, mode: str, names: list[str], versions: tuple[str | None, ...]
    ) -> dict[str, int]:
        """The days' scoreboards added up, kept while none of them changes."""
        if not names:
            return {}
        key = (mode, names[0], names[-1], versions)
        with self._sums_lock:
            if key in self._sums:
                self._sums.move_to_end(key)
                return self._sums[key]
        flat: dict[str, int] = {}
        for fields in self._hgetall_many(f"{PREFIX}{mode}:board:{d}" for d in names):
            _add_flat(flat, fields)
        with self._sums_lock:
            self._sums[key] = flat
            while len(self._sums) > SUMS_KEPT:
                self._sums.popitem(last=False)
        return flat

    def daily(self, mode: str, campaign: str | None = None) -> dict[str, Metrics]:
        """Day → metrics, overall or for one campaign; only days with data."""
        key = f"{PREFIX}{mode}:daily"
        if campaign is not None:
            key = f"{PREFIX}{mode}:campaign:{campaign}:daily"
        return _by_day(self._hgetall(key))

    def campaign(
        self, mode: str, campaign: str, days: Sequence[date] | None
    ) -> CampaignDetail:
        """One campaign's totals, daily series and breakdowns."""
        base = f"{PREFIX}{mode}:campaign:{campaign}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"{base}:daily")
        if days is None:
            pipe.hgetall(base)
        else:
            for d in days:
                pipe.hgetall(f"{base}:{d}")
        daily_fields, *dim_hashes = cast(list[dict[str, str]], self._run(pipe))
        daily = _by_day(daily_fields)
        if days is not None:
            wanted = {d.isoformat() for d in days}
            daily = {d: m for d, m in daily.items() if d in wanted}
        totals: Metrics = {}
        for metrics in daily.values():
            for metric, value in metrics.items():
                _add(totals, metric, value)
        breakdown: dict[str, dict[str, Metrics]] = {}
        for fields in dim_hashes:
            for name, count in fields.items():
                dim, value_name, metric = _split_breakdown(name)
                by_value = breakdown.setdefault(dim, {})
                _add(by_value.setdefault(value_name, {}), metric, count)
        return CampaignDetail(totals=totals, daily=daily, breakdown=breakdown)

    def sessions(
        self, mode: str, start_ms: float, end_ms: float, page: int = 500
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """Sessions first seen in [start_ms, end_ms), page by page.

        Pages follow the score, not an offset: writes trim the index's old
        end while an export runs, and an offset would then skip rows.
        """
        index = f"{PREFIX}{mode}:sessions"
        low = start_ms
        skip: set[str] = set()  # already sent, at the score `low`
        while True:
            want = page + len(skip)
            batch = cast(
                list[tuple[str, float]],
                self.redis.zrangebyscore(
                    index, low, f"({end_ms}", start=0, num=want, withscores=True
                ),
            )
            fresh = [sid for sid, _ in batch if sid not in skip]
            if fresh:
                pipe = self.redis.pipeline(transaction=False)
                for sid in fresh:
                    pipe.hgetall(f"{PREFIX}{mode}:session:{sid}")
                for sid, record in zip(fresh, pipe.execute(), strict=True):
                    if record:  # expired since the index was read
                        yield sid, record
            if len(batch) < want:
                return
            last = batch[-1][1]
            if last != low:
                skip = set()
            low = last
            skip.update(sid for sid, score in batch if score == last)

    @guarded
    def session(self, mode: str, session_id: str) -> dict[str, str]:
        return cast(
            dict[str, str], self.redis.hgetall(f"{PREFIX}{mode}:session:{session_id}")
        )

    # -- helpers ------------------------------------------------------------
    # Reads take a bulkhead slot only while they wait on the store; adding up
    # what came back happens after, so a big scoreboard's arithmetic never
    # makes other threads' quick calls find every slot taken.

    @guarded
    def _run(self, pipe: redis.client.Pipeline) -> list[Any]:
        return pipe.execute()

    @guarded
    def _hgetall(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], self.redis.hgetall(key))

    def _hgetall_many(self, keys: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return cast(list[dict[str, str]], self._run(pipe))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _add(metrics: Metrics, metric: str, value: str | int) -> None:
    metrics[metric] = metrics.get(metric, 0) + int(value)


def _add_flat(into: dict[str, int], fields: Mapping[str, str]) -> None:
    for name, value in fields.items():
        into[name] = into.get(name, 0) + int(value)


def _nest(flat: Mapping[str, str | int]) -> dict[str, Metrics]:
    """``{campaign}|{metric}`` fields → campaign → metric → count."""
    out: dict[str, Metrics] = {}
    for name, value in flat.items():
        campaign, _, metric = name.rpartition("|")
        out.setdefault(campaign, {})[metric] = int(value)
    return out


def _by_day(fields: Mapping[str, str]) -> dict[str, Metrics]:
    out: dict[str, Metrics] = {}
    for name, value in fields.items():
        day, _, metric = name.partition("|")
        _add(out.setdefault(day, {}), metric, value)
    return out


def _split_breakdown(name: str) -> tuple[str, str, str]:
    dim, _, rest = name.partition("|")
    value, _, metric = rest.rpartition("|")
    return dim, value, metric
