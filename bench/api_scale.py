"""Dashboard and API latency with 1x vs GROWTHx the events, side by side (SPEC §8).

The budget: "Dashboard and API cost grows with campaigns and days shown, not
with the number of landings or conversions ever recorded." Starts two
private stores and two product servers under gunicorn (the project's
gunicorn.conf.py), server A on store A and server B on store B, and loads
CAMPAIGNS x DAYS of data directly through the store's own scripts
(Store.record_landings in batches, Store.record_outcome from a few
threads): every campaign has a landing on every day, and every
CONVERT_EVERY-th campaign-day a paid checkout. Store A gets one copy of
those events; store B the same copy plus GROWTH-1 more (the same campaigns
and days, new visitors and sessions), so every count in B is GROWTH times
A's while campaigns and days are the same.

Before measuring it checks that the counters the views read have the same
shape in both stores (HLEN of landing:live:board, of three days'
landing:live:board:{day} and of landing:live:daily; the same board fields)
and stops if not; it prints each store's keys and memory, and waits
(--settle) until the short-lived visitor keys the load left behind have
expired, so neither store is busy expiring them while it is measured.

It then times each view, with no ETag (every request is built in full), in
alternating rounds (A first, then B first, …). In a round, each view gets a
keep-alive connection to each server and one unmeasured request on each,
then REPEATS requests per side taking turns request by request (A B A B …,
or B A B A …), so that every B request runs next to an A request on the
machine as it is at that moment. The views:

- GET /api/campaigns, all time and the last 30 days, with no number
  changed since its last build (answered from the build kept in the store);
- the same just after a change (`_new`: the bench records a landing in
  one of the campaigns before each request, on each side, so the API builds
  its answer anew, as while landings arrive);
- GET /dashboard (HTML, the first page of 50 rows), all time and 30 days.

Output: a line per round with each view's B/A (of that round's medians)
and how long a fixed piece of pure-Python work took then (the machine's
own speed, which on a shared machine varies by itself); then per view A's
and B's median ms over all rounds and their ratio, the median of the
paired ratios (each B request over the A request beside it), the per-round
median and range, and where the time goes: the gunicorn processes' CPU ms
per measured request (from /proc) and the store's ms per request executing
commands (INFO commandstats around each view's requests). Last, each
store's own figures for the measuring phase (CONFIG RESETSTAT first):
usec_per_call of HGETALL, HMGET, GET and EVALSHA, keys expired meanwhile,
and latency events and commands over 10 ms (LATENCY LATEST, SLOWLOG).

Then each API view's median against the SPEC's 100 ms for 10,000
campaigns (SPEC §8), as ms / budget: under 1 meets it.

Reading it: B/A about 1 (within the per-round spread) meets the budget; a
ratio near GROWTH would mean the cost follows the events recorded. The
paired ratio is the least touched by the machine's drift. If B/A is high,
the app and store columns say whether B's extra time is spent in the app
(more work per build) or in the store (the same commands, slower).

Defaults load 2,000 campaigns x 90 days (180,000 campaign-days) once into
A and GROWTH=10 times into B (2 million landings in all); the store's scripts
take some 40-80 us per landing on this kind of machine. The SPEC's scale of
10,000 campaigns is `--campaigns 10000 --growth 2`, or `--campaigns 10000`
for tenfold.

    .venv/bin/python bench/api_scale.py [--campaigns 2000] [--days 90] \\
        [--growth 10] [--rounds 5] [--repeats 7]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Bench,
    Gunicorn,
    Reply,
    auth_header,
    cli,
    fetch,
    median_ms,
    result_line,
)
from landing import keys as K
from landing.breaker import Breaker
from landing.events import Outcome
from landing.store import Store, node_client

SOURCES = ("newsletter", "ads", "social")
OUTCOME_THREADS = 4  # record_outcome calls in flight beside the landings


def loading_store(client: Any) -> Store:
    """A Store for load(): its bulkhead (Breaker.max_waiting, 4 by default,
    sized for a server's threads) must let every loading thread wait on the
    store at once, or a call gets StoreUnavailable."""
    return Store(client, breaker=Breaker(max_waiting=OUTCOME_THREADS + 1))


def campaign_name(c: int) -> str:
    return f"camp_{c:05d}"


def copy_of_events(
    copy: int, campaigns: int, days: list[date], convert_every: int
) -> Iterator[tuple[list[dict[str, Any]], list[tuple[Outcome, date]]]]:
    """One copy of the data, day by day: (landings, paid outcomes) of a day.

    Each campaign lands once a day; on every convert_every-th campaign-day
    that landing is a checkout session, and its payment follows. A copy
    uses new visitors and sessions, so every copy counts anew.
    """
    now_ms = int(time.time() * 1000)
    for d, day in enumerate(days):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        ts = min(int(noon.timestamp() * 1000), now_ms - 1000)
        landings: list[dict[str, Any]] = []
        outcomes: list[tuple[Outcome, date]] = []
        for c in range(campaigns):
            entry: dict[str, Any] = {
                "ts": ts,
                "day": day.isoformat(),
                "mode": "live",
                "campaign": campaign_name(c),
                "source": SOURCES[c % len(SOURCES)],
                "medium": "email",
            }
            if (c + d) % convert_every == 0:
                sid = f"cs_live_scale_{copy}_{d}_{c}"
                entry["sid"] = sid
                outcome = Outcome(
                    event_id=f"evt_scale_{copy}_{d}_{c}",
                    session_id=sid,
                    mode="live",
                    status="paid",
                    amount_total=4000,
                    currency="usd",
                    payment_link="plink_scale",
                    client_reference_id="",
                    created=ts // 1000,
                )
                outcomes.append((outcome, day))
            else:
                entry["visitor"] = f"{copy:08x}{d:08x}{c:016x}"
            landings.append(entry)
        yield landings, outcomes


def load(
    store: Store,
    copies: range,
    campaigns: int,
    days: list[date],
    convert_every: int,
    batch: int,
) -> tuple[int, int]:
    """Record copies of the data; returns (landings, outcomes) recorded."""
    landed = paid = 0
    started = last_report = time.monotonic()
    total = len(copies) * campaigns * len(days)
    with ThreadPoolExecutor(OUTCOME_THREADS, thread_name_prefix="outcomes") as pool:
        pending: list[Future[str]] = []
        for copy in copies:
            for landings, outcomes in copy_of_events(
                copy, campaigns, days, convert_every
            ):
                for i in range(0, len(landings), batch):
                    results = store.record_landings(landings[i : i + batch], 0)
                    landed += results.count("counted")
                # Outcomes of the day run while the next day's landings go.
                for done in pending:
                    paid += done.result() == "counted"
                pending = [pool.submit(store.record_outcome, o, d) for o, d in outcomes]
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    print(
                        f"  ... {landed}/{total} landings, {paid} payments, "
                        f"{last_report - started:.0f} s",
                        flush=True,
                    )
        for done in pending:
            paid += done.result() == "counted"
    return landed, paid


VIEWS = (
    "api_all",
    "api_30d",
    "api_all_new",
    "api_30d_new",
    "dashboard_all",
    "dashboard_30d",
)
# Views asked for just after a number changed: the bench records a landing
# (in one of the campaigns, today, through the store's own script) before
# each request, so the stored answer is of older numbers and the request
# builds /api/campaigns anew (the API never answers with older numbers),
# as it does while landings arrive.
CHANGED_VIEWS = {"api_all_new", "api_30d_new"}
# SPEC §8: the scoreboard API for 10,000 campaigns answers in under 100 ms.
API_BUDGET_MS = 100.0
STORE_COMMANDS = ("hgetall", "hmget", "get", "evalsha")  # what the views send
# The benchmark's own commands, left out of the store's time per request.
OWN_COMMANDS = {"info", "config", "latency", "slowlog"}
VISITOR_TTL = 60  # s: landings.lua's shortest life of a visitor key
LATENCY_THRESHOLD_MS = 10


def view_paths(today: date) -> dict[str, str]:
    since = (today - timedelta(29)).isoformat()
    return {
        "api_all": "/api/campaigns",
        "api_30d": f"/api/campaigns?from={since}&to={today.isoformat()}",
        "api_all_new": "/api/campaigns",
        "api_30d_new": f"/api/campaigns?from={since}&to={today.isoformat()}",
        "dashboard_all": "/dashboard",
        "dashboard_30d": f"/dashboard?from={since}&to={today.isoformat()}",
    }


@dataclass
class Side:
    """One server and its store, and what was measured on it, per view."""

    name: str
    server: Gunicorn
    client: Any  # redis.Redis of its store
    times: dict[str, list[float]] = field(default_factory=dict)  # s, all rounds
    round_ms: dict[str, list[float]] = field(default_factory=dict)  # per round
    app_cpu: dict[str, float] = field(default_factory=dict)  # s, timed requests
    store: dict[str, float] = field(default_factory=dict)  # s in commands
    requests: dict[str, int] = field(default_factory=dict)  # timed ones
    details: dict[str, str] = field(default_factory=dict)
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: int = 0  # landings recorded for the CHANGED_VIEWS

    @cached_property
    def writer(self) -> Store:
        return loading_store(self.client)

    def median(self, view: str) -> float:
        return median_ms(self.times[view])

    def per_request_ms(self, figures: dict[str, float], view: str) -> float:
        return figures[view] / self.requests[view] * 1000


def landing_now(n: int) -> dict[str, Any]:
    """A landing in one of the first 100 campaigns, now (today's counters)."""
    now = datetime.now(UTC)
    return {
        "ts": int(now.timestamp() * 1000),
        "day": now.date().isoformat(),
        "mode": "live",
        "campaign": campaign_name(n % 100),
        "source": SOURCES[n % len(SOURCES)],
        "medium": "email",
        "visitor": f"change{n:016x}",
    }


def store_command_us(client: Any) -> float:
    """Microseconds the store has spent executing commands so far (ours aside)."""
    stats = client.info("commandstats")
    return sum(
        float(s["usec"])
        for name, s in stats.items()
        if name.removeprefix("cmdstat_") not in OWN_COMMANDS
    )


def measure_pairs(
    order: tuple[Side, Side],
    view: str,
    path: str,
    repeats: int,
    headers: dict[str, str],
) -> list[float]:
    """REPEATS requests of one view on each side, interleaved request by request.

    Each side gets a keep-alive connection and one unmeasured request
    first; then the sides take turns in `order`, so that each B request
    runs next to an A request, on the machine as it is at that moment.
    Returns B/A of each such pair.
    """
    connections = {
        side.name: http.client.HTTPConnection(
            "127.0.0.1", side.server.port, timeout=120
        )
        for side in order
    }
    times: dict[str, list[float]] = {side.name: [] for side in order}
    replies: dict[str, Reply] = {}

    def changed(side: Side) -> None:
        if view in CHANGED_VIEWS:
            side.changes += 1
            side.writer.record_landings([landing_now(side.changes)], 0)

    try:
        for side in order:
            changed(side)
            replies[side.name] = fetch(
                side.server.port,
                path,
                headers=headers,
                connection=connections[side.name],
            )
        before = {
            side.name: (side.server.cpu_seconds(), store_command_us(side.client))
            for side in order
        }
        for _ in range(repeats):
            for side in order:
                changed(side)
                started = time.perf_counter()
                reply = fetch(
                    side.server.port,
                    path,
                    headers=headers,
                    connection=connections[side.name],
                )
                times[side.name].append(time.perf_counter() - started)
                if reply.status != 200:
                    raise RuntimeError(
                        f"{side.name} GET {path}: {reply.status} {reply.body[:200]!r}"
                    )
                replies[side.name] = reply
        for side in order:
            cpu, usec = before[side.name]
            side.app_cpu[view] = (
                side.app_cpu.get(view, 0.0) + side.server.cpu_seconds() - cpu
            )
            usec = store_command_us(side.client) - usec
            side.store[view] = side.store.get(view, 0.0) + usec / 1e6
    finally:
        for connection in connections.values():
            connection.close()
    for side in order:
        side.requests[view] = side.requests.get(view, 0) + repeats
        side.times.setdefault(view, []).extend(times[side.name])
        side.round_ms.setdefault(view, []).append(median_ms(times[side.name]))
        if view not in side.details:
            side.details[view] = describe_reply(side, view, replies[side.name])
    return [tb / ta for ta, tb in zip(times["A"], times["B"], strict=True)]


def describe_reply(side: Side, view: str, reply: Reply) -> str:
    """What a view answered: its size, and its campaigns and totals or rows."""
    detail = f"{len(reply.body) / 1024:.0f} kB"
    if view.startswith("api"):
        body = json.loads(reply.body)
        side.totals[view] = body["totals"]
        return detail + (
            f", {len(body['campaigns'])} campaigns, "
            f"{body['totals']['landings']} landings, "
            f"{body['totals']['conversions']} conversions"
        )
    return detail + f", {reply.body.count(b'<tr') - 1} table rows"


def machine_ms() -> float:
    """A fixed piece of pure-Python work, timed: how fast the machine is now."""
    started = time.perf_counter()
    counts: dict[str, int] = {}
    for i in range(60000):
        name = f"camp_{i % 2000:05d}|landings"
        counts[name] = counts.get(name, 0) + i
    return (time.perf_counter() - started) * 1000


def shape(client: Any, days: list[date]) -> dict[str, int]:
    """The sizes of the hashes the views read (fields, not counts)."""
    keys = [K.board("live")]
    keys += [K.board_day("live", d.isoformat()) for d in sample_days(days)]
    keys += [K.daily("live")]
    return {key: int(client.hlen(key)) for key in keys}


def sample_days(days: list[date]) -> list[date]:
    return sorted({days[0], days[len(days) // 2], days[-1]})


def check_shapes(a: Side, b: Side, days: list[date]) -> None:
    """Stop unless the counters the views read have the same fields in A and B."""
    shapes = {side.name: shape(side.client, days) for side in (a, b)}
    print(f"{'hash (HLEN)':40} {'A':>10} {'B':>10}  encoding A / B")
    differ = False
    for key in shapes["A"]:
        encodings = " / ".join(
            str(side.client.object("encoding", key)) for side in (a, b)
        )
        same = shapes["A"][key] == shapes["B"][key]
        differ |= not same
        print(
            f"{key:40} {shapes['A'][key]:10} {shapes['B'][key]:10}  {encodings}"
            + ("" if same else "   <-- DIFFERS")
        )
    board = [set(side.client.hkeys(K.board("live"))) for side in (a, b)]
    if board[0] != board[1]:
        differ = True
        print(
            f"landing:live:board fields only in A: {len(board[0] - board[1])}, "
            f"only in B: {len(board[1] - board[0])}   <-- DIFFER"
        )
    if differ:
        raise SystemExit(
            "api_scale: the stores' counters differ in shape, so A and B would "
            "not build the same views; nothing measured"
        )
    print("same fields in both stores: the views read the same shape")


def describe_store(side: Side) -> str:
    memory = side.client.info("memory")
    keyspace = side.client.info("keyspace").get("db0", {})
    return (
        f"store {side.name}: dbsize {side.client.dbsize()} "
        f"(with a TTL {keyspace.get('expires', 0)}), used_memory "
        f"{memory['used_memory_human']}, rss {memory['used_memory_rss_human']}"
    )


def expiring(side: Side) -> int:
    """Keys with a TTL in the store."""
    return int(side.client.info("keyspace").get("db0", {}).get("expires", 0))


def expired(side: Side) -> int:
    """Keys the store has expired since its stats were last reset."""
    return int(side.client.info("stats")["expired_keys"])


def settle(sides: list[Side], loaded_at: float, limit: float) -> None:
    """Wait (at most `limit` s) until the load's short-lived keys are gone.

    landings.lua keeps the visitor key of a landing on a past day for
    VISITOR_TTL s, so the last minute of loading leaves keys the store then
    expires in its own cycles, taking turns with the commands it serves: a
    cost of having just loaded, not of the history recorded.
    """
    if limit <= 0:
        print("not waiting for the load's visitor keys to expire (--settle 0)")
        return
    started = time.monotonic()
    deadline = started + limit
    before = [expired(side) for side in sides]
    time.sleep(max(0.0, min(loaded_at + VISITOR_TTL + 1, deadline) - started))
    last = [expiring(side) for side in sides]
    steady_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - steady_since < 3:
        time.sleep(0.5)
        now = [expiring(side) for side in sides]
        if now != last:
            last, steady_since = now, time.monotonic()
    gone = ", ".join(
        f"{side.name} {expired(side) - n}"
        for side, n in zip(sides, before, strict=True)
    )
    print(
        f"waited {time.monotonic() - started:.0f} s for the load's visitor keys "
        f"to expire; expired meanwhile: {gone}",
        flush=True,
    )


def reset_store_stats(side: Side) -> None:
    side.client.config_set("latency-monitor-threshold", LATENCY_THRESHOLD_MS)
    side.client.execute_command("LATENCY", "RESET")
    side.client.config_set("slowlog-log-slower-than", LATENCY_THRESHOLD_MS * 1000)
    side.client.slowlog_reset()
    side.client.config_resetstat()


def store_report(side: Side, since: float) -> list[str]:
    """The store's own figures since reset_store_stats() at `since` (epoch s)."""
    stats = side.client.info("commandstats")
    parts = []
    for command in STORE_COMMANDS:
        s = stats.get(f"cmdstat_{command}")
        if s:
            parts.append(
                f"{command} {float(s['usec_per_call']):.1f} us/call "
                f"({s['calls']} calls)"
            )
    lines = [f"store {side.name}: " + ("; ".join(parts) or "no view commands")]
    expired = side.client.info("stats")["expired_keys"]
    events = side.client.execute_command("LATENCY", "LATEST") or []
    shown = ", ".join(
        f"{event[0]!s} {event[2]} ms (max {event[3]} ms)" for event in events
    )
    lines.append(
        f"  keys expired while measuring {expired}; latency events "
        f">= {LATENCY_THRESHOLD_MS} ms: {shown or 'none'}"
    )
    for entry in reversed(side.client.slowlog_get(5)):
        command = entry["command"]
        if isinstance(command, bytes):
            command = command.decode(errors="replace")
        lines.append(
            f"  slow: {command[:60]} {entry['duration'] / 1000:.1f} ms, "
            f"{entry['start_time'] - int(since)} s into the measuring (whole s)"
        )
    return lines


def spread(values: list[float]) -> str:
    """Per-round ratios: their median, and their range."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument(
        "--growth",
        type=int,
        default=10,
        help="copies of the events in store B (A has one; default 10)",
    )
    parser.add_argument(
        "--convert-every",
        type=int,
        default=20,
        help="one campaign-day in N has a payment (default 20)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds (default 5)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="timed requests per view, side and round (default 7)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="landings per call")
    parser.add_argument(
        "--settle",
        type=float,
        default=180,
        help="at most this many s waiting for the load's visitor keys to "
        "expire before measuring; 0: do not wait (default 180)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory and logs"
    )
    args = parser.parse_args()
    if args.growth < 2 or args.rounds < 1 or args.repeats < 1:
        parser.error("--growth must be at least 2, --rounds and --repeats at least 1")

    today = datetime.now(UTC).date()
    days = [today - timedelta(n) for n in range(args.days - 1, -1, -1)]
    paths = view_paths(today)
    headers = {"Authorization": auth_header()}
    with Bench("api-scale", keep=args.keep) as bench:
        store_a = bench.start_store()
        store_b = bench.start_another_store("store-b")
        sides: list[Side] = []
        for name, store_server in (("A", store_a), ("B", store_b)):
            server = bench.start_server(
                f"landing-{name.lower()}",
                REDIS_URL=store_server.url,
                JOURNAL_DIR=str(bench.tmp / f"journal-{name.lower()}"),
            )
            # The product's own client settings, with room for big batches.
            client = node_client(store_server.url)
            client.connection_pool.connection_kwargs["socket_timeout"] = 60
            sides.append(Side(name, server, client))
        a, b = sides

        def grow(side: Side, copies: range) -> None:
            started = time.monotonic()
            landed, paid = load(
                loading_store(side.client),
                copies,
                args.campaigns,
                days,
                args.convert_every,
                args.batch,
            )
            print(
                f"store {side.name}, copies {copies.start}..{copies.stop - 1}: "
                f"{landed} landings and {paid} payments recorded in "
                f"{time.monotonic() - started:.1f} s",
                flush=True,
            )

        print(
            f"{args.campaigns} campaigns x {args.days} days, a payment on one "
            f"campaign-day in {args.convert_every}; store A gets 1 copy, "
            f"store B {args.growth}",
            flush=True,
        )
        grow(a, range(1))
        grow(b, range(1))
        grow(b, range(1, args.growth))
        loaded_at = time.monotonic()
        check_shapes(a, b, days)
        settle(sides, loaded_at, args.settle)
        for side in sides:
            print(describe_store(side), flush=True)

        for side in sides:
            reset_store_stats(side)
        measuring_since = time.time()
        print(
            f"\n{args.rounds} rounds; in each, per view, one untimed request per "
            f"side, then {args.repeats} per side taking turns (A B A B …, or "
            "B A B A …); no ETag",
            flush=True,
        )
        pairs: dict[str, list[float]] = {view: [] for view in VIEWS}
        machine: list[float] = []
        for n in range(args.rounds):
            order = (a, b) if n % 2 == 0 else (b, a)
            machine.append(machine_ms())
            ratios = []
            for view in VIEWS:
                pairs[view] += measure_pairs(
                    order, view, paths[view], args.repeats, headers
                )
                ratio = b.round_ms[view][-1] / a.round_ms[view][-1]
                ratios.append(f"{view} {ratio:.2f}")
            print(
                f"round {n + 1} ({' '.join(s.name for s in order)}): B/A "
                + "  ".join(ratios)
                + f"   (machine {machine[-1]:.0f} ms)",
                flush=True,
            )
        print(
            f"a fixed piece of Python work took {min(machine):.0f}..{max(machine):.0f}"
            " ms across rounds: the machine's own speed varies that much",
            flush=True,
        )
        print()
        for view in VIEWS:
            for side in sides:
                print(f"  {view:14} {side.name}: {side.details[view]}")
        landings = [side.totals["api_all"]["landings"] for side in sides]
        if landings[1] != args.growth * landings[0]:
            print(
                f"WARNING: B counts {landings[1]} landings, not "
                f"{args.growth} x {landings[0]}"
            )
        print()
        for side in sides:
            print("\n".join(store_report(side, measuring_since)))
        for side in sides:
            side.client.close()

    figures: dict[str, object] = {
        "campaigns": args.campaigns,
        "days": args.days,
        "growth": args.growth,
        "rounds": args.rounds,
    }
    print()
    print(
        f"{'view':14} {'A ms':>8} {'B ms':>8} {'B/A':>6} {'pairs':>6} "
        f"{'rounds: median (range)':>23}   {'app cpu ms A / B':>16}"
        f"   {'store ms A / B':>14}"
    )
    for view in VIEWS:
        ratio = b.median(view) / a.median(view)
        per_round = [
            rb / ra for ra, rb in zip(a.round_ms[view], b.round_ms[view], strict=True)
        ]
        app = [side.per_request_ms(side.app_cpu, view) for side in sides]
        store = [side.per_request_ms(side.store, view) for side in sides]
        pair = statistics.median(pairs[view])
        print(
            f"{view:14} {a.median(view):8.1f} {b.median(view):8.1f} {ratio:6.2f} "
            f"{pair:6.2f} {spread(per_round):>23}   {app[0]:7.1f} /{app[1]:7.1f}"
            f"   {store[0]:6.2f} /{store[1]:6.2f}"
        )
        figures[f"{view}_ms"] = a.median(view)
        figures[f"{view}_ms_grown"] = b.median(view)
        figures[f"{view}_ratio"] = ratio
        figures[f"{view}_pair_ratio"] = pair
        figures[f"{view}_ratio_min"] = min(per_round)
        figures[f"{view}_ratio_max"] = max(per_round)
    print(
        f"(B has {args.growth}x A's events in the same campaigns and days; "
        "budget: B/A about 1. B/A: of the medians; pairs: the median of each "
        "B request over the A request next to it; rounds: of each round's "
        "medians; app: gunicorn CPU per request; store: command time per "
        "request)"
    )
    print()
    print(
        f"SPEC §8: /api/campaigns for {args.campaigns} campaigns in under "
        f"{API_BUDGET_MS:.0f} ms (median ms / budget; A and B):"
    )
    for view in VIEWS:
        if view.startswith("api"):
            shares = [side.median(view) / API_BUDGET_MS for side in sides]
            what = (
                "just after a change (built anew)"
                if view in CHANGED_VIEWS
                else "nothing changed since the last build (its stored answer)"
            )
            print(f"  {view:14} {shares[0]:5.2f} / {shares[1]:5.2f}   {what}")
            figures[f"{view}_budget_ratio"] = shares[0]
    figures["machine_ms_min"] = min(machine)
    figures["machine_ms_max"] = max(machine)
    print(result_line(**figures))
    return 0


if __name__ == "__main__":
    cli(main)
