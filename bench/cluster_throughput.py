"""Landings and webhook events per second on one node and on a cluster, in one run.

Issue #11: the same workload against one embedded Valkey node and against a
three-master cluster of the same binary (landing.devserver), side by side.
For each store the script starts the product under gunicorn
(gunicorn.conf.py) with REDIS_URL at that store (on the cluster, one node's
URL: the app finds out it is a cluster), and a Store in this process made
as the app makes it (landing.store.connect). Then, in alternating rounds
(node, cluster; cluster, node; ...), so that the machine's drift touches
both:

- landings: batches of journal lines (landing.capture.landing_entry, each a
  new checkout session, every `--test-every`th one in test mode) sent by
  `--flushers` threads through landing.capture.sink, which is what each
  gunicorn worker's journal flusher calls: Store.record_landings, one
  script call per mode in the batch (a pipeline on one node, a call per
  mode's hash slot on a cluster);
- events: signed checkout.session.completed events (landing.stripe_events,
  signed by the stripe library) posted to the real app, verified and
  stored (one script call each; a link token is read only for a new lk_
  reference, and these events carry none).

Round trips are counted three ways:

- in every round, INFO commandstats summed over the store's nodes: script
  calls (EVALSHA, EVAL) per batch and per event, and all commands
  including those the scripts run (the store's work);
- in every round, for the landings this process sends: round trips (each
  write of one command or one pipeline to a connection) and commands, by a
  counter around redis-py's connection;
- after the rounds, a short phase under MONITOR on every node (as
  bench/round_trips.py counts), which tells the commands a client sent from
  those its scripts ran, by name and by node.

Last, each store's scoreboards (Store.scoreboard) must hold exactly the
landings sent (live and test) and one conversion per event answered 200.

    .venv/bin/python bench/cluster_throughput.py [--rounds 4] [--batch 100]

prints a line per round and store, medians, the ratio cluster/node, the
round trips per batch and per event, and the scoreboards.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
import redis.connection

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    SECRET_KEY,
    Bench,
    Gunicorn,
    LoadResult,
    Monitor,
    Target,
    cli,
    commandstats,
    connection_setup,
    load_options,
    result_line,
    run_load,
    store_cpu_seconds,
)
from landing import keys
from landing.capture import landing_entry, report_day, sink, valid_entry
from landing.store import Store, connect
from landing.utm import MODES, Landing

UTC = ZoneInfo("UTC")
CAMPAIGNS = 20  # landings cycle through this many campaigns, all confirmed
SOURCES = ("newsletter", "ads", "partner", "social")
SCRIPT_CALLS = ("evalsha", "eval")


class Wire:
    """What this process writes to the store's connections: round trips
    (one per command or pipeline written) and the commands in them."""

    lock = threading.Lock()
    round_trips = 0
    commands = 0
    connects = 0  # connections opened (a retry after a timeout opens one)

    @classmethod
    def install(cls) -> None:
        """Count every redis-py connection of this process (idempotent)."""
        conn: Any = redis.connection.AbstractConnection
        if getattr(conn, "_counted", False):
            return
        send_packed = conn.send_packed_command
        send_one = conn.send_command
        pack_many = conn.pack_commands
        connect = conn.connect

        @functools.wraps(connect)
        def connect_counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(self, "_sock", None) is None:  # else connect() returns
                with cls.lock:
                    cls.connects += 1
            return connect(self, *args, **kwargs)

        @functools.wraps(send_packed)
        def send_packed_command(self: Any, *args: Any, **kwargs: Any) -> Any:
            with cls.lock:
                cls.round_trips += 1
            return send_packed(self, *args, **kwargs)

        @functools.wraps(send_one)
        def send_command(self: Any, *args: Any, **kwargs: Any) -> Any:
            with cls.lock:
                cls.commands += 1
            return send_one(self, *args, **kwargs)

        @functools.wraps(pack_many)
        def pack_commands(self: Any, commands: Any) -> Any:
            commands = list(commands)
            with cls.lock:
                cls.commands += len(commands)
            return pack_many(self, commands)

        conn.send_packed_command = send_packed_command
        conn.send_command = send_command
        conn.pack_commands = pack_commands
        conn.connect = connect_counted
        conn._counted = True

    @classmethod
    def read(cls) -> tuple[int, int, int]:
        with cls.lock:
            return cls.round_trips, cls.commands, cls.connects


@dataclass
class Tally:
    """One kind of work on one store, over the measured rounds."""

    items: int = 0  # landings or events
    batches: int = 0  # landing batches sent (events: one each)
    seconds: float = 0.0
    rates: list[float] = field(default_factory=list)  # items/s per round
    stats: Counter[str] = field(default_factory=Counter)  # commandstats delta
    round_trips: int = 0  # written by this process (landings only)
    commands: int = 0
    connects: int = 0  # connections this process opened (landings only)
    slowest: float = 0.0  # s, the slowest batch (landings only)
    cpu: float = 0.0  # s, of the sender: this process, or gunicorn (events)
    store_cpu: float = 0.0  # s, the store's, summed over its nodes

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def add(self, part: Tally) -> None:
        """Count a round in; its rate is kept too."""
        self.items += part.items
        self.batches += part.batches
        self.seconds += part.seconds
        self.rates.append(part.rate)
        self.stats.update(part.stats)
        self.round_trips += part.round_trips
        self.commands += part.commands
        self.connects += part.connects
        self.slowest = max(self.slowest, part.slowest)
        self.cpu += part.cpu
        self.store_cpu += part.store_cpu

    def cpu_us(self) -> tuple[float, float]:
        """CPU microseconds per item: the sender's, the store's."""
        if not self.items:
            return 0.0, 0.0
        return self.cpu / self.items * 1e6, self.store_cpu / self.items * 1e6

    @property
    def script_calls(self) -> int:
        return sum(self.stats[name] for name in SCRIPT_CALLS)


@dataclass
class Side:
    """One store with its app server and this process's Store of it."""

    name: str
    node_urls: list[str]
    server: Gunicorn
    store: Store
    stats: list[redis.Redis] = field(default_factory=list)  # one per node
    landings: Tally = field(default_factory=Tally)
    events: Tally = field(default_factory=Tally)
    sent: Counter[str] = field(default_factory=Counter)  # landings per mode
    answered: int = 0  # events answered 200, warm-up included
    failed: LoadResult = field(default_factory=LoadResult)
    send: Callable[[list[str]], None] = field(init=False)

    def __post_init__(self) -> None:
        self.stats = [
            redis.Redis.from_url(url, decode_responses=True) for url in self.node_urls
        ]
        self.send = sink(self.store, 0)  # as the app: LANDING_RATE_LIMIT=0

    def commandstats(self) -> Counter[str]:
        return commandstats(*self.stats)

    def store_cpu(self) -> float:
        return sum(store_cpu_seconds(client) for client in self.stats)

    def close(self) -> None:
        for client in self.stats:
            client.close()
        self.store.redis.close()


def landing_batches(
    tag: str, count: int, size: int, test_every: int
) -> tuple[list[list[str]], Counter[str]]:
    """`count` journal lines in batches of `size`, each landing a new
    checkout session: JSON text as the journal keeps it and its flusher
    sends it. Also how many landings of each mode."""
    now = time.time()
    day = report_day(now, UTC)
    lines: list[str] = []
    modes: Counter[str] = Counter()
    for i in range(count):
        mode = "test" if test_every and i % test_every == test_every - 1 else "live"
        landing = Landing(
            session_id=f"cs_{mode}_{tag}_{i}",
            source=SOURCES[i % len(SOURCES)],
            medium="email",
            campaign=f"c{i // 7 % CAMPAIGNS:02d}",  # test mode's too
        )
        entry = landing_entry(
            landing,
            timestamp=now,
            day=day,
            secret=SECRET_KEY,
            address=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            agent="",
            url="",
        )
        if not valid_entry(entry):
            raise RuntimeError(f"the journal would skip {entry}")
        lines.append(json.dumps(entry, separators=(",", ":")))
        modes[mode] += 1
    return [lines[i : i + size] for i in range(0, len(lines), size)], modes


def send_batches(
    send: Callable[[list[str]], None],
    batches: list[list[str]],
    flushers: int,
    seconds: float,
) -> tuple[int, int, float, float]:
    """Send batches from `flushers` threads until all are sent or `seconds`
    have passed; landings and batches sent, the seconds it took and the
    slowest batch's."""
    queue: Iterator[list[str]] = iter(batches)
    lock = threading.Lock()
    done = [0, 0]
    slowest = [0.0]
    errors: list[BaseException] = []
    deadline = time.monotonic() + seconds

    def flusher() -> None:
        while time.monotonic() < deadline and not errors:
            with lock:
                batch = next(queue, None)
            if batch is None:
                return
            began = time.monotonic()
            try:
                send(batch)
            except BaseException as error:  # re-raised below
                errors.append(error)
                return
            took = time.monotonic() - began
            with lock:
                done[0] += len(batch)
                done[1] += 1
                slowest[0] = max(slowest[0], took)

    threads = [threading.Thread(target=flusher) for _ in range(flushers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"a landing batch failed: {errors[0]!r}") from errors[0]
    return done[0], done[1], elapsed, slowest[0]


def sent_modes(batches: list[list[str]], sent: int) -> Counter[str]:
    """The modes of the first `sent` lines (the batches sent, in order)."""
    modes: Counter[str] = Counter()
    for batch in batches:
        if sent <= 0:
            break
        for line in batch[:sent]:
            modes[json.loads(line)["mode"]] += 1
        sent -= len(batch)
    return modes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for flag, kind, default, text in (
        ("--rounds", int, 4, "rounds per store"),
        ("--seconds", float, 3.0, "per load (landings, events)"),
        ("--warmup", float, 1.0, "seconds per load and store, unmeasured"),
        ("--batch", int, 100, "landings per batch (the journal sends what "
         "gathered in 0.1 s, at most 500)"),
        ("--flushers", int, 2, "threads sending batches (one journal flusher "
         "per gunicorn worker)"),
        ("--test-every", int, 10, "every Nth landing in test mode, so a batch "
         "spans both modes' hash slots (0: live only)"),
        ("--max-landings", int, 60_000, "landings at most, per round and store"),
        ("--count-batches", int, 20, "batches sent under MONITOR, after the rounds"),
        ("--count-events", int, 200, "events sent under MONITOR"),
    ):  # fmt: skip
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument(
        "--aof",
        action="store_true",
        help="both stores append to an AOF (fsync every second), as the "
        "cluster's nodes do by default; without it neither does",
    )
    load_options(parser, clients=2, connections=4)
    args = parser.parse_args()
    Wire.install()

    with Bench("cluster", keep=args.keep) as bench:
        node = bench.start_store()
        cluster = bench.start_cluster("cluster")
        sides: list[Side] = []
        for name, url, node_urls in (
            ("node", node.url, [node.url]),
            ("cluster", cluster.url, [n.url for n in cluster.nodes]),
        ):
            server = bench.start_server(
                name, REDIS_URL=url, JOURNAL_DIR=str(bench.tmp / f"journal-{name}")
            )
            store = Store(connect(url), url=url, zone=UTC)
            sides.append(Side(name, node_urls, server, store))
        node_side, cluster_side = sides
        # The same persistence on both: devserver's cluster nodes keep an AOF.
        for client in node_side.stats + cluster_side.stats:
            client.config_set("appendonly", "yes" if args.aof else "no")
        if node_side.store.is_cluster or not cluster_side.store.is_cluster:
            raise RuntimeError("the store did not tell a node from a cluster")
        for mode in MODES:
            at = cluster.node_of(keys.version(mode))
            print(
                f"cluster: the {mode} mode's slot is on node "
                f"{cluster.nodes.index(at)} (port {at.port})"
            )
        print(
            f"landings: {args.flushers} flushers x batches of {args.batch} "
            f"(every {args.test_every}th in test mode); events: {args.clients} "
            f"processes x {args.connections} connections; {args.rounds} rounds "
            f"of {args.seconds:g} s per load and store; AOF "
            f"{'on' if args.aof else 'off'} on both stores",
            flush=True,
        )
        for side in sides:
            for mode in MODES:
                for c in range(CAMPAIGNS):
                    side.store.confirm_campaign(mode, f"c{c:02d}")

        def land(side: Side, tag: str, count: int, seconds: float) -> Tally:
            batches, _ = landing_batches(
                f"{side.name}_{tag}", count, args.batch, args.test_every
            )
            before = side.commandstats()
            store_cpu = side.store_cpu()
            wire = Wire.read()
            cpu = time.process_time()
            items, sent, elapsed, slowest = send_batches(
                side.send, batches, args.flushers, seconds
            )
            cpu = time.process_time() - cpu
            after = Wire.read()
            store_cpu = side.store_cpu() - store_cpu
            stats = side.commandstats() - before
            side.sent.update(sent_modes(batches, items))
            return Tally(
                items=items,
                batches=sent,
                seconds=elapsed,
                stats=stats,
                round_trips=after[0] - wire[0],
                commands=after[1] - wire[1],
                connects=after[2] - wire[2],
                slowest=slowest,
                cpu=cpu,
                store_cpu=store_cpu,
            )

        def post(side: Side, tag: str, seconds: float, requests: int) -> Tally:
            before = side.commandstats()
            store_cpu = side.store_cpu()
            cpu = side.server.cpu_seconds()
            result = run_load(
                side.server.port,
                Target("webhook", tag=f"{side.name}{tag}"),
                seconds=seconds,
                requests=requests,
                clients=args.clients,
                connections=args.connections,
            )
            cpu = side.server.cpu_seconds() - cpu
            store_cpu = side.store_cpu() - store_cpu
            stats = side.commandstats() - before
            side.answered += result.ok
            if result.errors:
                side.failed.extend(result)
            return Tally(
                items=result.ok,
                batches=result.ok,
                seconds=result.seconds,
                stats=stats,
                cpu=cpu,
                store_cpu=store_cpu,
            )

        # Warm-up: connections opened, scripts loaded in every process.
        first_rate: dict[str, float] = {}
        for side in sides:
            warm = land(side, "warm", 20 * args.batch, args.warmup)
            first_rate[side.name] = warm.rate
            post(side, "warm", args.warmup, 100_000)

        for n in range(args.rounds):
            order = sides if n % 2 == 0 else sides[::-1]
            for side in order:
                last = side.landings.rates[-1] if side.landings.rates else 0.0
                rate = last or first_rate[side.name]
                count = min(args.max_landings, int(rate * args.seconds * 1.5) + 1000)
                landed = land(side, f"r{n}", count, args.seconds)
                posted = post(side, f"r{n}", args.seconds, 100_000)
                side.landings.add(landed)
                side.events.add(posted)
                print(
                    f"round {n + 1} {side.name:8} landings {landed.rate:7.0f}/s "
                    f"({landed.batches} batches, "
                    f"{landed.script_calls / max(landed.batches, 1):.2f} script "
                    f"calls and {landed.round_trips / max(landed.batches, 1):.2f} "
                    f"round trips each; slowest {landed.slowest * 1000:.0f} ms, "
                    f"{landed.connects} connections opened)   "
                    f"events {posted.rate:6.0f}/s "
                    f"({posted.script_calls / max(posted.items, 1):.3f} script "
                    f"calls each)",
                    flush=True,
                )

        # Under MONITOR, on every node: which commands the clients sent.
        counted: dict[str, dict[str, Counted]] = {}
        for side in sides:
            counted[side.name] = count_phase(side, args, land, post)

        boards = {
            side.name: {mode: side.store.scoreboard(mode, None) for mode in MODES}
            for side in sides
        }
        for side in sides:
            side.close()

    return report(sides, counted, boards, args)


@dataclass
class Counted:
    """What the clients sent one store during the MONITOR phase, summed
    over its nodes: commands by name, and by node."""

    items: int = 0  # landings or events
    batches: int = 0  # landing batches (events: one each)
    round_trips: int = 0  # written by this process (landings only)
    top: Counter[str] = field(default_factory=Counter)
    by_node: Counter[str] = field(default_factory=Counter)
    nested: int = 0  # commands the scripts ran

    @property
    def per_batch(self) -> float:
        return sum(self.top.values()) / self.batches if self.batches else 0.0

    @property
    def steady_per_batch(self) -> float:
        """Without the commands that opened connections."""
        setup = connection_setup(self.top)[1]
        return (sum(self.top.values()) - setup) / self.batches if self.batches else 0.0


def count_phase(
    side: Side,
    args: argparse.Namespace,
    land: Callable[[Side, str, int, float], Tally],
    post: Callable[[Side, str, float, int], Tally],
) -> dict[str, Counted]:
    """Landing batches, then events, with MONITOR on each node."""
    monitors = []
    for client, url in zip(side.stats, side.node_urls, strict=True):
        own_port = str(client.client_info()["addr"]).rpartition(":")[2]
        monitor = Monitor(url, own_port)
        monitor.start()
        monitors.append(monitor)
    time.sleep(0.2)

    def mark(name: str) -> None:
        for client, monitor in zip(side.stats, monitors, strict=True):
            client.echo(f"bench:{name}")
            monitor.wait_marker(name)

    mark("landings")
    landed = land(side, "count", args.count_batches * args.batch, 60.0)
    mark("events")
    posted = post(side, "count", 60.0, args.count_events)
    mark("end")
    for monitor in monitors:
        monitor.join(10)
    counted: dict[str, Counted] = {}
    for name, tally in (("landings", landed), ("events", posted)):
        total = counted[name] = Counted(
            items=tally.items, batches=tally.batches, round_trips=tally.round_trips
        )
        for n, monitor in enumerate(monitors):
            phase = monitor.phases[name]
            total.top.update(phase.top)
            total.nested += phase.nested
            total.by_node[f"node{n}"] += sum(phase.top.values())
    return counted


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(
    sides: list[Side],
    counted: dict[str, dict[str, Counted]],
    boards: dict[str, dict[str, dict[str, dict[str, int]]]],
    args: argparse.Namespace,
) -> int:
    node, cluster = sides
    figures: dict[str, object] = {}
    print()
    for kind in ("landings", "events"):
        a, b = getattr(node, kind), getattr(cluster, kind)
        ratio = median(b.rates) / median(a.rates) if median(a.rates) else 0.0
        pairs = [y / x for x, y in zip(a.rates, b.rates, strict=True) if x]
        print(
            f"{kind + ':':10} node {median(a.rates):7.0f}/s  cluster "
            f"{median(b.rates):7.0f}/s  (medians of the rounds; totals "
            f"{a.rate:.0f} and {b.rate:.0f}/s)  cluster/node {ratio:.3f}  "
            f"(per round {min(pairs):.3f}..{max(pairs):.3f})"
        )
        sender = "this process" if kind == "landings" else "gunicorn"
        for side, tally in ((node, a), (cluster, b)):
            own, store = tally.cpu_us()
            print(
                f"{'':10} CPU per {kind.removesuffix('s')} on the {side.name}: "
                f"{own:.0f} us in {sender} + {store:.0f} us in the store"
            )
            figures[f"cpu_us_{kind}_{side.name}"] = own + store
        figures[f"{kind}_per_s_node"] = median(a.rates)
        figures[f"{kind}_per_s_cluster"] = median(b.rates)
        figures[f"{kind}_ratio"] = ratio

    print("\nround trips, in the measured rounds:")
    for side in sides:
        t, e = side.landings, side.events
        per_batch = t.script_calls / t.batches
        trips = t.round_trips / t.batches
        print(
            f"  {side.name:8} per landing batch ({t.items / t.batches:.0f} "
            f"landings): {per_batch:.3f} script calls, {trips:.3f} round trips "
            f"and {t.commands / t.batches:.3f} commands written by the client; "
            f"{sum(t.stats.values()) / t.items:.1f} store commands per landing "
            f"(incl. inside scripts); slowest batch {t.slowest * 1000:.0f} ms, "
            f"{t.connects} connections opened by this process"
        )
        print(
            f"  {'':8} per event: {e.script_calls / e.items:.4f} script calls; "
            f"{sum(e.stats.values()) / e.items:.1f} store commands (incl. inside "
            f"scripts)"
        )
        figures[f"script_calls_per_batch_{side.name}"] = per_batch
        figures[f"round_trips_per_batch_{side.name}"] = trips
        figures[f"script_calls_per_event_{side.name}"] = e.script_calls / e.items
        # Each is a script asking for keys its call did not declare (SPEC §7:
        # a renamed or unconfirmed campaign's keys), one more round trip.
        print(
            f"  {'':8} scripts asked this process for undeclared keys "
            f"{side.store.keys_asked} times in the whole run"
        )
        figures[f"keys_asked_{side.name}"] = side.store.keys_asked

    print("\nunder MONITOR, commands the clients sent (not those scripts ran):")
    for side in sides:
        landed, posted = counted[side.name]["landings"], counted[side.name]["events"]
        print(
            f"  {side.name:8} {landed.batches} batches ({landed.items} landings): "
            f"{dict(landed.top.most_common())} = {landed.per_batch:.3f} per batch, "
            f"{landed.steady_per_batch:.3f} without opening connections; "
            f"{landed.round_trips / max(landed.batches, 1):.3f} round trips; "
            f"by node {dict(landed.by_node)}"
        )
        print(
            f"  {'':8} {posted.items} events: {dict(posted.top.most_common())} = "
            f"{posted.per_batch:.3f} per event, {posted.steady_per_batch:.3f} "
            f"without opening connections; by node {dict(posted.by_node)}"
        )
        figures[f"commands_per_batch_{side.name}"] = landed.steady_per_batch
        figures[f"commands_per_event_{side.name}"] = posted.steady_per_batch

    print("\nscoreboards (all time), landings and conversions per campaign:")
    ok = True
    for side in sides:
        for mode in MODES:
            board = boards[side.name][mode]
            on_board = sum(m.get("landings", 0) for m in board.values())
            paid = sum(m.get("conversions", 0) for m in board.values())
            expected = side.answered if mode == "live" else 0
            good = on_board == side.sent[mode] and paid == expected
            ok = ok and good
            cells = " ".join(
                f"{c}={m.get('landings', 0)}/{m.get('conversions', 0)}"
                for c, m in sorted(board.items())
            )
            print(
                f"  {side.name:8} {mode}: landings {on_board} (sent "
                f"{side.sent[mode]}), conversions {paid} (events answered 200: "
                f"{expected}) {'ok' if good else 'WRONG'}\n    {cells}"
            )
            figures[f"landings_{mode}_{side.name}"] = f"{on_board}/{side.sent[mode]}"
        live = boards[side.name]["live"].values()
        paid = sum(m.get("conversions", 0) for m in live)
        figures[f"conversions_{side.name}"] = f"{paid}/{side.answered}"
        if side.failed.errors:
            ok = False
            print(
                f"  {side.name}: {side.failed.errors} events failed, statuses "
                f"{dict(side.failed.statuses)} {side.failed.first_error}"
            )
    print(result_line(**figures))
    return 0 if ok else 1


if __name__ == "__main__":
    cli(main)
