"""Dashboard and API latency at scale, before and after 10x the events (SPEC §8).

The budget: "Dashboard and API cost grows with campaigns and days shown, not
with the number of landings or conversions ever recorded." Starts a private
store and the product under gunicorn, loads CAMPAIGNS x DAYS of data
directly through the store's own scripts (Store.record_landings in batches,
Store.record_outcome from a few threads): every campaign has a landing on
every day, and every CONVERT_EVERY-th campaign-day a paid checkout. It then
times, as the median of REPEATS sequential requests (no ETag, so every one
is built in full):

- GET /api/campaigns, all time and the last 30 days;
- GET /dashboard (HTML, the first page of 50 rows), all time and 30 days.

Then it records GROWTH-1 more copies of the same events (the same campaigns
and days, new visitors and sessions), so every count is GROWTH times larger
while campaigns and days stay the same, and times the same requests again.

Reading the output: the after/before ratios should be about 1 (within the
machine's noise); a ratio near GROWTH would mean the cost follows the events
recorded. The absolute figures are the latency at that scale.

Defaults load 2,000 campaigns x 90 days (180,000 campaign-days), then grow
them tenfold (1.8 million landings in all), in about three minutes: the
store's scripts take some 40-80 us per landing on this kind of machine. The
SPEC's scale of 10,000 campaigns is `--campaigns 10000 --growth 2` (about
three minutes too), or `--campaigns 10000` for tenfold (about 13 minutes).

    .venv/bin/python bench/api_scale.py [--campaigns 2000] [--days 90] [--growth 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Bench,
    auth_header,
    cli,
    median_ms,
    result_line,
    timed_gets,
)
from landing.events import Outcome
from landing.store import Breaker, Store, connect

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


def measure(port: int, today: date, repeats: int) -> dict[str, float]:
    """Median milliseconds per view; checks each answered in full."""
    since = (today - timedelta(29)).isoformat()
    views = {
        "api_all": "/api/campaigns",
        "api_30d": f"/api/campaigns?from={since}&to={today.isoformat()}",
        "dashboard_all": "/dashboard",
        "dashboard_30d": f"/dashboard?from={since}&to={today.isoformat()}",
    }
    headers = {"Authorization": auth_header()}
    out: dict[str, float] = {}
    for name, path in views.items():
        times, reply = timed_gets(port, path, repeats, headers)
        out[name] = median_ms(times)
        detail = f"{len(reply.body) / 1024:.0f} kB"
        if name.startswith("api"):
            body = json.loads(reply.body)
            detail += (
                f", {len(body['campaigns'])} campaigns, "
                f"{body['totals']['landings']} landings, "
                f"{body['totals']['conversions']} conversions"
            )
        else:
            detail += f", {reply.body.count(b'<tr') - 1} table rows"
        print(
            f"  {name:14} median {out[name]:8.1f} ms "
            f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}); {detail}",
            flush=True,
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument(
        "--growth", type=int, default=10, help="events multiplied by (default 10)"
    )
    parser.add_argument(
        "--convert-every",
        type=int,
        default=20,
        help="one campaign-day in N has a payment (default 20)",
    )
    parser.add_argument("--repeats", type=int, default=7, help="requests per view")
    parser.add_argument("--batch", type=int, default=1000, help="landings per call")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory and logs"
    )
    args = parser.parse_args()

    today = datetime.now(UTC).date()
    days = [today - timedelta(n) for n in range(args.days - 1, -1, -1)]
    with Bench("api-scale", keep=args.keep) as bench:
        store_server = bench.start_store()
        server = bench.start_server("landing")
        # The product's own client settings, with room for big batches.
        client = connect(store_server.url)
        client.connection_pool.connection_kwargs["socket_timeout"] = 60
        store = loading_store(client)

        def grow(copies: range, label: str) -> None:
            started = time.monotonic()
            landed, paid = load(
                store, copies, args.campaigns, days, args.convert_every, args.batch
            )
            memory = client.info("memory")["used_memory_human"]
            print(
                f"{label}: {landed} landings and {paid} payments recorded in "
                f"{time.monotonic() - started:.1f} s; store memory {memory}",
                flush=True,
            )

        print(
            f"{args.campaigns} campaigns x {args.days} days, a payment on one "
            f"campaign-day in {args.convert_every}",
            flush=True,
        )
        grow(range(1), "loaded")
        before = measure(server.port, today, args.repeats)
        grow(range(1, args.growth), f"grown {args.growth}x")
        after = measure(server.port, today, args.repeats)
        client.close()

    figures: dict[str, object] = {"campaigns": args.campaigns, "days": args.days}
    print()
    print(f"{'view':14} {'before ms':>10} {'after ms':>10} {'after/before':>13}")
    for name in before:
        ratio = after[name] / before[name]
        print(f"{name:14} {before[name]:10.1f} {after[name]:10.1f} {ratio:13.2f}")
        figures[f"{name}_ms"] = before[name]
        figures[f"{name}_ms_grown"] = after[name]
        figures[f"{name}_ratio"] = ratio
    print(f"(events grew {args.growth}x; budget: ratios about 1)")
    print(result_line(**figures))
    return 0


if __name__ == "__main__":
    cli(main)
