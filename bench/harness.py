"""What the benchmarks share: a private store, real gunicorn servers, a load.

Everything a benchmark starts lives under one temporary directory and is
stopped when the ``Bench`` context exits: on success, on an error, on Ctrl-C
and on SIGTERM. Load goes only to 127.0.0.1, bounded in count and in time.

The load generator is deliberately light, because it shares the machine's
cores with the servers it measures: a few processes (no shared GIL), each
with a few threads holding one keep-alive connection and speaking just
enough HTTP/1.1 to send a request and read its response.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import math
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import redis

from landing import keys
from landing.devserver import EmbeddedCluster, EmbeddedServer, GunicornServer

SECRET_KEY = "bench-secret-key-not-for-production"
DASHBOARD_PASSWORD = "bench-dashboard-password"
WEBHOOK_SECRET = "whsec_bench_secret"
# All the servers take from our environment: the toolchain, and the two
# knobs gunicorn.conf.py reads. Every setting of the app is set below, so a
# developer's shell (a REDIS_URL, a BRAND_NAME) cannot change a result.
INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "VIRTUAL_ENV",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
)
UTM = "utm_source=newsletter&utm_medium=email"
# Set by the server, not by the view; a replayed response gets them anew.
HOP_HEADERS = {"date", "server", "connection", "content-length", "keep-alive"}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Gunicorn(GunicornServer):
    """One gunicorn master with the project's gunicorn.conf.py, named for reports."""

    def __init__(self, name: str, app: str, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log, app=app)
        self.name = name

    def cpu_seconds(self) -> float:
        """CPU time the master and its live workers have used so far (Linux)."""
        if self.process is None:
            return 0.0
        pids = [self.process.pid]
        try:
            children = Path(
                f"/proc/{self.process.pid}/task/{self.process.pid}/children"
            )
            pids += [int(p) for p in children.read_text().split()]
        except OSError:
            pass
        return sum(process_cpu_seconds(pid) for pid in pids)

    def log_tail(self, lines: int = 20) -> str:
        return self.tail(lines)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    """A temporary directory, a private store and servers; all stopped on exit."""

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.tmp = Path()
        self.store: EmbeddedServer | None = None
        # start_another_store(), start_cluster()
        self.more_stores: list[EmbeddedServer | EmbeddedCluster] = []
        self.servers: list[Gunicorn] = []
        self._old_term: Any = None

    def __enter__(self) -> Bench:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"landing-bench-{self.name}-"))
        self._old_term = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failed = kind is not None and not issubclass(
            kind, SystemExit | KeyboardInterrupt
        )
        # A second Ctrl-C must not leave servers behind: stopping is quick.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception as error:  # keep stopping the others
                print(f"could not stop {server.name}: {error}", file=sys.stderr)
            if failed:
                print(
                    f"--- {server.name} log ---\n{server.log_tail()}", file=sys.stderr
                )
        for store in self.more_stores:
            try:
                store.stop()
            except Exception as error:
                print(f"could not stop a store: {error}", file=sys.stderr)
        if self.store is not None:
            try:
                self.store.stop()
            except Exception as error:
                print(f"could not stop the store: {error}", file=sys.stderr)
        signal.signal(signal.SIGTERM, self._old_term)
        signal.signal(signal.SIGINT, old_int)
        if self.keep or failed:
            print(f"(files kept in {self.tmp})", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_store(self) -> EmbeddedServer:
        self.store = EmbeddedServer(self.tmp / "store")
        return self.store.start()

    def start_another_store(self, name: str) -> EmbeddedServer:
        """One more private store, in its own directory, stopped on exit too.

        Servers still get the first store's REDIS_URL unless given another:
        start_server(name, REDIS_URL=store.url).
        """
        store = EmbeddedServer(self.tmp / name)
        self.more_stores.append(store)  # before start(): stopped even if it fails
        return store.start()

    def start_cluster(self, name: str, masters: int = 3) -> EmbeddedCluster:
        """A private Redis Cluster (the same binary), stopped on exit too;
        its `url` is a node's, for REDIS_URL (the app finds the others)."""
        cluster = EmbeddedCluster(self.tmp / name, masters=masters)
        self.more_stores.append(cluster)  # before start(): stopped even if it fails
        return cluster.start()

    @property
    def journal_dir(self) -> Path:
        return self.tmp / "journal"

    def env(self, **extra: str) -> dict[str, str]:
        assert self.store is not None, "start_store() first"
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env.update(
            REDIS_URL=self.store.url,
            SECRET_KEY=SECRET_KEY,
            DASHBOARD_PASSWORD=DASHBOARD_PASSWORD,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            JOURNAL_DIR=str(self.journal_dir),
            LANDING_RATE_LIMIT="0",
            REPORT_TIMEZONE="UTC",
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(extra)
        return env

    def start_server(
        self,
        name: str,
        app: str = "landing.wsgi:app",
        ready_path: str = "/healthz",
        **extra_env: str,
    ) -> Gunicorn:
        server = Gunicorn(name, app, self.env(**extra_env), self.tmp / f"{name}.log")
        self.servers.append(server)
        return server.start(ready_path)


def cli(main: Callable[[], int]) -> None:
    """Run a benchmark's main(); Ctrl-C or SIGTERM end it quietly (status 130)."""
    try:
        status = main()
    except KeyboardInterrupt:
        print(
            "\ninterrupted: everything this benchmark started is stopped",
            file=sys.stderr,
        )
        status = 130
    sys.exit(status)


# -- small HTTP calls from the benchmark itself -----------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def auth_header(password: str = DASHBOARD_PASSWORD, user: str = "admin") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fetch(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    connection: http.client.HTTPConnection | None = None,
) -> Reply:
    """One request; on a given keep-alive connection, or a new one."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        if connection is None:
            conn.close()


def timed_gets(
    port: int, path: str, repeats: int, headers: dict[str, str] | None = None
) -> tuple[list[float], Reply]:
    """Seconds each of `repeats` sequential GETs took, and the last reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times: list[float] = []
    try:
        reply = fetch(port, path, headers=headers, connection=conn)  # warm
        for _ in range(repeats):
            started = time.perf_counter()
            reply = fetch(port, path, headers=headers, connection=conn)
            times.append(time.perf_counter() - started)
            if reply.status != 200:
                raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:200]!r}")
    finally:
        conn.close()
    return times, reply


# -- Stripe events ------------------------------------------------------------------


def session_id(tag: str, worker: int, n: int) -> str:
    """The checkout session id of landing n of one load worker; never repeats."""
    return f"cs_live_{tag}_{worker}_{n}"


def stripe_event(kind: str, sid: str) -> dict[str, Any]:
    """An event about session `sid` as Stripe sends it (landing.stripe_events):
    its completion (a subscription, with a PaymentIntent), or later a refund,
    a lost dispute or a renewal of it."""
    from landing import stripe_events as se

    suffix = sid.removeprefix("cs_live_")
    pi, sub = f"pi_{suffix}", f"sub_{suffix}"
    if kind == "refund":
        return se.charge_refunded(
            f"ch_{suffix}", payment_intent=pi, amount_refunded=1000
        )
    if kind == "dispute":
        return se.charge_dispute_closed(
            f"dp_{suffix}", charge=f"ch_{suffix}", payment_intent=pi, amount=500
        )
    if kind == "renewal":
        return se.invoice_paid(f"in_{suffix}", subscription=sub)
    return se.checkout_session_completed(
        sid,
        payment_link="plink_x",
        mode="subscription",
        payment_intent=pi,
        subscription=sub,
        event_id=f"evt_{suffix}",
    )


def signed_event(
    sid: str, secret: str = WEBHOOK_SECRET, kind: str = "webhook"
) -> tuple[bytes, str]:
    """The body and Stripe-Signature header, signed by the stripe library."""
    from landing import stripe_events as se

    return se.signed(stripe_event(kind, sid), secret, compact=True)


# -- the load generator ---------------------------------------------------------------


# Loads that post one signed event per request, about session n.
EVENT_KINDS = ("webhook", "refund", "dispute", "renewal")


@dataclass(frozen=True)
class Target:
    """What a load sends: one fixed GET, or a landing or an event per request."""

    # get | thanks | junk (a landing in a new made-up campaign each time, all
    # five codes 150 characters) | webhook | refund | dispute | renewal
    kind: str = "get"
    path: str = "/healthz"
    headers: tuple[tuple[str, str], ...] = ()
    tag: str = "t"  # makes session ids unique across loads
    campaign: str = "bench"


def build_request(target: Target, worker: int, n: int) -> bytes:
    head = "Host: 127.0.0.1\r\nUser-Agent: landing-bench\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in target.headers)
    if target.kind == "thanks":
        sid = session_id(target.tag, worker, n)
        path = f"/thanks?session_id={sid}&{UTM}&utm_campaign={target.campaign}"
        return f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()
    if target.kind == "junk":
        sid = session_id(target.tag, worker, n)
        codes = "&".join(
            f"utm_{name}={f'{name[0]}{target.tag}_{worker}_{n}_'.ljust(150, 'x')}"
            for name in ("campaign", "source", "medium", "content", "term")
        )
        return f"GET /thanks?session_id={sid}&{codes} HTTP/1.1\r\n{head}\r\n".encode()
    if target.kind in EVENT_KINDS:
        sid = session_id(target.tag, worker, n)
        body, signature = signed_event(sid, kind=target.kind)
        return (
            f"POST /webhooks/stripe HTTP/1.1\r\n{head}"
            f"Content-Type: application/json\r\nStripe-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    return f"GET {target.path} HTTP/1.1\r\n{head}\r\n".encode()


class _Connection:
    """A keep-alive HTTP/1.1 connection that reads just the status and body."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def _recv(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def request(self, data: bytes) -> int:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(data)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._recv()
        head = self.buffer[:end].lower()
        self.buffer = self.buffer[end + 4 :]
        status = int(head[9:12])
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else None])
            while len(self.buffer) < length:
                self._recv()
            self.buffer = self.buffer[length:]
        elif b"transfer-encoding: chunked" in head:
            while (end := self.buffer.find(b"\r\n0\r\n\r\n")) < 0:
                self._recv()
            self.buffer = self.buffer[end + 7 :]
        elif status not in (204, 304):
            raise ConnectionError("a response without a length")
        if b"\r\nconnection: close" in head:
            self.close()
        return status


@dataclass
class LoadResult:
    """What one load achieved; `rate` is successful requests per second."""

    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # the load generator's own CPU time
    statuses: Counter[int] = field(default_factory=Counter)
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)  # s, per 200 answer

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        """The p-th percentile (0-100) of the 200 answers' latency, in ms."""
        return percentile_ms(self.latencies, p)

    def extend(self, other: LoadResult) -> None:
        """Add a later part: counts and times add up."""
        self.ok += other.ok
        self.errors += other.errors
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.statuses.update(other.statuses)
        self.first_error = self.first_error or other.first_error
        self.latencies += other.latencies

    def merge(self, other: LoadResult) -> None:
        """Add a concurrent part: counts add up, the longest time counts."""
        self.ok += other.ok
        self.errors += other.errors
        self.seconds = max(self.seconds, other.seconds)
        self.cpu += other.cpu
        self.statuses.update(other.statuses)
        self.first_error = self.first_error or other.first_error
        self.latencies += other.latencies


def _load_worker(
    port: int,
    target: Target,
    worker: int,
    quota: int,
    start: float,
    deadline: float,
    out: LoadResult,
    lock: threading.Lock,
) -> None:
    conn = _Connection(port)
    mine = LoadResult()
    n = 0
    last = start
    try:
        while n < quota and time.monotonic() < deadline:
            data = build_request(target, worker, n)
            n += 1
            sent_at = time.perf_counter()
            try:
                status = conn.request(data)
            except OSError as exc:
                mine.errors += 1
                mine.first_error = mine.first_error or repr(exc)
                conn.close()
                continue
            last = time.monotonic()
            mine.statuses[status] += 1
            if status == 200:
                mine.ok += 1
                mine.latencies.append(time.perf_counter() - sent_at)
            else:
                mine.errors += 1
    finally:
        conn.close()
    mine.seconds = last - start
    with lock:
        out.merge(mine)


def _load_process(
    port: int,
    target: Target,
    workers: list[tuple[int, int]],
    seconds: float,
    start_at: float,
    results: Any,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    out = LoadResult()
    lock = threading.Lock()
    while (wait := start_at - time.time()) > 0:
        time.sleep(min(wait, 0.05))
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=_load_worker,
            args=(port, target, w, q, start, start + seconds, out, lock),
        )
        for w, q in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.cpu = time.process_time()
    results.put(out)


def run_load(
    port: int,
    target: Target,
    *,
    seconds: float,
    requests: int,
    clients: int = 2,
    connections: int = 4,
) -> LoadResult:
    """Send until `requests` are answered or `seconds` have passed.

    `clients` processes with `connections` keep-alive connections each;
    worker w sends requests numbered 0, 1, … (so session ids are
    predictable, see session_id()).
    """
    total = clients * connections
    quotas = [
        requests // total + (1 if w < requests % total else 0) for w in range(total)
    ]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.3
    processes = [
        context.Process(
            target=_load_process,
            args=(
                port,
                target,
                [(w, quotas[w]) for w in range(c * connections, (c + 1) * connections)],
                seconds,
                start_at,
                results,
            ),
            daemon=True,
        )
        for c in range(clients)
    ]
    merged = LoadResult()
    try:
        for process in processes:
            process.start()
        pending = len(processes)
        deadline = time.monotonic() + seconds + 60
        while pending:
            try:
                part: LoadResult = results.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() > deadline or not any(
                    p.is_alive() for p in processes
                ):
                    raise RuntimeError("a load process died or hung") from None
                continue
            merged.merge(part)
            pending -= 1
    finally:
        for process in processes:
            if process.is_alive():
                process.join(2)
            if process.is_alive():
                process.terminate()
                process.join()
    return merged


@dataclass
class Contender:
    """One side of a comparison: a server and what to send it."""

    name: str
    server: Gunicorn
    target: Callable[[str], Target]  # a load's tag -> what it sends
    total: LoadResult = field(default_factory=LoadResult)
    server_cpu: float = 0.0  # the server's CPU seconds during measured rounds
    store_cpu: float = 0.0  # the store's, when alternate() was given a store
    answered: int = 0  # 200 answers, warm-up included

    @property
    def cpu_us(self) -> float:
        """The server's CPU time per successful request, in microseconds."""
        return self.server_cpu / self.total.ok * 1e6 if self.total.ok else 0.0

    @property
    def store_cpu_us(self) -> float:
        """The store's CPU time per successful request, in microseconds."""
        return self.store_cpu / self.total.ok * 1e6 if self.total.ok else 0.0


def alternate(
    a: Contender,
    b: Contender,
    *,
    rounds: int,
    seconds: float,
    requests: int,
    warmup: float,
    clients: int,
    connections: int,
    store: Any = None,
) -> list[float]:
    """Load a and b in turns (a b, b a, a b, …); returns a/b rates per round.

    Turns alternate so that a trend on a shared machine (another job
    starting, a CPU heating up) touches both alike. Totals go to a.total and
    b.total; a warm-up load of each comes first and is not measured. Given
    a redis client of the store, the store's CPU time is charged to the
    side loading at the time (right for work done before the answer).
    """

    def load(side: Contender, tag: str, duration: float) -> LoadResult:
        result = run_load(
            side.server.port,
            side.target(tag),
            seconds=duration,
            requests=requests,
            clients=clients,
            connections=connections,
        )
        side.answered += result.ok
        return result

    for side in (a, b):
        load(side, "warm", warmup)
    ratios: list[float] = []
    for n in range(rounds):
        rates: dict[str, float] = {}
        for side in (a, b) if n % 2 == 0 else (b, a):
            before = side.server.cpu_seconds()
            store_before = store_cpu_seconds(store) if store is not None else 0.0
            result = load(side, f"r{n}", seconds)
            side.server_cpu += side.server.cpu_seconds() - before
            if store is not None:
                side.store_cpu += store_cpu_seconds(store) - store_before
            side.total.extend(result)
            rates[side.name] = result.rate
        ratios.append(rates[a.name] / rates[b.name] if rates[b.name] else 0.0)
        print(
            f"round {n + 1}: {a.name} {rates[a.name]:7.0f}/s   "
            f"{b.name} {rates[b.name]:7.0f}/s   ratio {ratios[-1]:.3f}",
            flush=True,
        )
    for side in (a, b):
        if side.total.errors:
            print(
                f"{side.name}: {side.total.errors} failed requests, statuses "
                f"{dict(side.total.statuses)} {side.total.first_error}"
            )
    return ratios


def store_cpu_seconds(client: Any) -> float:
    """CPU time the store has used so far (INFO cpu)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# -- what the store saw ----------------------------------------------------------


# Commands only this benchmark sends; never counted.
OWN = {"info", "echo", "monitor", "client|info", "client|list"}
# Keys of the app's own timers (the builder's pass over the watched views),
# not of any landing or event: counted apart.
HOUSEKEEPING = {keys.watched_views()}


@dataclass
class Phase:
    """What the store saw during one phase."""

    top: Counter[str] = field(default_factory=Counter)  # from the app, by name
    housekeeping: int = 0  # from the app's timers, on HOUSEKEEPING keys
    nested: int = 0  # run inside scripts
    seconds: float = 0.0
    stats: Counter[str] = field(default_factory=Counter)  # commandstats delta


class Monitor(threading.Thread):
    """Reads MONITOR; our ECHO commands split the stream into phases."""

    def __init__(self, url: str, own_port: str) -> None:
        super().__init__(name="monitor", daemon=True)
        # No read timeout: the stream is quiet while the app is idle.
        self.client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=None
        )
        self.own_port = own_port
        self.phases: dict[str, Phase] = {}
        self.current = Phase()
        self.seen = threading.Condition()
        self.markers: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.client.monitor() as monitor:
                for entry in monitor.listen():
                    if not self._take(entry):
                        return
        except BaseException as exc:  # reported by wait_marker
            self.error = exc
            with self.seen:
                self.seen.notify_all()

    def _take(self, entry: dict[str, Any]) -> bool:
        words = str(entry["command"]).split(" ", 2)
        name = words[0].lower()
        if entry.get("client_type") == "lua":
            self.current.nested += 1
        elif str(entry.get("client_port")) != self.own_port:
            if name in ("client", "script", "config") and len(words) > 1:
                name = f"{name}|{words[1].lower()}"
            if len(words) > 1 and words[1].strip('"') in HOUSEKEEPING:
                self.current.housekeeping += 1
            else:
                self.current.top[name] += 1
        elif name == "echo" and len(words) > 1 and words[1].startswith("bench:"):
            marker = words[1].removeprefix("bench:")
            self.phases[marker] = self.current = Phase()
            with self.seen:
                self.markers.append(marker)
                self.seen.notify_all()
            return marker != "end"
        return True

    def wait_marker(self, marker: str, timeout: float = 60.0) -> None:
        with self.seen:
            if not self.seen.wait_for(
                lambda: marker in self.markers or self.error is not None, timeout
            ):
                raise RuntimeError(f"MONITOR never showed the {marker!r} marker")
        if self.error is not None:
            raise RuntimeError(f"MONITOR failed: {self.error!r}")


def commandstats(*clients: redis.Redis) -> Counter[str]:
    """Calls of each command so far (INFO commandstats), summed over the
    given servers (a cluster's nodes), this benchmark's own left out.
    Commands a Lua script runs count too."""
    total: Counter[str] = Counter()
    for client in clients:
        for name, value in client.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            if command not in OWN:
                total[command] += int(value["calls"])
    return total


def connection_setup(top: Counter[str]) -> tuple[int, int]:
    """Connections opened among the commands clients sent (MONITOR), and
    the commands that opened them: HELLO, two CLIENT SETINFO and a first
    health-check PING each, growth of a pool rather than the steady state."""
    opened = top["hello"]
    return opened, opened + top["client|setinfo"] + min(top["ping"], opened)


# -- waiting and reporting ----------------------------------------------------------


def journal_drained(directory: Path) -> bool:
    """Whether the store has acknowledged every journal line on disk."""
    for segment in directory.glob("*.jsonl"):
        try:
            size = segment.stat().st_size
            done_file = segment.with_name(segment.name + ".done")
            done = int(done_file.read_bytes()[:20]) if done_file.exists() else 0
        except (OSError, ValueError):
            return False
        if done < size:
            return False
    return True


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def percentile_ms(times: list[float], p: float) -> float:
    """The p-th percentile (0-100, nearest rank) of seconds, in ms; 0 if none."""
    if not times:
        return 0.0
    ordered = sorted(times)
    rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[rank] * 1000


def result_line(**figures: object) -> str:
    def show(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)

    return "RESULT " + " ".join(f"{k}={show(v)}" for k, v in figures.items())


def load_options(
    parser: argparse.ArgumentParser, clients: int, connections: int
) -> None:
    parser.add_argument(
        "--clients",
        type=int,
        default=clients,
        help="load generator processes (default %(default)s)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=connections,
        help="keep-alive connections per process (default %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory and logs"
    )
