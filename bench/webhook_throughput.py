"""Webhook events per second through gunicorn, against /healthz, in one run.

Starts a private store and the product under gunicorn (gunicorn.conf.py),
then loads, in alternating rounds on the same server:

- POST /webhooks/stripe: each request a checkout.session.completed event
  for a new checkout session, signed with the stripe library; the server
  checks the signature, parses the event and stores it (one EVALSHA);
- GET /healthz: the product's cheapest route that touches the store (one
  PING): the same server, framework and store round trip, without the
  signature check, the JSON and the script's work.

Output: one line per round, then events/s, /healthz requests/s and their
ratio (events / healthz). There is no budget; the ratio says what an event
costs over a bare round trip to the store, and a drop between two runs of
this script points at the webhook path. Last, the conversions the store
counted against the events answered 200: they must be equal.

    .venv/bin/python bench/webhook_throughput.py [--rounds 4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Bench,
    Contender,
    Target,
    alternate,
    cli,
    load_options,
    result_line,
)
from landing import keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per route")
    parser.add_argument("--seconds", type=float, default=3.0, help="per round")
    parser.add_argument(
        "--requests", type=int, default=100_000, help="at most, per round"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    load_options(parser, clients=2, connections=4)
    args = parser.parse_args()

    with Bench("webhooks", keep=args.keep) as bench:
        store_server = bench.start_store()
        server = bench.start_server("landing")
        print(
            f"load: {args.clients} processes x {args.connections} keep-alive "
            f"connections; {args.rounds} rounds of {args.seconds:g} s per route",
            flush=True,
        )
        events = Contender("webhook", server, lambda tag: Target("webhook", tag=tag))
        health = Contender(
            "healthz", server, lambda tag: Target("get", path="/healthz", tag=tag)
        )
        store = redis.Redis.from_url(store_server.url)
        ratios = alternate(
            events,
            health,
            rounds=args.rounds,
            seconds=args.seconds,
            requests=args.requests,
            warmup=args.warmup,
            clients=args.clients,
            connections=args.connections,
            store=store,
        )
        conversions = int(
            store.hget(keys.board("live"), "(unattributed)|conversions") or 0
        )
        store.close()

    ratio = events.total.rate / health.total.rate if health.total.rate else 0.0
    errors = events.total.errors + health.total.errors
    print()
    print(f"events:   {events.total.rate:8.0f} /s  (signed, verified, stored)")
    print(f"/healthz: {health.total.rate:8.0f} /s  (one PING)")
    print(f"ratio:    {ratio:8.3f}  (per round {min(ratios):.3f}..{max(ratios):.3f})")
    print(
        f"CPU per request: event {events.cpu_us:.0f} us in gunicorn + "
        f"{events.store_cpu_us:.0f} us in the store; /healthz "
        f"{health.cpu_us:.0f} us + {health.store_cpu_us:.0f} us"
    )
    print(f"events answered 200: {events.answered}; conversions counted: {conversions}")
    print(
        result_line(
            events_per_s=events.total.rate,
            healthz_per_s=health.total.rate,
            ratio=ratio,
            cpu_us_event=events.cpu_us,
            cpu_us_event_store=events.store_cpu_us,
            cpu_us_healthz=health.cpu_us,
            sent=events.answered,
            counted=conversions,
            errors=errors,
        )
    )
    return 0 if conversions == events.answered and not errors else 1


if __name__ == "__main__":
    cli(main)
