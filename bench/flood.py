"""A flood of made-up campaigns against a real server (SPEC §4, §8).

`/thanks` is public: anyone can invent campaigns. This plays the flood the
abuse review measured (200,000 junk campaigns, all five codes 150
characters, each landing a new checkout session), against the product under
gunicorn with a private store preloaded with confirmed campaigns, and
reports, before and after the flood:

- the store's persistent bytes (keys without a TTL: what stays for good) and
  the bytes that expire, with when they expire;
- the API latency for the confirmed campaigns (the scoreboard, and one
  campaign's detail) and the dashboard's;
- /thanks throughput with three dashboards open, without and with the flood
  in the store, in alternating rounds.

The goal: persistent bytes from the flood ≈ 0; confirmed campaigns' API
latency within 1.1 times that without the flood.

    .venv/bin/python bench/flood.py [--junk 200000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import redis

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_scale import load as preload
from bench.api_scale import loading_store
from bench.dashboard_interference import Dashboards, open_dashboards
from bench.harness import (
    Bench,
    Target,
    auth_header,
    cli,
    journal_drained,
    load_options,
    median_ms,
    result_line,
    run_load,
    timed_gets,
    wait_until,
)
from landing import keys
from landing.store import node_client


def footprint(client: redis.Redis) -> tuple[int, int, list[int]]:
    """Bytes of keys without a TTL, bytes of keys with one, and those TTLs (s)."""
    persistent = expiring = 0
    ttls: list[int] = []
    batch: list[str] = []

    def measure() -> None:
        nonlocal persistent, expiring
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.ttl(key)
            pipe.memory_usage(key, samples=0)
        replies = pipe.execute()
        for ttl, size in zip(replies[::2], replies[1::2], strict=True):
            if size is None:  # expired meanwhile
                continue
            if ttl == -1:
                persistent += size
            else:
                expiring += size
                ttls.append(ttl)
        batch.clear()

    for key in client.scan_iter(count=5000):
        batch.append(key)
        if len(batch) >= 2000:
            measure()
    if batch:
        measure()
    return persistent, expiring, ttls


def latencies(port: int, paths: list[str], repeats: int) -> dict[str, float]:
    """Median ms of each path, signed in."""
    headers = {"Authorization": auth_header()}
    return {
        path: median_ms(timed_gets(port, path, repeats, headers)[0]) for path in paths
    }


def thanks_rate(port: int, tag: str, seconds: float, args: argparse.Namespace) -> float:
    result = run_load(
        port,
        Target(kind="thanks", tag=tag, campaign="bench_flood"),
        seconds=seconds,
        requests=1_000_000,
        clients=args.clients,
        connections=args.connections,
    )
    if result.errors:
        raise RuntimeError(f"/thanks: {result.errors} errors, {result.first_error}")
    return result.rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junk", type=int, default=200_000, help="junk campaigns")
    parser.add_argument("--campaigns", type=int, default=200, help="confirmed ones")
    parser.add_argument("--days", type=int, default=30, help="of confirmed data")
    parser.add_argument("--repeats", type=int, default=30, help="latency samples")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument("--seconds", type=float, default=5.0, help="per round")
    load_options(parser, clients=2, connections=4)
    args = parser.parse_args()

    today = datetime.now(UTC).date()
    days = [today - timedelta(n) for n in range(args.days - 1, -1, -1)]
    with Bench("flood", keep=args.keep) as bench:
        store_server = bench.start_store()
        server = bench.start_server("landing")
        client = node_client(store_server.url)
        client.connection_pool.connection_kwargs["socket_timeout"] = 120
        preload(loading_store(client), range(1), args.campaigns, days, 5, 1000)
        # The preloaded campaigns are real ones: a payment confirmed each.
        confirmed = cast(set[str], client.smembers(keys.confirmed("live")))
        some = sorted(confirmed)[0]
        paths = ["/api/campaigns", f"/api/campaigns/{some}", "/dashboard"]
        views = [
            "/dashboard",
            f"/dashboard?from={days[-7].isoformat()}&to={today.isoformat()}",
        ]

        def throughput(label: str) -> list[float]:
            rates = []
            dashboards = Dashboards(
                server.port, open_dashboards(server.port, views, 3), 1
            )
            with dashboards:
                for n in range(args.rounds):
                    rates.append(
                        thanks_rate(server.port, f"{label}{n}", args.seconds, args)
                    )
                dashboards.finish()
            wait_until(lambda: journal_drained(bench.journal_dir), 60)
            return rates

        before_bytes, before_expiring, _ = footprint(client)
        before_latency = latencies(server.port, paths, args.repeats)
        before_rates = throughput("a")
        print(
            f"before: {len(confirmed)} confirmed campaigns; persistent "
            f"{before_bytes / 1e6:.2f} MB, expiring {before_expiring / 1e6:.2f} MB; "
            + ", ".join(f"{p} {ms:.1f} ms" for p, ms in before_latency.items())
            + f"; /thanks with 3 dashboards {statistics.median(before_rates):.0f}/s"
        )

        started = time.monotonic()
        flood = run_load(
            server.port,
            Target(kind="junk", tag="j"),
            seconds=3600,
            requests=args.junk,
            clients=args.clients,
            connections=args.connections,
        )
        if not wait_until(lambda: journal_drained(bench.journal_dir), 300):
            raise RuntimeError("the journal did not drain")
        flood_seconds = time.monotonic() - started
        during_latency = latencies(server.port, paths, args.repeats)
        after_bytes, after_expiring, ttls = footprint(client)
        unconfirmed = client.zcard(keys.unconfirmed("live"))
        after_rates = throughput("b")
        print(
            f"flood: {flood.ok} junk landings ({flood.errors} errors) in "
            f"{flood_seconds:.1f} s; {unconfirmed} unconfirmed campaigns"
        )
        print(
            f"after: persistent {after_bytes / 1e6:.2f} MB "
            f"(+{(after_bytes - before_bytes) / 1e6:.3f} MB), expiring "
            f"{after_expiring / 1e6:.1f} MB ({after_expiring / max(flood.ok, 1):.0f} "
            f"bytes per junk landing), TTLs {min(ttls, default=0) / 86400:.2f}-"
            f"{max(ttls, default=0) / 86400:.2f} days; "
            + ", ".join(f"{p} {ms:.1f} ms" for p, ms in during_latency.items())
            + f"; /thanks with 3 dashboards {statistics.median(after_rates):.0f}/s"
        )
        client.close()

    ratios = {
        f"latency_ratio{p.replace('/', '_')}": during_latency[p] / before_latency[p]
        for p in paths
    }
    figures = {
        "junk_landings": flood.ok,
        "persistent_bytes_added": after_bytes - before_bytes,
        "expiring_bytes": after_expiring,
        "bytes_per_junk_landing": round(after_expiring / max(flood.ok, 1)),
        "thanks_ratio_flood": statistics.median(after_rates)
        / statistics.median(before_rates),
        **{k: round(v, 3) for k, v in ratios.items()},
    }
    print(result_line(**figures))
    return 0


if __name__ == "__main__":
    cli(main)
