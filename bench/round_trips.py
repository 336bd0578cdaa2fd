"""Store round trips per landing and per webhook event (SPEC §8).

The budget: "one store round trip per landing and per webhook event, in the
steady state". Starts a private store and the product under gunicorn,
warms it up (connections opened, scripts loaded), then, measured by the
store itself:

1. N landings (GET /thanks, each a new checkout session), until the
   journals have drained to the store;
2. N signed checkout.session.completed events for those sessions
   (subscriptions, with a PaymentIntent);
3. N charge.refunded, N lost charge.dispute.closed and N renewal invoice.paid
   events about those sessions;
4. an idle period as long as all of them: background commands (health
   checks and the like), subtracted from each pro rata.

Round trips are the commands the app's connections sent: counted from the
store's MONITOR stream, which marks the commands a Lua script ran as its
own ("lua") and so tells the two apart (INFO's total_commands_processed and
commandstats count both). The server's counters are printed too: EVALSHA
calls (one per script call, the round trips when nothing else is sent) and
all commands including those inside scripts (the store's work).

Reading the output: round trips per event should be 1.00 (one EVALSHA);
per landing well below 1, since the journal sends a batch of landings in one
EVALSHA. Anything else sent in the steady state is listed by name.

    .venv/bin/python bench/round_trips.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import redis

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Bench,
    Monitor,
    Phase,
    Target,
    cli,
    commandstats,
    connection_setup,
    journal_drained,
    load_options,
    result_line,
    run_load,
    wait_until,
)
from landing import keys

# The event phases: name → the load that posts one such event per session.
EVENTS = {
    "events": "webhook",
    "refunds": "refund",
    "disputes": "dispute",
    "renewals": "renewal",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="landings, and events (each)"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, help="landings and events before"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="time limit of each load"
    )
    load_options(parser, clients=1, connections=4)
    args = parser.parse_args()
    n = args.requests

    with Bench("round-trips", keep=args.keep) as bench:
        store = bench.start_store()
        server = bench.start_server("landing")
        client = redis.Redis.from_url(store.url, decode_responses=True)
        own_port = str(client.client_info()["addr"]).rpartition(":")[2]
        monitor = Monitor(store.url, own_port)
        monitor.start()
        time.sleep(0.2)

        def mark(name: str) -> None:
            client.echo(f"bench:{name}")
            monitor.wait_marker(name)

        def load(kind: str, tag: str, count: int) -> int:
            result = run_load(
                server.port,
                Target(kind=kind, tag=tag),
                seconds=args.seconds,
                requests=count,
                clients=args.clients,
                connections=args.connections,
            )
            if result.errors or result.ok != count:
                raise RuntimeError(
                    f"{kind}: {result.ok} of {count} answered 200; "
                    f"{dict(result.statuses)} {result.first_error}"
                )
            return result.ok

        def drain() -> None:
            if not wait_until(lambda: journal_drained(bench.journal_dir), 60):
                raise RuntimeError("the journal did not drain in 60 s")

        mark("warmup")
        load("thanks", "w", args.warmup)
        drain()
        for kind in EVENTS.values():  # each script loaded in every worker
            load(kind, "w", args.warmup)

        phases: dict[str, Phase] = {}
        before = commandstats(client)
        for name in ("landings", *EVENTS, "idle"):
            mark(name)
            started = time.monotonic()
            if name == "landings":
                load("thanks", "m", n)
                drain()
            elif name in EVENTS:
                load(EVENTS[name], "m", n)
            else:
                time.sleep(sum(p.seconds for p in phases.values()))
            phase = monitor.phases[name]
            phase.seconds = time.monotonic() - started
            after = commandstats(client)
            phase.stats = after - before
            before = after
            phases[name] = phase
        mark("end")
        monitor.join(10)

        sessions = sum(
            int(client.zcard(keys.sessions(shard))) for shard in keys.shards("live")
        )
        board = keys.board("live")
        paid = int(client.hget(board, "bench|conversions") or 0)
        renewals = int(client.hget(board, "bench|renewals") or 0)
        refunds = int(client.hget(board, "bench|refunds") or 0)
        client.close()

    idle = phases["idle"]
    idle_top = sum(idle.top.values())
    idle_all = idle_top + idle.nested

    def per_item(phase: Phase, count: int, value: float, idle_value: float) -> float:
        background = idle_value * phase.seconds / idle.seconds if idle.seconds else 0
        return (value - background) / count

    figures: dict[str, float] = {}
    items = [("landing", phases["landings"])]
    items += [(name.removesuffix("s"), phases[name]) for name in EVENTS]
    for name, phase in items:
        top = sum(phase.top.values())
        every = sum(phase.stats.values())
        opened, setup = connection_setup(phase.top)
        figures[f"round_trips_per_{name}"] = per_item(phase, n, top, idle_top)
        figures[f"steady_round_trips_per_{name}"] = per_item(
            phase, n, top - setup, idle_top
        )
        figures[f"new_connections_{name}s"] = opened
        figures[f"evalsha_per_{name}"] = phase.stats["evalsha"] / n
        figures[f"commands_per_{name}"] = per_item(phase, n, every, idle_all)
        print(
            f"{n} {name}s in {phase.seconds:.2f} s: the app sent "
            f"{dict(phase.top.most_common())}; scripts ran {phase.nested} commands"
        )
        print(
            f"  server counters: evalsha {phase.stats['evalsha']}, all commands "
            f"{every} (incl. inside scripts)"
        )
    print(
        f"idle {idle.seconds:.2f} s: the app sent {dict(idle.top) or 'nothing'}, "
        f"scripts ran {idle.nested} commands; the builder's timer sent "
        f"{idle.housekeeping} on the watched views (left out everywhere)"
    )
    print(
        f"sessions stored {sessions} (expected {n + args.warmup}); "
        f"conversions counted {paid} (expected {n + args.warmup}); "
        f"renewals {renewals} (expected {n + args.warmup}); sessions refunded "
        f"{refunds} (expected {n + args.warmup})"
    )
    print()
    for name, _ in items:
        print(
            f"round trips per {name + ':':8} {figures[f'round_trips_per_{name}']:.4f}"
            f"; without opening connections "
            f"({figures[f'new_connections_{name}s']:.0f} opened): "
            f"{figures[f'steady_round_trips_per_{name}']:.4f}"
        )
    print(
        f"(budget: at most 1 each; "
        f"{1 / max(figures['evalsha_per_landing'], 1e-9):.1f} landings per "
        f"EVALSHA on average)"
    )
    print(
        f"store commands, including those inside scripts: "
        f"{figures['commands_per_landing']:.1f} per landing, "
        f"{figures['commands_per_event']:.1f} per event"
    )
    print(result_line(**figures))
    ok = (
        figures["steady_round_trips_per_landing"] <= 1
        and all(
            figures[f"steady_round_trips_per_{name}"] <= 1.0001 for name, _ in items[1:]
        )
        and sessions == n + args.warmup
        and paid == n + args.warmup
        and renewals == n + args.warmup
        and refunds == n + args.warmup
    )
    return 0 if ok else 1


if __name__ == "__main__":
    cli(main)
