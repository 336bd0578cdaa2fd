"""/thanks throughput with and without open dashboards polling (SPEC §8).

The budget: "Open dashboards never slow down customers' thank-you pages."
Starts a private store and one product server (gunicorn, the project's
gunicorn.conf.py), preloads the store with CAMPAIGNS x DAYS of data (every
campaign lands every day, a payment on one campaign-day in CONVERT_EVERY),
so a scoreboard build costs what it costs at that scale. It then loads
/thanks, each request a new checkout session as in thanks_throughput.py,
in alternating rounds (A B, B A, …) on the same server:

- A: no dashboard open (and none for WATCH_SECONDS before, so the builder
  has left their views);
- B: DASHBOARDS simulated open dashboards polling as static/dashboard.js
  does: each GETs the board's live part (the page's data-live-url, i.e.
  `/dashboard?<view args>&fragment=board`) every 750 ms after the previous
  answer, with `If-None-Match` of the last ETag it got and Basic auth; half
  of them on all time, half on the last 30 days. They start at random
  phases, each with the ETag of a page load made once before the rounds.
  The builder process gunicorn.conf.py starts (landing/builder.py, nice
  19) rebuilds the views, and the web workers serve its builds;
- C (unless --no-without-builder): the same dashboards with the builder
  stopped (SIGSTOP, SIGCONT after the phase): the web workers fall back to
  building the views themselves, as every version before the builder did.

While /thanks traffic lands, every number changes all the time, so polls
get a new build (200) of their view at most every 750 ms, one build shared
by every server process (landing.live.poll), and 304s in between.

Output: one line per round, then /thanks requests/s and p99 latency alone
and with dashboards, their ratios B/A (the budget: at least 0.95 at 10,000
campaigns, SPEC §8) and C/A, the CPU the web workers and the builder used
per /thanks in each phase, the polls answered 200 and 304 and their
latency.

    .venv/bin/python bench/dashboard_interference.py [--campaigns 2000] [--days 30]

Note: the load generator, the pollers and the store share the machine's
cores with the server; figures are for comparing A with B, not for
capacity planning.
"""

from __future__ import annotations

import argparse
import html
import http.client
import multiprocessing
import os
import queue
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_scale import load as preload
from bench.api_scale import loading_store
from bench.harness import (
    Bench,
    Gunicorn,
    LoadResult,
    Target,
    auth_header,
    cli,
    fetch,
    load_options,
    median_ms,
    percentile_ms,
    process_cpu_seconds,
    result_line,
    run_load,
    timed_gets,
)
from landing.live import WATCH_SECONDS
from landing.store import node_client

CAMPAIGN = "bench_interference"
TARGET_RATIO = 0.95
INTERVAL = 0.75  # static/dashboard.js: INTERVAL = 750 ms
LIVE_URL = re.compile(r'data-live-url="([^"]*)"')
PAGE_ETAG = re.compile(r'data-etag="([^"]*)"')


@dataclass
class Polls:
    """What the simulated dashboards saw in one B phase."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # s, every answer
    errors: int = 0
    first_error: str = ""
    etags: list[str] = field(default_factory=list)  # each dashboard's last

    def extend(self, other: Polls) -> None:
        self.statuses.update(other.statuses)
        self.latencies += other.latencies
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


def _dashboard(
    port: int,
    path: str,
    etag: str,
    offset: float,
    stop: Any,
    out: Polls,
    slot: int,
    lock: threading.Lock,
) -> None:
    """One open dashboard: dashboard.js's poll loop, until `stop` is set."""
    mine = Polls()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stop.wait(offset)
    try:
        while not stop.is_set():
            headers = {"Accept": "text/html", "Authorization": auth_header()}
            if etag:
                headers["If-None-Match"] = etag
            started = time.perf_counter()
            try:
                reply = fetch(port, path, headers=headers, connection=conn)
            except (OSError, http.client.HTTPException) as exc:
                mine.errors += 1
                mine.first_error = mine.first_error or repr(exc)
                conn.close()  # http.client reconnects on the next request
            else:
                mine.latencies.append(time.perf_counter() - started)
                mine.statuses[reply.status] += 1
                if reply.status == 200:
                    etag = reply.header("ETag") or ""
                elif reply.status != 304:
                    mine.errors += 1
                    mine.first_error = mine.first_error or f"HTTP {reply.status}"
            stop.wait(INTERVAL)  # setTimeout(poll, INTERVAL) after the answer
    finally:
        conn.close()
    with lock:
        out.extend(mine)
        out.etags[slot] = etag


def _dashboards_process(
    port: int,
    views: list[tuple[str, str]],
    seed: int,
    stop: Any,
    results: Any,
) -> None:
    """Every open dashboard as a thread of one process; puts its Polls."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    rng = random.Random(seed)
    out = Polls(etags=[etag for _, etag in views])
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=_dashboard,
            args=(port, path, etag, rng.uniform(0, INTERVAL), stop, out, n, lock),
        )
        for n, (path, etag) in enumerate(views)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(out)


class Dashboards:
    """Open dashboards polling in a process of their own, for one phase."""

    def __init__(self, port: int, views: list[tuple[str, str]], seed: int) -> None:
        context = multiprocessing.get_context("fork")
        self.views = views
        self.stop = context.Event()
        self.results = context.Queue()
        self.process = context.Process(
            target=_dashboards_process,
            args=(port, views, seed, self.stop, self.results),
            daemon=True,
        )

    def __enter__(self) -> Dashboards:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.process.is_alive():
            self.process.join(2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()

    def finish(self) -> Polls:
        """Stop polling; what the dashboards saw, their ETags kept for next time."""
        self.stop.set()
        try:
            polls: Polls = self.results.get(timeout=60)
        except queue.Empty:
            raise RuntimeError("the dashboards' process died or hung") from None
        self.process.join(5)
        self.views[:] = list(zip([p for p, _ in self.views], polls.etags, strict=True))
        return polls


def open_dashboards(port: int, pages: list[str], count: int) -> list[tuple[str, str]]:
    """Load each page once as a browser would: (live URL, ETag) per dashboard."""
    headers = {"Authorization": auth_header(), "Accept": "text/html"}
    views: list[tuple[str, str]] = []
    for n in range(count):
        page = pages[n % len(pages)]
        reply = fetch(port, page, headers=headers)
        text = reply.body.decode()
        live, etag = LIVE_URL.search(text), PAGE_ETAG.search(text)
        if reply.status != 200 or live is None or etag is None:
            raise SystemExit(f"GET {page}: {reply.status}, no live URL or ETag")
        views.append((html.unescape(live.group(1)), html.unescape(etag.group(1))))
    return views


def builder_pid(server: Gunicorn) -> int | None:
    """The builder process gunicorn.conf.py started under the master, if any."""
    assert server.process is not None
    master = server.process.pid
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return None
    for pid in (int(p) for p in children.split()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"landing.builder" in command:
            return pid
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=2000, help="preloaded")
    parser.add_argument("--days", type=int, default=30, help="preloaded, to today")
    parser.add_argument(
        "--convert-every",
        type=int,
        default=20,
        help="one campaign-day in N has a payment (default 20)",
    )
    parser.add_argument("--dashboards", type=int, default=12, help="open in B")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of A and B")
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument(
        "--requests", type=int, default=100_000, help="at most, per phase"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    parser.add_argument(
        "--no-without-builder",
        dest="without_builder",
        action="store_false",
        help="skip phase C (dashboards with the builder stopped)",
    )
    load_options(parser, clients=2, connections=4)
    args = parser.parse_args()

    today = datetime.now(UTC).date()  # REPORT_TIMEZONE is UTC in the bench
    days = [today - timedelta(n) for n in range(args.days - 1, -1, -1)]
    since = (today - timedelta(29)).isoformat()
    pages = ["/dashboard", f"/dashboard?from={since}&to={today.isoformat()}"]

    with Bench("interference", keep=args.keep) as bench:
        store_server = bench.start_store()
        server = bench.start_server("landing")
        client = node_client(store_server.url)
        client.connection_pool.connection_kwargs["socket_timeout"] = 60
        started = time.monotonic()
        landed, paid = preload(
            loading_store(client),
            range(1),
            args.campaigns,
            days,
            args.convert_every,
            1000,
        )
        print(
            f"preloaded {args.campaigns} campaigns x {args.days} days: {landed} "
            f"landings, {paid} payments in {time.monotonic() - started:.1f} s; "
            f"store memory {client.info('memory')['used_memory_human']}",
            flush=True,
        )
        client.close()
        for page in pages:
            times, reply = timed_gets(
                server.port, page, 3, {"Authorization": auth_header()}
            )
            print(
                f"a full build of {page}: median {median_ms(times):.0f} ms, "
                f"{len(reply.body) / 1024:.0f} kB",
                flush=True,
            )
        views = open_dashboards(server.port, pages, args.dashboards)
        print(
            f"{args.dashboards} dashboards polling every {INTERVAL * 1000:.0f} ms: "
            + ", ".join(sorted({path for path, _ in views})),
        )
        print(
            f"load: {args.clients} processes x {args.connections} keep-alive "
            f"connections to /thanks; {args.rounds} rounds of {args.seconds:g} s "
            "alone (A) and with dashboards (B)",
            flush=True,
        )

        def thanks(tag: str, seconds: float) -> LoadResult:
            return run_load(
                server.port,
                Target("thanks", tag=tag, campaign=CAMPAIGN),
                seconds=seconds,
                requests=args.requests,
                clients=args.clients,
                connections=args.connections,
            )

        def with_dashboards(
            tag: str, seconds: float, seed: int
        ) -> tuple[LoadResult, Polls]:
            with Dashboards(server.port, views, seed) as dashboards:
                time.sleep(INTERVAL)  # every dashboard has polled once
                result = thanks(tag, seconds)
                return result, dashboards.finish()

        thanks("warm-a", args.warmup)
        with_dashboards("warm-b", args.warmup, seed=0)
        builder = builder_pid(server)
        if builder is None:
            print("no builder process under gunicorn: B has none either")
        phases = ["A", "B"] + (["C"] if args.without_builder and builder else [])
        print(
            "phases: A alone, B with dashboards (the builder builds)"
            + (", C with dashboards and the builder stopped" if "C" in phases else ""),
            flush=True,
        )

        results = {phase: LoadResult() for phase in phases}
        polls = {phase: Polls() for phase in phases}
        # CPU seconds of the web workers (and master) and of the builder.
        cpu = {phase: [0.0, 0.0] for phase in phases}
        ratios: dict[str, list[float]] = {phase: [] for phase in phases[1:]}

        def builder_cpu() -> float:
            return process_cpu_seconds(builder) if builder else 0.0

        quiet_from = time.monotonic() + WATCH_SECONDS + 0.5  # after warm-b
        for n in range(args.rounds):
            rates: dict[str, float] = {}
            shift = n % len(phases)
            for phase in phases[shift:] + phases[:shift]:
                if phase == "A":
                    # No dashboard open: the views they polled leave the
                    # builder's list WATCH_SECONDS after their last poll.
                    time.sleep(max(0.0, quiet_from - time.monotonic()))
                before = (server.cpu_seconds(), builder_cpu())
                if phase == "A":
                    result = thanks(f"r{n}a", args.seconds)
                elif phase == "B":
                    result, seen = with_dashboards(f"r{n}b", args.seconds, seed=n + 1)
                    polls[phase].extend(seen)
                else:
                    assert builder is not None
                    os.kill(builder, signal.SIGSTOP)
                    try:
                        result, seen = with_dashboards(
                            f"r{n}c", args.seconds, seed=n + 1
                        )
                    finally:
                        os.kill(builder, signal.SIGCONT)
                    polls[phase].extend(seen)
                spent = (server.cpu_seconds(), builder_cpu())
                if phase != "A":
                    quiet_from = time.monotonic() + WATCH_SECONDS + 0.5
                builder_spent = spent[1] - before[1]
                cpu[phase][0] += spent[0] - before[0] - builder_spent
                cpu[phase][1] += builder_spent
                results[phase].extend(result)
                rates[phase] = result.rate
            for phase in phases[1:]:
                ratios[phase].append(rates[phase] / rates["A"] if rates["A"] else 0.0)
            print(
                f"round {n + 1}: alone {rates['A']:6.0f}/s"
                + "".join(
                    f"   {phase} {rates[phase]:6.0f}/s ({ratios[phase][-1]:.3f})"
                    for phase in phases[1:]
                ),
                flush=True,
            )

    errors = sum(r.errors for r in results.values())
    for phase, side in results.items():
        if side.errors:
            print(
                f"/thanks {phase}: {side.errors} failed, statuses "
                f"{dict(side.statuses)} {side.first_error}"
            )
    poll_errors = sum(p.errors for p in polls.values())
    for phase, seen in polls.items():
        if seen.errors:
            print(f"polls {phase}: {seen.errors} failed, first: {seen.first_error}")
    alone = results["A"]
    names = {
        "A": "alone",
        "B": "dashboards, builder",
        "C": "dashboards, no builder",
    }
    print()
    for phase, side in results.items():
        workers, built = (c / max(side.ok, 1) * 1e6 for c in cpu[phase])
        print(
            f"/thanks {names[phase]:23} {side.rate:7.0f} req/s, "
            f"p99 {side.percentile_ms(99):6.1f} ms; CPU per /thanks: web workers "
            f"{workers:5.0f} us, builder {built:5.0f} us"
        )
    figures: dict[str, object] = {"thanks_rps_alone": alone.rate}
    for phase in phases[1:]:
        ratio = results[phase].rate / alone.rate if alone.rate else 0.0
        budget = f"  (budget >= {TARGET_RATIO:.2f})" if phase == "B" else ""
        print(
            f"ratio {phase}/A ({names[phase]}): {ratio:6.3f}{budget}; "
            f"per round {min(ratios[phase]):.3f}..{max(ratios[phase]):.3f}"
        )
        seen = polls[phase]
        poll_median = median_ms(seen.latencies) if seen.latencies else 0.0
        print(
            f"  polls: {seen.statuses[200]} answered 200 (a build, new or shared), "
            f"{seen.statuses[304]} answered 304; latency median "
            f"{poll_median:.0f} ms, p99 {percentile_ms(seen.latencies, 99):.0f} ms, "
            f"max {max(seen.latencies, default=0) * 1000:.0f} ms; "
            f"{seen.errors} failed"
        )
        key = "" if phase == "B" else "_without_builder"
        figures[f"thanks_rps_with_dashboards{key}"] = results[phase].rate
        figures[f"ratio{key}"] = ratio
        figures[f"polls_200{key}"] = seen.statuses[200]
        figures[f"polls_304{key}"] = seen.statuses[304]
        figures[f"poll_ms_median{key}"] = poll_median
        figures[f"thanks_p99_ms_with_dashboards{key}"] = results[phase].percentile_ms(
            99
        )
    figures["thanks_p99_ms_alone"] = alone.percentile_ms(99)
    figures["target"] = TARGET_RATIO
    figures["errors"] = errors + poll_errors
    print(result_line(**figures))
    return 0 if not errors and not poll_errors else 1


if __name__ == "__main__":
    cli(main)
