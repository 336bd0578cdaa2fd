"""Redis commands and scripts; no Flask import and no key name of its own.

Every key comes from keys.py. Each write is one Lua script call: one round
trip, atomic.
"""

from __future__ import annotations

import heapq
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from importlib.resources import files
from typing import Any, cast
from zoneinfo import ZoneInfo

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from landing import keys
from landing.breaker import Breaker, guarded
from landing.events import (
    Dispute,
    Expiry,
    Outcome,
    Parsed,
    Refund,
    Renewal,
    SubscriptionEnded,
)
from landing.linkrules import is_token
from landing.period import utc_offset

log = logging.getLogger(__name__)

Metrics = dict[str, int]
# What a script takes in ARGV.
Arg = str | int
# Where a count goes in time: a day, or ``{day}@{hour}`` (period.when_of).
When = date | str
# Range sums kept per process: a few dashboards' views (each up to a few MB
# with 10,000 campaigns).
SUMS_KEPT = 8
# Boards (all time, or a range) whose last read is kept per process to
# nest the next read from it: about what a few dashboards watch.
BOARDS_KEPT = 4
# Days whose fields a kept board holds to be patched from when only they
# change: today, and yesterday's or a refund's day for a while.
HELD_DAYS = 3
# Unconfirmed campaigns read for the scoreboard, latest landing first. With
# webhooks a real campaign is unconfirmed only for the moments until its
# first payment's event: a few show at once, and a flood of made-up ones
# costs the board a small bounded read. Without webhooks nothing can confirm
# a campaign, so the board reads many more.
UNCONFIRMED_SHOWN = 25
UNCONFIRMED_SHOWN_WITHOUT_WEBHOOKS = 1000
# The builder process's mark among the watched views (never a URL).
BUILDER = "builder"
SCRIPTS = ("landings", "outcome", "refund", "renewal", "expired", "campaigns", "apply")
# What landings.lua names a missing code (common.lua's NONE).
NONE = "(none)"
# Campaigns whose days or new names (_learn) a process remembers.
SAID_KEPT = 4096
# Any error from the store: views answer 503 for these, never 500.
StoreError = redis.RedisError


def _script(name: str) -> str:
    """A script with what every script shares: keys.py's KEY table, common.lua."""
    common = files("landing").joinpath("common.lua").read_text()
    own = files("landing").joinpath(name).read_text()
    return keys.lua_prelude() + common + "\n" + own


# A single Redis or Valkey, or a Redis Cluster / Valkey cluster (the server
# says which: connect()). Every call the store makes works on both.
Client = redis.Redis | redis.RedisCluster


def _options(url: str, tls_verify: bool) -> dict[str, Any]:
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
    return options


def connect(url: str, *, tls_verify: bool = True) -> Client:
    """One client per process, shared by threads; bounded waits everywhere.

    A cluster node is recognised by what the server says (``INFO cluster``),
    so the same REDIS_URL setting serves both; a store that does not answer
    now is taken for a single node (a Store given the URL asks again before
    its first write: Store._check_kind).
    """
    client = node_client(url, tls_verify=tls_verify)
    if not _is_cluster(client):
        return client
    client.close()
    return cluster_client(url, tls_verify=tls_verify)


def node_client(url: str, *, tls_verify: bool = True) -> redis.Redis:
    """A client of one server, with the product's settings."""
    return redis.Redis.from_url(url, **_options(url, tls_verify))


def cluster_client(url: str, *, tls_verify: bool = True) -> redis.RedisCluster:
    """A cluster client from any node's URL: it discovers the others."""
    options = _options(url, tls_verify)
    options.pop("health_check_interval")
    # A cluster database is always 0; a /0 in the URL is fine, others are not.
    return redis.RedisCluster.from_url(url, **options)


def _is_cluster(client: redis.Redis, *, away_is_node: bool = True) -> bool:
    """Whether the server says it is a cluster node; one that does not
    answer is taken for a single node, or its error is raised."""
    try:
        info = client.info("cluster")
    except redis.RedisError:
        if away_is_node:
            return False
        raise
    return bool(info.get("cluster_enabled"))


@dataclass(frozen=True)
class Build:
    """A rendered live view kept in the store for every server process."""

    version: int  # the mode's version read before it was built
    etag: str
    content_type: str
    body: str
    built: int = 0  # when it began (ms): its numbers are at least that new


@dataclass(frozen=True)
class LiveView:
    """What a request for a shared view reads: the mode's version, the
    view's last build, and when a builder process last made a pass (ms,
    0 when none runs)."""

    version: int
    build: Build | None
    builder: int
    newly_watched: bool = False  # the view was not on the builder's list


@dataclass(frozen=True)
class Unconfirmed:
    """The unconfirmed campaigns a board shows: when each one's numbers
    expire (ms), how many there are in all, and the shown ones' numbers by
    day."""

    expires: dict[str, float]
    total: int
    daily: dict[str, dict[str, Metrics]]


@dataclass(frozen=True)
class Versions:
    """What a kept board read is as of: the store's epoch (None when it
    cannot be told), and each day's version as (day, version)."""

    epoch: str | None
    days: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class BoardRead:
    """A view's last board read, kept by the process (Store.scoreboard):
    its flat fields, nested; the day versions it is as of; and the flat
    fields of the days that changed last
    (today, mostly), which the board is patched from when only they change
    again."""

    flat: Mapping[str, str | int]
    board: dict[str, Metrics]
    at: Versions
    days: Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class CampaignDetail:
    """One campaign's raw counters: totals, per day, per breakdown value."""

    totals: Metrics
    daily: dict[str, Metrics]
    breakdown: dict[str, dict[str, Metrics]]


@dataclass(frozen=True)
class Asked:
    """What a script asked to be declared (common.lua's all_known), and
    what it said of campaigns: the names they resolved to (given → name),
    unconfirmed campaigns' days."""

    keys: list[str]
    names: dict[str, str]
    days: dict[str, list[str]]


class Store:
    """The product's data in Redis."""

    def __init__(
        self,
        client: Client,
        retention_days: int = 90,
        breaker: Breaker | None = None,
        unconfirmed_days: int = 14,
        zone: ZoneInfo | None = None,
        unconfirmed_shown: int = UNCONFIRMED_SHOWN,
        url: str | None = None,
        tls_verify: bool = True,
    ) -> None:
        self.breaker = breaker or Breaker()
        # To make a cluster client later, if the store was away at start.
        self._url, self._tls_verify = url, tls_verify
        self._switch_lock = threading.Lock()
        self._drainer: threading.Thread | None = None
        self._drainer_lock = threading.Lock()
        self._drainer_stop = threading.Event()
        # Link tokens never change once written: what one stands for (or
        # that a reference is none of ours) is kept here, not read per event.
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._tokens_lock = threading.Lock()
        # What a cluster's counter scripts said of campaigns beyond what
        # their ops tell (_learn): an unconfirmed campaign's days, by (mode,
        # campaign); a renamed campaign's new name, by (mode, name ops give).
        self._days: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._names: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._said_lock = threading.Lock()
        # How often a script asked for keys beyond those declared (each is
        # one more round trip): rare after a campaign's first calls.
        self.keys_asked = 0
        self._sums: OrderedDict[tuple[Any, ...], dict[str, int]] = OrderedDict()
        self._sums_lock = threading.Lock()
        # The last board read for each view (scoreboard, _board), and the
        # highest version of each mode seen (_read_versions).
        self._boards: OrderedDict[tuple[str, ...], BoardRead] = OrderedDict()
        self._high: dict[str, int] = {}
        self.retention_seconds = retention_days * 86400
        self.unconfirmed_seconds = unconfirmed_days * 86400
        self.zone = zone or ZoneInfo("UTC")
        self.unconfirmed_shown = unconfirmed_shown
        self._use(client)
        # A single node applies counters in each script's own call, which a
        # cluster refuses half-way: until the server has said which it is
        # (connect() asks, but the store may have been away), nothing is
        # written (_check_kind).
        self._kind_checked = url is None or self.is_cluster

    def _use(self, client: Client) -> None:
        scripts = {
            name: client.register_script(_script(f"{name}.lua")) for name in (*SCRIPTS,)
        }
        self._landings = scripts["landings"]
        self._outcome = scripts["outcome"]
        self._refund = scripts["refund"]
        self._renewal = scripts["renewal"]
        self._expired = scripts["expired"]
        self._campaigns = scripts["campaigns"]
        self._apply_script = scripts["apply"]
        self.redis = client  # last: is_cluster turns with the scripts ready

    @property
    def is_cluster(self) -> bool:
        return isinstance(self.redis, redis.RedisCluster)

    def found_cluster(self) -> None:
        """The store answered MOVED: it is a cluster that was away when this
        client was made. Use a cluster client from now on (the call that
        found out fails once, like any store error: the journal and Stripe
        retry it)."""
        if self._url is None or self.is_cluster:
            return
        with self._switch_lock:
            if not self.is_cluster:
                self._use(cluster_client(self._url, tls_verify=self._tls_verify))
            self._kind_checked = True
        self.start_drainer()

    def _check_kind(self) -> None:
        """Before the first write: ask the server whether it is a cluster,
        if nobody could yet (it was away when the app started). Raises the
        store's error while it is still away, so nothing is written half."""
        if self._kind_checked:
            return
        if _is_cluster(cast(redis.Redis, self.redis), away_is_node=False):
            self.found_cluster()
        self._kind_checked = True

    def _lifetimes(self) -> list[Arg]:
        """What every script's ARGV ends with: now, and how long things live."""
        return [_now_ms(), self.retention_seconds, self.unconfirmed_seconds]

    # -- writes -------------------------------------------------------------

    @guarded
    def record_landings(
        self, landings: Sequence[Mapping[str, Any] | str], rate_limit: int
    ) -> list[str]:
        """Count journal entries (dicts, or their JSON text as the journal
        keeps it); words: counted, duplicate or limited.

        A single node takes the batch in one round trip (a script call per
        mode; a batch is nearly always of one). A cluster takes one call per
        session shard the batch touches and one for its visitors, then one
        to apply the shards' counter changes to the mode's slot (apply.lua)."""
        if not landings:
            return []
        self._check_kind()
        now, retention, unconfirmed = self._lifetimes()
        # The hours of a batch's landings: they arrived within moments of
        # each other (a replay after an outage aside), so one offset serves.
        offset = utc_offset(self.zone, time.time())
        head: list[Arg] = [now, retention, rate_limit, unconfirmed, offset]
        groups: dict[tuple[str, str | None], list[int]] = {}
        texts: list[str] = []
        parsed: list[Mapping[str, Any]] = []
        cluster = self.is_cluster
        for i, entry in enumerate(landings):
            data = json.loads(entry) if isinstance(entry, str) else entry
            parsed.append(data)
            texts.append(
                entry
                if isinstance(entry, str)
                else json.dumps(entry, separators=(",", ":"))
            )
            mode, sid = str(data.get("mode")), data.get("sid")
            shard = (
                keys.shard_for(mode, sid) if cluster and isinstance(sid, str) else None
            )
            groups.setdefault((mode, shard), []).append(i)
        results: list[str] = [""] * len(texts)
        if not cluster:
            # A call per mode (a batch is nearly always of one): no pipeline,
            # which redis-py would open with a SCRIPT EXISTS round trip.
            for (mode, _), indexes in groups.items():
                args = [*head, "node", *(texts[i] for i in indexes)]
                words = self._landings(keys=[keys.version(mode)], args=args)
                for i, word in zip(indexes, words, strict=True):
                    results[i] = word
            return results
        # A cluster: each shard's landings, and each mode's visitors (in the
        # mode's slot, applied there), in one pipeline per node.
        calls: list[tuple[list[str], list[Arg]]] = []
        for (mode, shard), indexes in groups.items():
            batch = [texts[i] for i in indexes]
            if shard is None:
                visits = [_visit_op(parsed[i]) for i in indexes]
                declared = [
                    keys.version(mode),
                    *self._counter_keys(mode, [(visits, rate_limit)]),
                ]
                calls.append((declared, [*head, "counters", *batch]))
            else:
                sessions = {keys.session(mode, parsed[i]["sid"]) for i in indexes}
                declared = [*keys.shard_keys(shard), *sorted(sessions)]
                calls.append((declared, [*head, "shard", *batch]))
        waiting: list[tuple[list[int], list[str], str, str]] = []
        replies = self._call_each(self._landings, calls)
        for ((_, shard), indexes), reply in zip(groups.items(), replies, strict=True):
            said = reply if shard is None else reply[0]
            for i, word in zip(indexes, said, strict=True):
                results[i] = word
            if shard is not None and len(reply) > 1:
                waiting.append((indexes, reply[0], reply[1], reply[2]))
        if waiting:
            applied = self._apply([(tid, entry) for _, _, tid, entry in waiting])
            for (indexes, shard_words, _, _), words in zip(
                waiting, applied, strict=True
            ):
                fill = iter(words)
                for i, word in zip(indexes, shard_words, strict=True):
                    if word == "":
                        results[i] = next(fill, "counted")
        return results

    def _call_each(
        self, script: Any, calls: Sequence[tuple[list[str], list[Arg]]]
    ) -> list[Any]:
        """Script calls, each in the slot of its first key: on a cluster one
        pipeline per node. redis-py pipelines no script on a cluster, so
        each node's own client sends EVALSHA; a call that finds the script
        missing, or its slot moved, goes again through the cluster client,
        which loads the script and follows the slot."""
        if len(calls) == 1 or not self.is_cluster:
            return [self._declared(script, k, a) for k, a in calls]
        cluster: Any = self.redis  # redis-py types neither call below
        by_node: dict[str, list[int]] = {}
        clients: dict[str, redis.Redis] = {}
        for n, (k, _) in enumerate(calls):
            node = cluster.get_node_from_key(k[0])
            by_node.setdefault(node.name, []).append(n)
            clients[node.name] = node.redis_connection
        out: list[Any] = [None] * len(calls)
        # Through the cluster client, which loads scripts, follows moved
        # slots (MovedError is an AskError) and finds a failed-over master.
        again = (
            redis.exceptions.NoScriptError,
            redis.exceptions.AskError,
            redis.exceptions.TryAgainError,
            redis.ConnectionError,
            redis.TimeoutError,
        )
        for name, picks in by_node.items():
            pipe: Any = clients[name].pipeline(transaction=False)
            for n in picks:
                k, a = calls[n]
                pipe.execute_command("EVALSHA", script.sha, len(k), *k, *a)
            try:
                replies = pipe.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                replies = [error] * len(picks)
            for n, reply in zip(picks, replies, strict=True):
                asked = _missing_keys(reply)
                if isinstance(reply, again) or asked is not None:
                    reply = self._declared(script, calls[n][0], calls[n][1], asked)
                elif isinstance(reply, Exception):
                    raise reply
                out[n] = reply
        return out

    # Calls to make before giving up on a script that keeps asking for keys:
    # each round declares what the last one read (a campaign's name, then
    # its days).
    DECLARE_ROUNDS = 6

    def _declared(
        self,
        script: Any,
        declared: list[str],
        args: list[Arg],
        asked: Asked | None = None,
    ) -> Any:
        """A script call (on a cluster, through the cluster client); when the
        script says which keys it needs besides those declared (common.lua's
        all_known, before it writes anything: `asked`, or its reply), again
        with them. What it says of campaigns (a renamed one's name, an
        unconfirmed one's days) is remembered for their next calls
        (_counter_keys)."""
        declared = list(dict.fromkeys(declared))
        for _ in range(self.DECLARE_ROUNDS):
            if asked is not None:
                declared += self._learn(keys.tag_of(declared[0]), declared, asked)
            try:
                return script(keys=declared, args=args)
            except redis.ResponseError as error:
                asked = _missing_keys(error)
                if asked is None:
                    raise
        raise redis.ResponseError(f"a script kept asking for keys: {asked}"[:300])

    def _learn(self, mode: str, declared: list[str], asked: Asked) -> list[str]:
        """Remember what a script said of campaigns; the keys it asked for
        that are not declared yet."""
        with self._said_lock:
            self.keys_asked += 1
            for given, name in asked.names.items():
                if given == name:
                    self._names.pop((mode, given), None)
                else:
                    self._names[(mode, given)] = name
            for campaign, days in asked.days.items():
                self._days[(mode, campaign)] = days
            while len(self._days) > SAID_KEPT:
                self._days.popitem(last=False)
            while len(self._names) > SAID_KEPT:
                self._names.popitem(last=False)
        have = set(declared)
        return [key for key in asked.keys if key not in have]

    def _counter_keys(
        self, mode: str, batches: Iterable[tuple[Iterable[list[Any]], int]]
    ) -> list[str]:
        """What applying ops (each batch with its landing limit) declares:
        the mode's keys and each op's (keys.op_keys), under the name the
        op's campaign was renamed to and on every day of an unconfirmed
        one, as scripts said before (_learn)."""
        out = keys.mode_keys(mode)
        with self._said_lock:
            for ops, limit in batches:
                for op in ops:
                    if op[0] not in keys.CAMPAIGN_OPS:
                        out += keys.op_keys(mode, op, limit)
                        continue
                    name = self._names.get((mode, str(op[1])), str(op[1]))
                    out += keys.op_keys(mode, [op[0], name, *op[2:]], limit)
                    days = self._days.get((mode, name))
                    if days:
                        self._days.move_to_end((mode, name))
                        for day in days:
                            out += keys.campaign_on(mode, name, day)
        return list(dict.fromkeys(out))

    def _settled(self, reply: Any) -> str:
        """A session-side script's word; on a cluster, its counter changes
        applied first (the webhook is acknowledged only after that)."""
        if isinstance(reply, str):
            return reply
        word, *entry = cast(list[str], reply)
        if entry:
            self._apply([(entry[0], entry[1])])
        return word

    def _apply(self, entries: Sequence[tuple[str, str]]) -> list[list[str]]:
        """Apply outbox entries (transition id, JSON) to the mode's counters
        in one call per mode, then clear them from their shards' outboxes;
        each entry's landing words (empty when it was applied before)."""
        by_mode: dict[str, list[int]] = {}
        decoded = [json.loads(entry) for _, entry in entries]
        for n, entry in enumerate(decoded):
            by_mode.setdefault(entry["mode"], []).append(n)
        out: list[list[str]] = [[] for _ in entries]
        calls: list[tuple[list[str], list[Arg]]] = []
        for mode, picks in by_mode.items():
            args: list[Arg] = [*self._lifetimes()]
            for n in picks:
                args += [entries[n][0], entries[n][1]]
            batches = [
                (decoded[n]["ops"], int(decoded[n].get("limit") or 0)) for n in picks
            ]
            declared = [keys.applied(mode), *self._counter_keys(mode, batches)]
            calls.append((declared, args))
        applied = self._call_each(self._apply_script, calls)
        for picks, replies in zip(by_mode.values(), applied, strict=True):
            for n, raw in zip(picks, replies, strict=True):
                words = json.loads(raw) if raw else []
                out[n] = words if isinstance(words, list) else []
        self._clear([tid for tid, _ in entries])
        return out

    def _clear(self, transitions: Sequence[str]) -> None:
        """Drop applied transitions from their shards' outboxes."""
        pipe = self.redis.pipeline(transaction=False)
        for tid in transitions:
            pipe.hdel(keys.outbox(tid.partition("#")[0]), tid)
        pipe.execute()

    def start_drainer(self, every: float = 0.5) -> None:
        """Drain the outboxes every `every` seconds in a daemon thread, while
        the store is a cluster (once per store; none on a single node)."""
        if not self.is_cluster:
            return
        with self._drainer_lock:
            if self._drainer is not None:
                return
            self._drainer = threading.Thread(
                target=self._drain_forever, args=(every,), name="outbox", daemon=True
            )
            self._drainer.start()

    def stop_drainer(self) -> None:
        self._drainer_stop.set()

    def _drain_forever(self, every: float) -> None:
        while not self._drainer_stop.wait(every):
            try:
                self.drain()
            except Exception as error:  # the store is away: next turn
                log.debug("outbox drain: %s", type(error).__name__)

    DRAIN_BATCH = 50
    # An outbox entry older than this is a crash's or an outage's leftover:
    # the drainer applies it (a write in flight applies its own at once).
    DRAIN_AFTER_MS = 1000

    @guarded
    def drain(self, older_than_ms: int = DRAIN_AFTER_MS) -> int:
        """Apply what the session shards' outboxes still hold (a cluster:
        a process died, or the store failed, between a shard's call and the
        counters'); how many transitions. Idempotent: any process may run it
        at any time. One pipelined read per node."""
        if not self.is_cluster:
            return 0
        shards = [*keys.shards("live"), *keys.shards("test")]
        pipe = self.redis.pipeline(transaction=False)
        for shard in shards:
            pipe.hgetall(keys.outbox(shard))
        limit = _now_ms() - older_than_ms
        stale: list[tuple[str, str]] = []
        for box in cast(list[dict[str, str]], pipe.execute()):
            for tid, entry in box.items():
                if int(json.loads(entry).get("at", 0)) < limit:
                    stale.append((tid, entry))
        # In the order each shard decided them; a bounded call at a time,
        # however long the store was away.
        stale.sort(key=lambda item: _transition_order(item[0]))
        for start in range(0, len(stale), self.DRAIN_BATCH):
            self._apply(stale[start : start + self.DRAIN_BATCH])
        return len(stale)

    def record(self, parsed: Parsed, day: When) -> str:
        """Store what a verified event says; `day` is the event's day in
        REPORT_TIMEZONE, or ``{day}@{hour}`` (period.when_of) to count its
        hour too. Returns the script's word. One script call on a single
        node; on a cluster, the session shard's and the counters'."""
        if isinstance(parsed, Outcome):
            return self.record_outcome(parsed, day)
        if isinstance(parsed, Refund):
            return self.record_refund(parsed, day)
        if isinstance(parsed, Dispute):
            return self.record_dispute(parsed, day)
        if isinstance(parsed, Renewal):
            return self.record_renewal(parsed, day)
        if isinstance(parsed, SubscriptionEnded):
            return self.end_subscription(parsed)
        return self.record_expiry(parsed, day)

    def _place(self) -> str:
        """Where a session's script runs (common.lua's declare): a cluster's
        session shard, or a single node, where it applies its own counter
        changes (and its keys are not all declared: a node has one slot, and
        a session's campaign is not known before its script reads it)."""
        self._check_kind()
        return "shard" if self.is_cluster else "node"

    def _session_keys(self, mode: str, session_id: str, *more: str) -> list[str]:
        """A session-side call's KEYS: the session's first (its slot); on a
        cluster also what the call may touch in the shard."""
        self._check_kind()
        key = keys.session(mode, session_id)
        if not self.is_cluster:
            return [key]
        shard = keys.shard_for(mode, session_id)
        named = [keys.payment(shard, more[0])] if more and more[0] else []
        if len(more) > 1 and more[1]:
            named.append(keys.subscription(shard, more[1]))
        return [key, *keys.shard_keys(shard), *named]

    @guarded
    def record_outcome(self, outcome: Outcome, day: When) -> str:
        """Apply one verified event; returns counted, changed or unchanged."""
        now, retention, unconfirmed = self._lifetimes()
        reply = self._declared(
            self._outcome,
            self._session_keys(
                outcome.mode,
                outcome.session_id,
                outcome.payment_intent,
                outcome.subscription,
            ),
            [
                outcome.mode,
                outcome.session_id,
                outcome.status,
                outcome.amount_total,
                outcome.currency,
                outcome.payment_link,
                outcome.client_reference_id,
                _when(day),
                outcome.created * 1000,
                now,
                retention,
                unconfirmed,
                outcome.payment_intent,
                outcome.subscription,
                self._token_record(outcome.client_reference_id),
                self._place(),
            ],
        )
        return self._settled(reply)

    @guarded
    def record_expiry(self, expiry: Expiry, day: When) -> str:
        """An unpaid session that expired: abandoned, if from a tagged link."""
        args: list[Arg] = [
            expiry.mode,
            expiry.session_id,
            expiry.payment_link,
            expiry.client_reference_id,
            _when(day),
            expiry.created * 1000,
            *self._lifetimes(),
            self._token_record(expiry.client_reference_id),
            self._place(),
        ]
        declared = self._session_keys(expiry.mode, expiry.session_id)
        return self._settled(self._declared(self._expired, declared, args))

    @guarded
    def record_refund(self, refund: Refund, day: When) -> str:
        """A charge's refunds so far; counted, unchanged or pending."""
        return self._money_back(
            refund.mode,
            refund.payment_intent,
            refund.charge_id,
            "refund",
            refund.charge_id,
            refund.amount_refunded,
            day,
        )

    @guarded
    def record_dispute(self, dispute: Dispute, day: When) -> str:
        """A lost dispute takes its amount back; a won one changes nothing."""
        if not dispute.lost:
            return "unchanged"
        return self._money_back(
            dispute.mode,
            dispute.payment_intent,
            dispute.charge_id,
            "dispute",
            dispute.dispute_id,
            dispute.amount,
            day,
        )

    def _money_back(
        self,
        mode: str,
        payment_intent: str,
        charge: str,
        what: str,
        what_id: str,
        amount: int,
        day: When,
    ) -> str:
        args: list[Arg] = [mode, payment_intent, charge, what, what_id, amount]
        args += [_when(day), *self._lifetimes(), self._place()]

        def declared(shard: str, session_id: str | None) -> list[str]:
            # refund.lua's record_in: by PaymentIntent, and by charge.
            named = [keys.payment(shard, charge)]
            if payment_intent:
                named.insert(0, keys.payment(shard, payment_intent))
            if session_id:
                named.append(keys.session(mode, session_id))
            return named

        names = [payment_intent, charge]
        return self._in_shards(mode, keys.payment, names, self._refund, args, declared)

    def _in_shards(
        self,
        mode: str,
        record: Callable[[str, str], str],
        names: Sequence[str],
        script: Any,
        args: list[Arg],
        declared: Callable[[str, str | None], list[str]],
    ) -> str:
        """Run a script that finds a payment's or subscription's record in
        the shard of its session, which the event does not name. A single
        node: one call that looks in every shard. A cluster: one pipelined
        read per node finds the shard and the session, then one call there,
        declaring what `declared(shard, session)` names; when no shard knows
        it yet, each shard keeps the news (a call each), so whichever one its
        session turns out to be in settles it."""
        shards = keys.shards(mode)
        if not self.is_cluster:
            return self._settled(
                script(keys=[keys.outbox(shards[0])], args=[*args, *shards])
            )
        pipe = self.redis.pipeline(transaction=False)
        for shard in shards:
            for name in names:
                pipe.hget(record(shard, name or "-"), "session")
        found = pipe.execute()
        per_shard = len(names)
        home = next(
            (
                (shard, session_id)
                for n, shard in enumerate(shards)
                for session_id in found[n * per_shard : (n + 1) * per_shard]
                if session_id
            ),
            None,
        )
        if home is not None:
            shard, session_id = home
            calls = [
                (keys.shard_keys(shard) + declared(shard, session_id), [*args, shard])
            ]
        else:
            calls = [
                (keys.shard_keys(shard) + declared(shard, None), [*args, shard])
                for shard in shards
            ]
        words = [self._settled(reply) for reply in self._call_each(script, calls)]
        for word in ("counted", "pending", "changed"):
            if word in words:
                return word
        return words[0]

    @guarded
    def record_renewal(self, renewal: Renewal, day: When) -> str:
        """A paid subscription invoice: a renewal, or the first one's payment."""
        args: list[Arg] = [
            renewal.mode,
            "first" if renewal.first else "renewal",
            renewal.subscription,
            renewal.invoice_id,
            renewal.amount_paid,
            renewal.currency,
            renewal.payment_intent or renewal.charge_id,
            _when(day),
            *self._lifetimes(),
            self._place(),
        ]
        payment = renewal.payment_intent or renewal.charge_id

        def declared(shard: str, session_id: str | None) -> list[str]:
            named = [keys.subscription(shard, renewal.subscription)]
            if session_id:
                named.append(keys.session(renewal.mode, session_id))
                if payment:
                    named.append(keys.payment(shard, payment))
            return named

        names = [renewal.subscription]
        return self._in_shards(
            renewal.mode, keys.subscription, names, self._renewal, args, declared
        )

    @guarded
    def end_subscription(self, ended: SubscriptionEnded) -> str:
        """The subscription renews no more: its record goes after retention."""
        args: list[Arg] = [ended.mode, "ended", ended.subscription, "", 0, "", "", ""]
        args += [*self._lifetimes(), self._place()]

        def declared(shard: str, _: str | None) -> list[str]:
            return [keys.subscription(shard, ended.subscription)]

        names = [ended.subscription]
        return self._in_shards(
            ended.mode, keys.subscription, names, self._renewal, args, declared
        )

    @guarded
    def confirm_campaign(self, mode: str, campaign: str) -> bool:
        """Make a campaign's numbers permanent; False if it already was."""
        return self._change_campaign("confirm", mode, campaign) == "confirmed"

    @guarded
    def delete_campaign(self, mode: str, campaign: str) -> str:
        """Remove a campaign no payment counts in: deleted, unknown or paid."""
        return self._change_campaign("delete", mode, campaign)

    @guarded
    def rename_campaign(self, mode: str, old: str, new: str) -> str:
        """Merge a campaign into another, exactly: renamed, unknown or same."""
        return self._change_campaign("rename", mode, old, new)

    def _change_campaign(self, what: str, mode: str, name: str, new: str = "") -> str:
        """campaigns.lua; on a cluster it asks for the campaigns' days."""
        self._check_kind()
        cluster = self.is_cluster
        args: list[Arg] = [what, mode, name, new, *self._lifetimes()]
        args.append("counters" if cluster else "node")
        declared = [keys.confirmed(mode)]
        if cluster:
            declared += keys.mode_keys(mode)
            for campaign in (name, new) if new else (name,):
                declared += [keys.campaign(mode, campaign)]
                declared += [keys.campaign_daily(mode, campaign)]
        return cast(str, self._declared(self._campaigns, declared, args))

    # -- the key layout ---------------------------------------------------------

    def migrate_layout(self, wait: float = 20.0) -> int:
        """Move a store's keys from the layout before hash tags
        (``landing:live:…``) to today's, keeping their TTLs; how many keys
        moved. Counters go to the mode's slot; sessions to their shards, and
        payments and subscriptions to their session's (a record no session
        claimed yet to every shard, as refund.lua keeps one); the session
        indexes are split by shard; a landing the limit held back becomes a
        held record. An old store is known by its mode version keys (every
        write bumps one, and they never expire), moved last, so a move cut
        short resumes at the next start; a new or moved store costs one
        EXISTS. One process moves the keys; the others wait for it (up to
        `wait` seconds) before they serve. On a single node only: no cluster
        ever held the old layout. A store that is away is left for the next
        start."""
        old_versions = [f"{keys.PREFIX}{mode}:version" for mode in ("live", "test")]
        lock = keys.layout_lock()
        try:
            if self.is_cluster or not self.redis.exists(*old_versions):
                return 0
            deadline = time.monotonic() + wait
            while not self.redis.set(lock, "1", nx=True, ex=60):
                if time.monotonic() > deadline or not self.redis.exists(*old_versions):
                    return 0
                time.sleep(0.2)
            try:
                return sum(self._migrate_mode(mode) for mode in ("live", "test"))
            finally:
                self.redis.delete(lock)
        except redis.RedisError:
            return 0

    def _migrate_mode(self, mode: str) -> int:
        old = f"{keys.PREFIX}{mode}:"
        version = f"{old}version"
        names = [n for n in self.redis.scan_iter(match=old + "*", count=1000)]
        if version in names:  # the mark: last
            names = [n for n in names if n != version] + [version]
        moved = 0
        for start in range(0, len(names), 500):
            self.redis.expire(keys.layout_lock(), 60)  # still at it
            moved += self._migrate_keys(mode, names[start : start + 500])
        # A board a process read while keys were moving is of neither
        # layout: a new epoch makes every process read the boards again.
        self.redis.delete(keys.epoch(mode))
        return moved

    def _migrate_keys(self, mode: str, names: list[str]) -> int:
        old = f"{keys.PREFIX}{mode}:"
        # What decides where a key goes: a session's held landing, the
        # session a payment or subscription belongs to.
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            kind = name[len(old) :].partition(":")[0]
            field = "limited" if kind == "session" else "session"
            pipe.hget(name, field)
        # A key that is no hash (the version counter) has no such fact.
        facts = [
            None if isinstance(fact, Exception) else fact
            for fact in cast(list[Any], pipe.execute(raise_on_error=False))
        ]
        pipe = self.redis.pipeline(transaction=False)
        for name, fact in zip(names, facts, strict=True):
            rest = name[len(old) :]
            kind, _, ident = rest.partition(":")
            if kind == "session" and ident:
                if fact == "1":
                    self._migrate_held(mode, name, ident)
                targets = [keys.session(mode, ident)]
            elif kind in ("payment", "subscription") and ident:
                record = keys.payment if kind == "payment" else keys.subscription
                shards = [keys.shard_for(mode, fact)] if fact else keys.shards(mode)
                targets = [record(shard, ident) for shard in shards]
            elif rest in ("sessions", "sessions:landed"):
                self._migrate_index(mode, name, rest)
                continue
            else:
                targets = [f"{keys.PREFIX}{keys.slot_tag(mode)}:{rest}"]
            for target in targets[1:]:
                pipe.copy(name, target)
            pipe.renamenx(name, targets[0])
        return sum(1 for done in pipe.execute() if done is True or done == 1)

    def _migrate_index(self, mode: str, name: str, rest: str) -> None:
        """An old session index, split by shard."""
        index = keys.sessions if rest == "sessions" else keys.sessions_landed
        ttl = int(self.redis.ttl(name))
        members = cast(
            list[tuple[str, float]], self.redis.zrange(name, 0, -1, withscores=True)
        )
        pipe = self.redis.pipeline(transaction=False)
        for sid, score in members:
            key = index(keys.shard_for(mode, sid))
            pipe.zadd(key, {sid: score})
            if ttl > 0:
                pipe.expire(key, ttl)
        pipe.delete(name)
        pipe.execute()

    def _migrate_held(self, mode: str, name: str, session_id: str) -> None:
        """A session whose landing the limit held back (the old layout kept
        that on the session) gets today's held record, so Stripe's word
        still counts it."""
        s = cast(dict[str, str], self.redis.hgetall(name))
        if "campaign" not in s:
            return
        dims = {d: s.get(d, "(none)") for d in ("source", "medium", "content", "term")}
        when = s.get("landed_when") or s.get("landed_day", "")
        held = json.dumps([s["campaign"], dims, when], separators=(",", ":"))
        self.redis.set(keys.held(mode, session_id), held, ex=self.unconfirmed_seconds)

    # Tokens kept per process (a few hundred bytes each).
    TOKENS_KEPT = 4096

    def _token_record(self, reference: str) -> str:
        """What a client_reference_id's link token stands for, as JSON for the
        scripts ("" when the reference is none of ours). Read here rather
        than in the script: tokens live in slots of their own."""
        if not is_token(reference):  # the merchant's own: nothing to read
            return ""
        with self._tokens_lock:
            if reference in self._tokens:
                self._tokens.move_to_end(reference)
                return self._tokens[reference]
        record = cast(dict[str, str], self.redis.hgetall(keys.token(reference)))
        text = json.dumps(record, separators=(",", ":")) if record else ""
        # A token is written in two steps (add_link): only a whole one, or
        # none at all, is final.
        if not record or "campaign" in record:
            with self._tokens_lock:
                self._tokens[reference] = text
                while len(self._tokens) > self.TOKENS_KEPT:
                    self._tokens.popitem(last=False)
        return text if "campaign" in record else ""

    # -- reads --------------------------------------------------------------

    @guarded
    def ping(self) -> bool:
        return bool(self.redis.ping())

    @guarded
    def version(self, mode: str) -> int:
        """Changes whenever any number of this mode changes."""
        return int(cast(str | None, self.redis.get(keys.version(mode))) or 0)

    @guarded
    def live_view(
        self, mode: str, view: str, watch: str | None = None, keep: int = 10
    ) -> LiveView:
        """The mode's version, the view's last build and the builder's last
        pass, in one round trip; `watch` (the view's URL) puts the view on
        the builder's list for `keep` seconds."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.version(mode))
        pipe.hgetall(keys.view(mode, view))
        pipe.zscore(keys.watched_views(), BUILDER)
        if watch is not None:
            now = _now_ms()
            pipe.zadd(keys.watched_views(), {watch: now})
            # Views nobody asked for lately leave the list (and so does the
            # mark of a builder that stopped).
            pipe.zremrangebyscore(keys.watched_views(), "-inf", now - keep * 1000)
        # The list is a hint for the builder: a store too full to add to it
        # still answers the reads.
        version, fields, builder, *added = pipe.execute(raise_on_error=False)
        for answer in (version, fields, builder):
            if isinstance(answer, Exception):
                raise answer
        newly_watched = bool(added) and added[0] == 1
        build = None
        complete = {"etag", "type", "body"} <= fields.keys()
        if complete and fields.get("version", "").isdigit():  # else: rebuild it
            build = Build(
                version=int(fields["version"]),
                etag=fields["etag"],
                content_type=fields["type"],
                body=fields["body"],
                built=int(fields["built"]) if fields.get("built", "").isdigit() else 0,
            )
        return LiveView(int(version or 0), build, int(builder or 0), newly_watched)

    @guarded
    def view_version(self, mode: str, view: str) -> tuple[int, int | None]:
        """The mode's version and that of the view's last build (None when
        there is none), without the build's body."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(keys.version(mode))
        pipe.hget(keys.view(mode, view), "version")
        version, built = pipe.execute()
        kept = int(built) if built is not None and built.isdigit() else None
        return int(version or 0), kept

    @guarded
    def watched_views(self, keep: int = 10) -> list[str]:
        """The URLs of the views asked for in the last `keep` seconds, the
        most recent first."""
        since = _now_ms() - keep * 1000
        urls = self.redis.zrevrangebyscore(keys.watched_views(), "+inf", since)
        return [url for url in cast(list[str], urls) if url != BUILDER]

    @guarded
    def mark_builder(self, keep: int = 10) -> None:
        """A builder process runs (live_view tells the web workers when it
        last said so); views not asked for in `keep` seconds leave the list."""
        now = _now_ms()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.watched_views(), {BUILDER: now})
        pipe.zremrangebyscore(keys.watched_views(), "-inf", now - keep * 1000)
        pipe.execute()

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
                "built": build.built,
            },
        )
        pipe.expire(key, seconds)
        pipe.execute()

    def scoreboard(
        self,
        mode: str,
        days: Sequence[date] | None,
        pending: Unconfirmed | None = None,
    ) -> dict[str, Metrics]:
        """Campaign → metrics, all time (days None) or summed over days, with
        the unconfirmed campaigns shown (`pending`, read here if not given).
        The metrics dicts are shared with later calls' answers: read them,
        never change them.

        Reading a board (80,000 fields at 10,000 campaigns) is most of a
        dashboard build, so a process keeps each view's last read and reads
        as little as the day versions say it must (every script that
        changes a scoreboard counter bumps the version of each day it
        changed, common.lua): nothing more while they stand (one small
        read); the changed days alone while only days it holds changed
        (today, while landings arrive); else the board, and a range's days
        before the last summed once and reused until one of them changes.
        """
        names = None if days is None else [d.isoformat() for d in days]
        view = (mode,) if names is None else (mode, names[0], names[-1])
        board = dict(self._board(view, mode, names).board)
        wanted = None if names is None else set(names)
        pending = pending or self.unconfirmed(mode)
        for campaign, by_day in pending.daily.items():
            metrics: Metrics = {}
            for day, day_metrics in by_day.items():
                if wanted is None or day in wanted:
                    for metric, value in day_metrics.items():
                        _add(metrics, metric, value)
            if metrics:
                board[campaign] = metrics
        return board

    def _board(
        self, view: tuple[str, ...], mode: str, names: list[str] | None
    ) -> BoardRead:
        """The view's board as it is now (all time, or the days `names`),
        from its last read where the day versions allow."""
        pipe = self.redis.pipeline(transaction=False)
        self._versions(pipe, mode, names, epoch=True)
        at = self._read_versions(self._run(pipe), names, mode)
        with self._sums_lock:
            last = self._boards.get(view)
        if last is not None and at.epoch is not None and at.epoch == last.at.epoch:
            if at == last.at:
                return last
            before = dict(last.at.days)
            changed = [day for day, v in at.days if before.get(day) != v]
            same_days = len(at.days) == len(before) and all(
                day in before for day, _ in at.days
            )
            if same_days and set(changed) <= last.days.keys():
                # An all-time board's flat fields are as read (text), a
                # range's summed (numbers).
                as_text = names is None
                read = self._patched(mode, last, changed, at, as_text)
                return self._keep(view, read)
            hold = changed
        else:
            last, hold = None, []
        # Today, mostly: the latest day with numbers, and what just changed.
        hold = [*hold, max((day for day, _ in at.days), default="")]
        return self._keep(view, self._read_board(mode, names, last, hold))

    def _versions(
        self,
        pipe: redis.client.Pipeline,
        mode: str,
        names: list[str] | None,
        epoch: bool = False,
    ) -> None:
        """Ask for the day versions of the days `names` (None: every day),
        and with `epoch` for the store's epoch and the mode's version."""
        if epoch:
            pipe.get(keys.epoch(mode))
            pipe.get(keys.version(mode))
        if names is None:
            pipe.hgetall(keys.day_versions(mode))
        else:
            pipe.hmget(keys.day_versions(mode), names)

    def _read_versions(
        self, replies: list[Any], names: list[str] | None, mode: str | None = None
    ) -> Versions:
        """The Versions in the replies of _versions(), asked with `epoch`
        when `mode` is given (without: no epoch, None).

        An emptied store has no epoch: the first read sets a new random one
        (one more round trip), so no process takes a board it kept from
        before for the new numbers. A store whose numbers went back (a
        failover that lost writes, a restart from an older snapshot) keeps
        its epoch, but the mode's version is lower than this process saw:
        what it kept of that mode is dropped."""
        versions = replies[-1]
        days = (
            tuple(sorted(versions.items()))
            if names is None
            else tuple(zip(names, versions, strict=True))
        )
        if mode is None:
            return Versions(None, days)
        store_epoch, version = replies[0], int(replies[1] or 0)
        with self._sums_lock:
            if version < self._high.get(mode, 0):
                self._forget(mode)
            self._high[mode] = version
        if store_epoch is None:
            try:  # a store too full to take it: nothing is kept this time
                self.redis.set(keys.epoch(mode), secrets.token_hex(8), nx=True)
                store_epoch = self.redis.get(keys.epoch(mode))
            except redis.RedisError:
                store_epoch = None
        return Versions(store_epoch, days)

    def _forget(self, mode: str) -> None:
        """Drop the board reads and range sums kept of a mode (held lock)."""
        for view in [view for view in self._boards if view[0] == mode]:
            del self._boards[view]
        for key in [key for key in self._sums if key[0] == mode]:
            del self._sums[key]

    def _read_board(
        self,
        mode: str,
        names: list[str] | None,
        last: BoardRead | None,
        hold: list[str],
    ) -> BoardRead:
        """Read the view's board whole, and the flat fields of the days
        `hold` to patch it from next time. Those must be what the board
        holds: the day versions read again after them say that no script
        changed a board in between (on a cluster too, with no transaction),
        else none is held this time."""
        pipe = self.redis.pipeline(transaction=False)
        self._versions(pipe, mode, names, epoch=True)
        if names is None:
            pipe.hgetall(keys.board(mode))
        else:
            # A range is patched only by its last day: the days before it
            # are summed apart (_sum_of_days).
            hold = [names[-1]]
        held = sorted(set(hold) - {""})[-HELD_DAYS:]
        for day in held:
            pipe.hgetall(keys.board_day(mode, day))
        self._versions(pipe, mode, names)
        replies = self._run(pipe)
        at = self._read_versions(replies[:3], names, mode)
        flat: Mapping[str, str | int]
        if names is None:
            flat = replies[3]
            fields = replies[4:-1]
        else:
            fields = replies[3:-1]
            before = tuple(v for _, v in at.days[:-1])
            summed = dict(self._sum_of_days(mode, names[:-1], before, at.epoch))
            _add_flat(summed, fields[0])
            flat = summed
        still = self._read_versions(replies[-1:], names).days == at.days
        days = dict(zip(held, fields, strict=True)) if still else {}
        board = (
            _nest(flat) if last is None else _nest_since(last.flat, last.board, flat)
        )
        return BoardRead(flat, board, at, days)

    def _patched(
        self,
        mode: str,
        last: BoardRead,
        changed: list[str],
        at: Versions,
        as_text: bool,
    ) -> BoardRead:
        """The last read patched with what changed on the days `changed`,
        all held: each read again and compared with what it held (a change
        made after `at` was read is then counted already, and again read
        next time: counted once, against what was held)."""
        fresh = self._hgetall_many(keys.board_day(mode, day) for day in changed)
        deltas: dict[str, int] = {}
        for day, now in zip(changed, fresh, strict=True):
            held = last.days[day]
            for name, count in now.items():
                old = held.get(name)
                if old != count:
                    deltas[name] = deltas.get(name, 0) + int(count) - int(old or 0)
            for name, old_count in held.items():
                if name not in now:
                    deltas[name] = deltas.get(name, 0) - int(old_count)
        flat = dict(last.flat)
        board = dict(last.board)
        copied: set[str] = set()
        for name, delta in deltas.items():
            if not delta:
                continue
            value = int(flat.get(name, 0)) + delta
            campaign, _, metric = name.rpartition("|")
            if campaign not in copied:
                copied.add(campaign)
                board[campaign] = dict(board.get(campaign, {}))
            metrics = board[campaign]
            if value:
                flat[name] = str(value) if as_text else value
                metrics[metric] = value
            else:
                flat.pop(name, None)
                metrics.pop(metric, None)
                if not metrics:
                    del board[campaign]
        days = {**last.days, **dict(zip(changed, fresh, strict=True))}
        return BoardRead(flat, board, at, days)

    def _keep(self, view: tuple[str, ...], read: BoardRead) -> BoardRead:
        with self._sums_lock:
            self._boards[view] = read
            self._boards.move_to_end(view)
            while len(self._boards) > BOARDS_KEPT:
                self._boards.popitem(last=False)
        return read

    def unconfirmed(self, mode: str) -> Unconfirmed:
        """The unconfirmed campaigns shown and their numbers: they are not on
        the scoreboards until confirmed, and at most `unconfirmed_shown` of
        them are read, latest landing first, so a flood of made-up campaigns
        costs the board a bounded read (SPEC §8). A view that needs them in
        several reads reads them once and passes them on."""
        pipe = self.redis.pipeline(transaction=False)
        index = keys.unconfirmed(mode)
        pipe.zrevrange(index, 0, self.unconfirmed_shown - 1, withscores=True)
        pipe.zcard(index)
        shown, total = self._run(pipe)
        lifetime = self.unconfirmed_seconds * 1000
        expires = {name: last + lifetime for name, last in shown}
        hashes = self._hgetall_many(keys.campaign_daily(mode, c) for c in expires)
        daily = {c: _by_day(h) for c, h in zip(expires, hashes, strict=True) if h}
        return Unconfirmed(expires=expires, total=int(total), daily=daily)

    @guarded
    def expires(self, mode: str, campaign: str) -> float | None:
        """When an unconfirmed campaign's numbers expire (ms); None when it
        is confirmed or unknown."""
        last = self.redis.zscore(keys.unconfirmed(mode), campaign)
        return None if last is None else float(last) + self.unconfirmed_seconds * 1000

    def _sum_of_days(
        self,
        mode: str,
        names: list[str],
        versions: tuple[str | None, ...],
        epoch: str | None,
    ) -> dict[str, int]:
        """The days' scoreboards added up, kept while none of them changes
        (nor the store's epoch: see Versions)."""
        if not names:
            return {}
        key = (mode, names[0], names[-1], versions, epoch)
        with self._sums_lock:
            if key in self._sums:
                self._sums.move_to_end(key)
                return self._sums[key]
        flat: dict[str, int] = {}
        for fields in self._hgetall_many(keys.board_day(mode, d) for d in names):
            _add_flat(flat, fields)
        if epoch is None:
            return flat
        with self._sums_lock:
            self._sums[key] = flat
            while len(self._sums) > SUMS_KEPT:
                self._sums.popitem(last=False)
        return flat

    def daily(
        self,
        mode: str,
        campaign: str | None = None,
        pending: Unconfirmed | None = None,
    ) -> dict[str, Metrics]:
        """Day → metrics, overall (the unconfirmed campaigns shown included:
        `pending`, read here if not given) or for one campaign; only days
        with data."""
        if campaign is not None:
            return _by_day(self._hgetall(keys.campaign_daily(mode, campaign)))
        out = _by_day(self._hgetall(keys.daily(mode)))
        for by_day in (pending or self.unconfirmed(mode)).daily.values():
            for day, metrics in by_day.items():
                into = out.setdefault(day, {})
                for metric, value in metrics.items():
                    _add(into, metric, value)
        return out

    def hourly(
        self,
        mode: str,
        days: Sequence[date],
        campaign: str | None = None,
        pending: Unconfirmed | None = None,
    ) -> dict[str, Metrics]:
        """Hour start (epoch seconds) → metrics over the days, for one
        campaign or every campaign (the unconfirmed shown ones included:
        `pending`, read here if not given)."""
        names = [d.isoformat() for d in days]
        if campaign is not None:
            wanted = [keys.campaign_hours(mode, campaign, d) for d in names]
        else:
            wanted = [keys.hours(mode, d) for d in names]
            for name in (pending or self.unconfirmed(mode)).daily:
                wanted += [keys.campaign_hours(mode, name, d) for d in names]
        out: dict[str, Metrics] = {}
        for fields in self._hgetall_many(wanted):
            for name, value in _by_day(fields).items():
                into = out.setdefault(name, {})
                for metric, n in value.items():
                    _add(into, metric, n)
        return out

    def minutes(self, mode: str, now: float) -> dict[str, Metrics]:
        """Minute start (epoch seconds) → metrics, every campaign together,
        for the last hour (what the minute counters keep and more)."""
        hour = int(now // 3600) * 3600
        fields = self._hgetall_many(
            [keys.minutes(mode, hour - 3600), keys.minutes(mode, hour)]
        )
        out: dict[str, Metrics] = {}
        for part in fields:
            for name, value in _by_day(part).items():
                out.setdefault(name, {}).update(value)
        return out

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
        """Sessions first seen in [start_ms, end_ms), page by page: those with
        a verified event, then those that only landed; each kind in order of
        first sighting across the session shards."""
        for index in (keys.sessions, keys.sessions_landed):
            shards = [
                self._sessions_in(mode, index(shard), start_ms, end_ms, page)
                for shard in keys.shards(mode)
            ]
            for _, sid, record in heapq.merge(*shards):
                yield sid, record

    def _sessions_in(
        self, mode: str, index: str, start_ms: float, end_ms: float, page: int
    ) -> Iterator[tuple[float, str, dict[str, str]]]:
        """One index's sessions, with their scores; pages follow the score,
        not an offset: writes
        trim the index's old end while an export runs, and an offset would
        then skip rows."""
        low = start_ms
        skip: set[str] = set()  # already sent, at the score `low`
        while True:
            want = page + len(skip)
            batch = cast(
                list[tuple[str, float]],
                self._run_one(
                    partial(_page, index=index, low=low, high=f"({end_ms}", num=want)
                ),
            )
            fresh = [(score, sid) for sid, score in batch if sid not in skip]
            if fresh:
                records = self._hgetall_many(
                    keys.session(mode, sid) for _, sid in fresh
                )
                for (score, sid), record in zip(fresh, records, strict=True):
                    if record:  # expired since the index was read
                        yield score, sid, record
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
    def _run_one(self, command: Callable[[Client], Any]) -> Any:
        return command(self.redis)

    @guarded
    def _hgetall(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], self.redis.hgetall(key))

    def _hgetall_many(self, keys: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return cast(list[dict[str, str]], self._run(pipe))

    # -- shares -------------------------------------------------------------
    # Read-only share links (shares.py): the link by its token's digest, and
    # an index for the list. The link's own key expires with it; the index
    # is only what the list shows, pruned as it is read. The two keys live
    # in different slots, so no transaction spans them (a cluster refuses
    # one): the link's key is written first and removed first.

    @guarded
    def add_share(self, share_id: str, record: Mapping[str, str], expires: int) -> None:
        """Keep a share link until `expires` (unix seconds)."""
        key = keys.share(record["digest"])
        pipe = self.redis.pipeline(transaction=False)
        fields: dict[Any, Any] = {**record, "id": share_id}
        pipe.hset(key, mapping=fields)
        pipe.expireat(key, expires)
        pipe.hset(keys.shares(), share_id, json.dumps(dict(record)))
        pipe.execute()

    @guarded
    def share(self, digest: str) -> dict[str, str]:
        """A live share link's record; empty when unknown, revoked or expired."""
        return cast(dict[str, str], self.redis.hgetall(keys.share(digest)))

    @guarded
    def shares(self) -> dict[str, dict[str, str]]:
        """The share links still live, by id; the index drops those that
        ended (their key expired) as it is read."""
        index = cast(dict[str, str], self.redis.hgetall(keys.shares()))
        records = {share_id: json.loads(raw) for share_id, raw in index.items()}
        pipe = self.redis.pipeline(transaction=False)
        for record in records.values():
            pipe.exists(keys.share(str(record.get("digest", ""))))
        alive = pipe.execute() if records else []
        ended = [sid for sid, up in zip(records, alive, strict=True) if not up]
        if ended:
            self.redis.hdel(keys.shares(), *ended)
        return {sid: r for sid, r in records.items() if sid not in ended}

    @guarded
    def revoke_share(self, share_id: str, digest: str) -> bool:
        """End a share link now; False when there was nothing to end."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.share(digest))
        pipe.hdel(keys.shares(), share_id)
        deleted, dropped = pipe.execute()
        return bool(deleted or dropped)

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


def _missing_keys(error: object) -> Asked | None:
    """What a script asked to be declared (common.lua's all_known: ``KEYS
    {"keys": [...], "names": {given: name}, "days": {campaign: [day]}}``,
    then Redis's note of where), or None for any other reply."""
    if not isinstance(error, redis.ResponseError):
        return None
    text = str(error)
    if not text.startswith("KEYS {"):
        return None
    try:
        said, _ = json.JSONDecoder().raw_decode(text, 5)
        # Lua's empty table comes as {} whatever it stands for.
        names = dict(said["names"] or {})
        days = dict(said["days"] or {})
        return Asked(
            keys=[str(key) for key in said["keys"]],
            names={str(k): str(v) for k, v in names.items()},
            days={str(k): [str(day) for day in v or ()] for k, v in days.items()},
        )
    except (ValueError, KeyError, TypeError):
        return None


def _visit_op(landing: Mapping[str, Any]) -> list[Any]:
    """The op landings.lua makes of a landing without a session, as far
    as keys.op_keys reads it."""

    def text(name: str) -> str | bool:
        value = landing.get(name)
        return value if isinstance(value, str) else False

    value = landing.get("campaign")
    campaign = value if isinstance(value, str) else NONE
    return [
        "visit",
        campaign,
        {},
        str(landing.get("day")),
        int(landing.get("ts") or 0),
        text("client"),
        text("visitor"),
        text("visitor_prev"),
    ]


def _transition_order(transition: str) -> tuple[str, int, int]:
    """``live:07#1764486000000.42`` → (shard, time, count), to sort by."""
    shard, _, rest = transition.partition("#")
    at, _, count = rest.partition(".")
    return shard, int(at or 0), int(count or 0)


def _page(client: Client, index: str, low: float, high: str, num: int) -> Any:
    return client.zrangebyscore(index, low, high, start=0, num=num, withscores=True)


def _when(day: When) -> str:
    return day if isinstance(day, str) else day.isoformat()


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
    find = out.get  # not setdefault: no empty dict made for each of 80,000
    for name, value in flat.items():
        campaign, _, metric = name.rpartition("|")
        metrics = find(campaign)
        if metrics is None:
            out[campaign] = {metric: int(value)}
        else:
            metrics[metric] = int(value)
    return out


def _nest_since(
    last_flat: Mapping[str, str | int],
    last: dict[str, Metrics],
    flat: Mapping[str, str | int],
) -> dict[str, Metrics]:
    """_nest(flat), given that _nest(last_flat) is `last` (never changed:
    the answer copies what differs)."""
    changed: list[tuple[str, str | int]] = []
    found = 0
    before = last_flat.get
    for name, value in flat.items():
        old = before(name)
        if old is None:
            changed.append((name, value))
        else:
            found += 1
            if old != value:
                changed.append((name, value))
    if found != len(last_flat):  # a counter fell away (zero, deleted, renamed)
        return _nest(flat)
    if not changed:
        return last
    board = dict(last)
    copied: set[str] = set()
    for name, value in changed:
        campaign, _, metric = name.rpartition("|")
        if campaign not in copied:
            copied.add(campaign)
            board[campaign] = dict(board.get(campaign, {}))
        board[campaign][metric] = int(value)
    return board


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
