"""Redis commands and scripts; no Flask import and no key name of its own.

Every key comes from keys.py. Each write is one Lua script call: one round
trip, atomic.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from landing import keys
from landing.breaker import Breaker, guarded
from landing.events import Outcome

Metrics = dict[str, int]
# Range sums kept per process: a few dashboards' views (each up to a few MB
# with 10,000 campaigns).
SUMS_KEPT = 8
# Any error from the store: views answer 503 for these, never 500.
StoreError = redis.RedisError


def _script(name: str) -> str:
    """A script with what every script shares: keys.py's KEY table, common.lua."""
    common = files("landing").joinpath("common.lua").read_text()
    own = files("landing").joinpath(name).read_text()
    return keys.lua_prelude() + common + "\n" + own


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
        return int(cast(str | None, self.redis.get(keys.version(mode))) or 0)

    @guarded
    def live_view(self, mode: str, view: str) -> tuple[int, Build | None]:
        """The mode's version and the view's last build, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.version(mode))
        pipe.hgetall(keys.view(mode, view))
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
        key = keys.view_claim(mode, view)
        return bool(self.redis.set(key, "1", nx=True, px=milliseconds))

    @guarded
    def keep_view(self, mode: str, view: str, build: Build, seconds: int) -> None:
        """Share a build of the view; it is dropped when nobody polls it."""
        key = keys.view(mode, view)
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
            return _nest(self._hgetall(keys.board(mode)))
        names = [d.isoformat() for d in days]
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(keys.day_versions(mode), names)
        pipe.hgetall(keys.board_day(mode, names[-1]))
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
        for fields in self._hgetall_many(keys.board_day(mode, d) for d in names):
            _add_flat(flat, fields)
        with self._sums_lock:
            self._sums[key] = flat
            while len(self._sums) > SUMS_KEPT:
                self._sums.popitem(last=False)
        return flat

    def daily(self, mode: str, campaign: str | None = None) -> dict[str, Metrics]:
        """Day → metrics, overall or for one campaign; only days with data."""
        key = keys.daily(mode)
        if campaign is not None:
            key = keys.campaign_daily(mode, campaign)
        return _by_day(self._hgetall(key))

    def campaign(
        self, mode: str, campaign: str, days: Sequence[date] | None
    ) -> CampaignDetail:
        """One campaign's totals, daily series and breakdowns."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.campaign_daily(mode, campaign))
        if days is None:
            pipe.hgetall(keys.campaign(mode, campaign))
        else:
            for d in days:
                pipe.hgetall(keys.campaign_day(mode, campaign, d.isoformat()))
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
        index = keys.sessions(mode)
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
                    pipe.hgetall(keys.session(mode, sid))
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
        return cast(dict[str, str], self.redis.hgetall(keys.session(mode, session_id)))

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

    # -- links --------------------------------------------------------------
    # The link builder's records (SPEC §9). A token hash is read by name by
    # the scripts that attribute payments; everything else only by the views.

    # Values of a code the link builder offers again (source, medium).
    RECENT_KEPT = 20

    @guarded
    def add_link(
        self,
        link_id: str,
        record: Mapping[str, str],
        token: str | None,
        token_fields: Mapping[str, str],
        recent: Mapping[str, str],
    ) -> bool:
        """Keep a new link, its token and the codes it used; False, keeping
        nothing, when the link id or the token is already taken."""
        now = _now_ms()
        link_key = keys.link(link_id)
        if not self.redis.hsetnx(link_key, "created", now):
            return False
        if token is not None and not self.redis.hsetnx(
            keys.token(token), "link", link_id
        ):
            self.redis.delete(link_key)
            return False
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(link_key, mapping={k: v for k, v in record.items()})
        if token is not None:
            pipe.hset(
                keys.token(token), mapping={k: v for k, v in token_fields.items()}
            )
        pipe.zadd(keys.links(), {link_id: now})
        for dim, value in recent.items():
            pipe.zadd(keys.link_recent(dim), {value: now})
            pipe.zremrangebyrank(keys.link_recent(dim), 0, -self.RECENT_KEPT - 1)
        pipe.execute()
        return True

    @guarded
    def confirm_campaign(self, mode: str, campaign: str) -> None:
        """A registered link confirms its campaign (SPEC §4, §9).

        Placeholder: records the campaign only; the store's own confirmation
        (which makes its numbers permanent) replaces this body.
        """
        self.redis.sadd(keys.registered(mode), campaign)

    @guarded
    def link(self, link_id: str) -> dict[str, str]:
        """One link's record; empty when there is none."""
        return cast(dict[str, str], self.redis.hgetall(keys.link(link_id)))

    @guarded
    def links(self, limit: int) -> list[dict[str, str]]:
        """The newest links first, each record with its ``id``."""
        ids = cast(list[str], self.redis.zrevrange(keys.links(), 0, limit - 1))
        pipe = self.redis.pipeline(transaction=False)
        for link_id in ids:
            pipe.hgetall(keys.link(link_id))
        records = cast(list[dict[str, str]], pipe.execute())
        return [
            {"id": link_id, **record}
            for link_id, record in zip(ids, records, strict=True)
            if record
        ]

    @guarded
    def token(self, token: str) -> dict[str, str]:
        """What a link token stands for; empty when it is not one of ours."""
        return cast(dict[str, str], self.redis.hgetall(keys.token(token)))

    @guarded
    def recent_codes(self, dim: str, limit: int = RECENT_KEPT) -> list[str]:
        """The values of a code (source, medium) links used, latest first."""
        key = keys.link_recent(dim)
        return cast(list[str], self.redis.zrevrange(key, 0, limit - 1))

    @guarded
    def link_domains(self) -> list[str]:
        return sorted(cast(set[str], self.redis.smembers(keys.link_domains())))

    @guarded
    def add_link_domain(self, domain: str) -> None:
        self.redis.sadd(keys.link_domains(), domain)

    @guarded
    def remove_link_domain(self, domain: str) -> bool:
        return bool(self.redis.srem(keys.link_domains(), domain))


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
