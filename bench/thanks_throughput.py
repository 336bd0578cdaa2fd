"""/thanks throughput with recording vs a static page (SPEC §8).

Starts a private store and two gunicorn servers with the same command and
settings (gunicorn.conf.py): the product (landing.wsgi:app), and
bench/bare_app.py, a bare Flask app whose one route answers with the bytes
and headers of a real /thanks response saved from the product (its second
on one connection, as the load gets it, checked equal to its first, which
rendered the page). It checks that both answer identically, then loads them
in alternating rounds (A B, B A, …) so that drift on a shared, noisy
machine hits both alike. Every request is a new checkout session
(cs_live_…) with UTM codes and a browser's Accept-Language, i.e. a landing
for the product to count.

Output: one line per round, then requests/s and p99 latency of each server
over all rounds, and their ratios. The SPEC's budget: throughput at least
0.85 of the bare app's; ours for latency: p99 at most 1.5 times its p99.
Last, once the journals have drained, the landings the store counted (read
back through /api/campaigns) against the 200 answers the product gave:
they must be equal, each landing counted exactly once.

    .venv/bin/python bench/thanks_throughput.py [--rounds 4] [--seconds 3]

Note: the store runs on the same cores as the servers here, so the store's
work for each landing is charged to the product; in production it runs on
another machine. Figures are for comparing, not for capacity planning.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from pathlib import Path

import redis

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    HOP_HEADERS,
    UTM,
    Bench,
    Contender,
    Target,
    alternate,
    auth_header,
    cli,
    fetch,
    journal_drained,
    load_options,
    result_line,
    store_cpu_seconds,
    wait_until,
)
from landing import keys

CAMPAIGN = "bench_thanks"
TARGET_RATIO = 0.85  # SPEC §8
TARGET_P99 = 1.5  # at most this many times the bare app's p99
# What a browser set to German sends: the product negotiates, the bare app
# replays the German page it was given.
ACCEPT_LANGUAGE = "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7"


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in headers if k.lower() not in HOP_HEADERS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per server")
    parser.add_argument("--seconds", type=float, default=3.0, help="per round")
    parser.add_argument(
        "--requests", type=int, default=100_000, help="at most, per round"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    load_options(parser, clients=2, connections=4)
    args = parser.parse_args()

    with Bench("thanks", keep=args.keep) as bench:
        store_server = bench.start_store()
        product = bench.start_server("landing")
        browser = {"Accept-Language": ACCEPT_LANGUAGE}
        # Twice on one connection (one worker): the first answer renders the
        # page, the second is what every landing of the load gets.
        connection = http.client.HTTPConnection("127.0.0.1", product.port, timeout=60)
        first, reply = [
            fetch(
                product.port,
                f"/thanks?session_id=cs_live_capture_{n}&{UTM}&utm_campaign={CAMPAIGN}",
                headers=browser,
                connection=connection,
            )
            for n in (1, 3)
        ]
        connection.close()
        if reply.status != 200:
            raise SystemExit(f"/thanks answered {reply.status}")
        if (first.body, comparable(first.headers)) != (
            reply.body,
            comparable(reply.headers),
        ):
            raise SystemExit("/thanks answered a made page unlike its first")
        saved = bench.tmp / "thanks_reply.json"
        saved.write_text(
            json.dumps(
                {
                    "status": reply.status,
                    "headers": reply.headers,
                    "body": reply.body.decode(),
                }
            )
        )
        bare = bench.start_server(
            "bare",
            app="bench.bare_app:app",
            ready_path="/thanks",
            BENCH_THANKS_REPLY=str(saved),
        )
        twin = fetch(bare.port, "/thanks?session_id=cs_live_capture_2", headers=browser)
        same = twin.body == reply.body and comparable(twin.headers) == comparable(
            reply.headers
        )
        print(
            f"page: {len(reply.body)} bytes ({reply.header('Content-Language')}); "
            f"the bare app sends the same bytes and headers: {'yes' if same else 'NO'}"
        )
        if not same:
            print("product:", comparable(reply.headers), file=sys.stderr)
            print("bare:   ", comparable(twin.headers), file=sys.stderr)
            raise SystemExit("the baseline does not serve the same page")

        print(
            f"load: {args.clients} processes x {args.connections} keep-alive "
            f"connections; {args.rounds} rounds of {args.seconds:g} s per server",
            flush=True,
        )

        def landings(tag: str) -> Target:
            return Target(
                "thanks", tag=tag, campaign=CAMPAIGN, headers=tuple(browser.items())
            )

        recording = Contender("landing", product, landings)
        baseline = Contender("bare", bare, landings)
        store = redis.Redis.from_url(store_server.url)
        store_cpu = store_cpu_seconds(store)
        ratios = alternate(
            recording,
            baseline,
            rounds=args.rounds,
            seconds=args.seconds,
            requests=args.requests,
            warmup=args.warmup,
            clients=args.clients,
            connections=args.connections,
        )
        landing_rps = recording.total.rate
        bare_rps = baseline.total.rate
        ratio = landing_rps / bare_rps
        landing_p99 = recording.total.percentile_ms(99)
        bare_p99 = baseline.total.percentile_ms(99)
        p99_ratio = landing_p99 / bare_p99 if bare_p99 else 0.0
        errors = recording.total.errors + baseline.total.errors
        sent = 2 + recording.answered  # the captured pages were landings too

        drained = wait_until(lambda: journal_drained(bench.journal_dir), timeout=60)
        store_cpu = store_cpu_seconds(store) - store_cpu
        board = json.loads(
            fetch(
                product.port, "/api/campaigns", headers={"Authorization": auth_header()}
            ).body
        )
        rows: list[dict[str, object]] = board["campaigns"]
        counted = sum(
            int(str(r["landings"])) for r in rows if r["campaign"] == CAMPAIGN
        )
        # Sessions that only landed are indexed apart until a payment comes.
        sessions = sum(
            int(store.zcard(index(shard)))
            for shard in keys.shards("live")
            for index in (keys.sessions, keys.sessions_landed)
        )
        store.close()
        # The store's CPU during the whole run (warm-up, drain) per landing.
        store_us = store_cpu / max(sent, 1) * 1e6
        loadgen_us = (recording.total.cpu + baseline.total.cpu) / max(
            recording.total.ok + baseline.total.ok, 1
        )

        print()
        print(f"landing: {landing_rps:8.0f} req/s   p99 {landing_p99:6.1f} ms")
        print(f"bare:    {bare_rps:8.0f} req/s   p99 {bare_p99:6.1f} ms")
        print(
            f"ratio:   {ratio:8.3f}  (budget >= {TARGET_RATIO:.2f}; "
            f"per round {min(ratios):.3f}..{max(ratios):.3f})"
        )
        print(f"p99:     {p99_ratio:8.2f}x (budget <= {TARGET_P99:.1f}x the bare's)")
        print(
            f"CPU per request: landing {recording.cpu_us:.0f} us in gunicorn "
            f"+ {store_us:.0f} us in the store; bare {baseline.cpu_us:.0f} us; "
            f"load generator {loadgen_us * 1e6:.0f} us"
        )
        cpu_ratio = baseline.cpu_us / (recording.cpu_us + store_us)
        print(
            f"ratio by CPU per request (bare / (landing + store)): {cpu_ratio:.3f}; "
            "less sensitive to other jobs on the machine than req/s"
        )
        print(
            f"landings sent (200 answers): {sent}; counted in the store: {counted}; "
            f"sessions stored: {sessions}; journal drained: {drained}"
        )
        print(
            result_line(
                thanks_rps=landing_rps,
                bare_rps=bare_rps,
                ratio=ratio,
                target=TARGET_RATIO,
                p99_ms=landing_p99,
                bare_p99_ms=bare_p99,
                p99_ratio=p99_ratio,
                cpu_us_landing=recording.cpu_us,
                cpu_us_store=store_us,
                cpu_us_bare=baseline.cpu_us,
                cpu_ratio=cpu_ratio,
                sent=sent,
                counted=counted,
                errors=errors,
            )
        )
        return 0 if counted == sent == sessions and not errors else 1


if __name__ == "__main__":
    cli(main)
