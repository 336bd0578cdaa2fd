"""Soak: thank-you pages and Stripe webhooks under load while Redis restarts.

Starts a private persistent Valkey on a fixed free port and the product
under gunicorn (gunicorn.conf.py, WEB_CONCURRENCY=2), then for --seconds
drives, from this process's threads over keep-alive connections:

- /thanks, each request a new checkout session, about one in ten a reload of
  a session already sent (it must count once);
- signed checkout.session.completed webhooks for landed sessions, some
  delivered twice, some for sessions that never land; a webhook answered
  other than 200 is retried until it is, as Stripe does;
- a dashboard poll of /api/campaigns twice a second.

Meanwhile Redis is killed (SIGKILL) and started again on the same port,
twice. After the load, it waits for the journals to drain and compares what
was sent (distinct sessions answered 200) with what the store counted, both
per session and in the scoreboard's totals. The last line is

    RESULT thanks_requests=… thanks_5xx=… p99_ms=… landings_sent=…
           landings_counted=… conversions_sent=… conversions_counted=…
           lost=… doubled=…

(on one line). Targets: no 5xx on /thanks, nothing lost, nothing doubled.

    .venv/bin/python bench/soak.py [--seconds 60] [--rate 200] [--down 3]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import stripe

from landing.devserver import EmbeddedServer, GunicornServer, free_port
from landing.store import Store, connect

SECRET_KEY = "soak-secret-key-not-for-production"
DASHBOARD_PASSWORD = "soak-dashboard-password"
WEBHOOK_SECRET = "whsec_soak_secret"
AUTH = "Basic " + base64.b64encode(f"admin:{DASHBOARD_PASSWORD}".encode()).decode()
CAMPAIGNS = ("spring_sale", "newsletter", "retarget", "partner", "launch")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    """One request, on a given keep-alive connection or a new one."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        response = c.getresponse()
        return response.status, response.read()
    finally:
        if own:
            c.close()


class KeepAlive:
    """A keep-alive connection that reconnects once when the server closed it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                return call(
                    self.port, method, path, body, headers, self.timeout, self.conn
                )
            except (http.client.RemoteDisconnected, ConnectionResetError):
                self.conn.close()  # an idle connection the server let go
                if attempt == 2:
                    raise
            except (OSError, http.client.HTTPException):
                self.conn.close()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Tally:
    """What the load sent and saw; shared by its threads under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[str] = field(default_factory=Counter)
    non_2xx: Counter[tuple[str, int]] = field(default_factory=Counter)
    thanks_ms: list[float] = field(default_factory=list)
    landed: set[str] = field(default_factory=set)  # answered 200
    landed_order: list[str] = field(default_factory=list)
    paid: set[str] = field(default_factory=set)  # webhook answered 200
    webhook_retries: int = 0
    undelivered: int = 0

    def saw(self, route: str, status: int) -> None:
        with self.lock:
            self.requests[route] += 1
            if not 200 <= status < 300:
                self.non_2xx[route, status] += 1


def thanks_load(
    port: int, index: int, rate: float, stop: threading.Event, tally: Tally
) -> None:
    """New sessions at `rate` per second; about one in ten a reload."""
    rng = random.Random(index)
    conn = KeepAlive(port, timeout=10)
    mine: list[str] = []
    n = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            next_at += 1 / rate
            if (pause := next_at - time.monotonic()) > 0:
                time.sleep(pause)
            if mine and rng.random() < 0.1:
                sid = rng.choice(mine)
            else:
                sid = f"cs_live_soak_{index}_{n}"
                n += 1
            campaign = CAMPAIGNS[zlib.crc32(sid.encode()) % len(CAMPAIGNS)]
            path = (
                f"/thanks?session_id={sid}&utm_source=soak&utm_medium=email"
                f"&utm_campaign={campaign}"
            )
            started = time.perf_counter()
            try:
                status, _ = conn.request("GET", path, headers={"User-Agent": "soak"})
            except (OSError, http.client.HTTPException):
                status = 0  # no answer: counted against /thanks
            elapsed = (time.perf_counter() - started) * 1000
            tally.saw("/thanks", status)
            with tally.lock:
                tally.thanks_ms.append(elapsed)
                if status == 200 and sid not in tally.landed:
                    tally.landed.add(sid)
                    tally.landed_order.append(sid)
            if status == 200 and sid not in mine:
                mine.append(sid)
    finally:
        conn.close()


def event_for(sid: str) -> tuple[bytes, str]:
    event = {
        "id": f"evt_{sid.removeprefix('cs_live_')}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": True,
        "data": {
            "object": {
                "id": sid,
                "object": "checkout.session",
                "payment_link": "plink_soak",
                "payment_status": "paid",
                "amount_total": 2500,
                "currency": "eur",
                "client_reference_id": None,
                "mode": "payment",
            }
        },
    }
    body = json.dumps(event, separators=(",", ":"))
    # Signed anew on every delivery, as Stripe does (a fresh timestamp).
    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    return body.encode(), str(header)


def deliver(
    conn: KeepAlive, sid: str, give_up: float, stop_all: threading.Event, tally: Tally
) -> None:
    """Send one event until it is acknowledged, as Stripe retries."""
    delay = 0.2
    while True:
        body, signature = event_for(sid)
        try:
            status, _ = conn.request(
                "POST",
                "/webhooks/stripe",
                body,
                {"Content-Type": "application/json", "Stripe-Signature": signature},
            )
        except (OSError, http.client.HTTPException):
            status = 0
        tally.saw("/webhooks/stripe", status)
        if status == 200:
            with tally.lock:
                tally.paid.add(sid)
            return
        if time.monotonic() > give_up or stop_all.is_set():
            with tally.lock:
                tally.undelivered += 1
            return
        with tally.lock:
            tally.webhook_retries += 1
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def webhook_load(
    port: int,
    index: int,
    rate: float,
    stop: threading.Event,
    stop_all: threading.Event,
    give_up_after: float,
    tally: Tally,
) -> None:
    """Pay for landed sessions; some twice, some that never land."""
    rng = random.Random(1000 + index)
    conn = KeepAlive(port, timeout=10)
    n = 0
    next_at = time.monotonic()
    try:
        while not stop.is_set():
            next_at = max(next_at + 1 / rate, time.monotonic() - 1)
            if (pause := next_at - time.monotonic()) > 0:
                time.sleep(pause)
            roll = rng.random()
            with tally.lock:
                landed = tally.landed_order[-200:]
                paid = list(tally.paid)[-50:] if roll < 0.1 else []
            if paid:
                sid = rng.choice(paid)  # a duplicate delivery
            elif roll < 0.2 or not landed:
                sid = f"cs_live_soak_payonly_{index}_{n}"  # never lands
                n += 1
            else:
                sid = rng.choice(landed)
            deliver(conn, sid, time.monotonic() + give_up_after, stop_all, tally)
    finally:
        conn.close()


def dashboard_poll(port: int, stop: threading.Event, tally: Tally) -> None:
    conn = KeepAlive(port, timeout=10)
    try:
        while not stop.wait(0.5):
            try:
                status, _ = conn.request(
                    "GET", "/api/campaigns", headers={"Authorization": AUTH}
                )
            except (OSError, http.client.HTTPException):
                status = 0
            tally.saw("/api/campaigns", status)
    finally:
        conn.close()


def chaos(
    valkey: EmbeddedServer,
    seconds: float,
    down: float,
    stop: threading.Event,
    log: list[str],
    started: float,
) -> None:
    """Kill Redis at a third and at two thirds of the run; start it again."""
    for at in (seconds / 3, 2 * seconds / 3):
        if stop.wait(max(0.0, started + at - time.monotonic())):
            return
        valkey.kill()
        log.append(f"{time.monotonic() - started:5.1f}s redis killed")
        stop.wait(down)
        valkey.start()
        log.append(f"{time.monotonic() - started:5.1f}s redis started again")


def scoreboard_totals(port: int) -> tuple[int, int] | None:
    try:
        status, body = call(
            port, "GET", "/api/campaigns", headers={"Authorization": AUTH}, timeout=5
        )
    except OSError:
        return None
    if status != 200:
        return None
    totals = json.loads(body)["totals"]
    return int(totals["landings"]), int(totals["conversions"])


def wait_drained(
    port: int, want: tuple[int, int], timeout: float
) -> tuple[tuple[int, int] | None, float]:
    """Poll the scoreboard until it shows `want`, or stops changing."""
    started = time.monotonic()
    last: tuple[int, int] | None = None
    changed = started
    while time.monotonic() - started < timeout:
        now = scoreboard_totals(port)
        if now == want:
            return now, time.monotonic() - started
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed > 15:
            break  # nothing moves any more
        time.sleep(0.25)
    return last, time.monotonic() - started


def in_store(store: Store, sids: set[str]) -> tuple[int, int]:
    """Of these sessions, how many the store holds as landed, and as paid."""
    landed = paid = 0
    for sid in sids:
        record = store.session("live", sid)
        landed += "landed_at" in record
        paid += record.get("status") == "paid"
    return landed, paid


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Soak /thanks and webhooks while Redis restarts twice."
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=200.0, help="/thanks per s")
    parser.add_argument("--webhook-rate", type=float, default=20.0, help="per s")
    parser.add_argument("--down", type=float, default=3.0, help="s Redis is away")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="landing-soak-"))
    old_term = signal.signal(signal.SIGTERM, _interrupt)
    valkey = EmbeddedServer(tmp / "valkey", port=free_port(), persistent=True)
    (tmp / "home").mkdir()  # gunicorn's control socket, away from ~
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    env.update(
        HOME=str(tmp / "home"),
        REDIS_URL=valkey.url,
        SECRET_KEY=SECRET_KEY,
        DASHBOARD_PASSWORD=DASHBOARD_PASSWORD,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        JOURNAL_DIR=str(tmp / "journal"),
        LANDING_RATE_LIMIT="0",
        WEB_CONCURRENCY="2",
        PYTHONDONTWRITEBYTECODE="1",
    )
    app = GunicornServer(env, tmp / "gunicorn.log")
    failed = True
    try:
        valkey.start()
        app.start()
        tally = Tally()
        stop_load, stop_all = threading.Event(), threading.Event()
        events: list[str] = []
        started = time.monotonic()
        loaders = 4
        threads = [
            threading.Thread(
                target=thanks_load,
                args=(app.port, i, args.rate / loaders, stop_load, tally),
            )
            for i in range(loaders)
        ]
        threads += [
            threading.Thread(
                target=webhook_load,
                args=(
                    app.port,
                    i,
                    args.webhook_rate / 2,
                    stop_load,
                    stop_all,
                    60,
                    tally,
                ),
            )
            for i in range(2)
        ]
        threads.append(
            threading.Thread(target=dashboard_poll, args=(app.port, stop_load, tally))
        )
        chaos_thread = threading.Thread(
            target=chaos,
            args=(valkey, args.seconds, args.down, stop_all, events, started),
        )
        for thread in [*threads, chaos_thread]:
            thread.start()
        try:
            time.sleep(args.seconds)
        finally:
            stop_load.set()
            for thread in threads:
                thread.join(90)  # webhooks in retry finish (or give up)
            stop_all.set()
            chaos_thread.join(30)
        load_seconds = time.monotonic() - started

        landings_sent, conversions_sent = len(tally.landed), len(tally.paid)
        counted, drain_seconds = wait_drained(
            app.port, (landings_sent, conversions_sent), 60
        )
        landings_counted, conversions_counted = counted or (-1, -1)
        store = Store(connect(valkey.url))
        landed_in_store, _ = in_store(store, tally.landed)
        _, paid_in_store = in_store(store, tally.paid)
        store.redis.close()

        lost = (landings_sent - landed_in_store) + (conversions_sent - paid_in_store)
        lost += max(0, landed_in_store - landings_counted)
        lost += max(0, paid_in_store - conversions_counted)
        doubled = max(0, landings_counted - landed_in_store) + max(
            0, conversions_counted - paid_in_store
        )
        # No answer at all (status 0) is worse than a 5xx: it counts as one.
        thanks_5xx = sum(
            n
            for (route, status), n in tally.non_2xx.items()
            if route == "/thanks" and (status >= 500 or status == 0)
        )
        p50 = percentile(tally.thanks_ms, 50)
        p99 = percentile(tally.thanks_ms, 99)

        for line in events:
            print(line)
        print(f"load: {load_seconds:.1f} s; drained {drain_seconds:.1f} s after")
        for route, n in sorted(tally.requests.items()):
            bad = {s: c for (r, s), c in tally.non_2xx.items() if r == route}
            print(f"{route}: {n} requests, non-2xx {bad or 'none'}")
        print(
            f"/thanks latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(tally.thanks_ms, default=0):.1f} ms"
        )
        print(
            f"webhooks: {tally.webhook_retries} retries after non-2xx, "
            f"{tally.undelivered} never acknowledged"
        )
        print(
            f"store holds {landed_in_store}/{landings_sent} landed sessions, "
            f"{paid_in_store}/{conversions_sent} paid sessions"
        )
        print(
            f"RESULT thanks_requests={tally.requests['/thanks']} "
            f"thanks_5xx={thanks_5xx} p99_ms={p99:.1f} "
            f"landings_sent={landings_sent} landings_counted={landings_counted} "
            f"conversions_sent={conversions_sent} "
            f"conversions_counted={conversions_counted} lost={lost} doubled={doubled}"
        )
        failed = bool(thanks_5xx or lost or doubled or tally.undelivered)
        return 1 if failed else 0
    finally:
        app.stop()
        valkey.resume()
        valkey.stop()
        signal.signal(signal.SIGTERM, old_term)
        if args.keep or failed:
            print(f"(files kept in {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
