"""Write-behind: landings go to a local append-only journal, then to the store.

The request path only appends one line to a file (no network), so the
thank-you page's speed and availability never depend on Redis. A flusher
thread per process drains the journal to the store in batches, one round trip
per batch; the store's scripts make a replayed entry harmless, so an entry is
only forgotten after the store has acknowledged it.

Every line is in the file before append() returns (and the page is
answered), so ``kill -9`` loses nothing appended. The flusher sends what
this process appended from memory, without reading it back or parsing it
again: up to ``memory_lines`` unsent lines are kept there as well. Beyond
that (the store is away) it reads them back from the file, checking each,
until it has caught up. Other processes' segments are always read back and
checked.

Layout: each process writes its own segment, ``<host>-<pid>-<ns>.jsonl``, and
holds an exclusive ``flock`` on it while alive. ``<segment>.done`` records
how many bytes of it the store has acknowledged. A segment nobody holds
belongs to a process that died (a deploy, a crash, ``kill -9``): any live
process adopts it, sends what was not acknowledged, and deletes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Entry = dict[str, Any]
# The sink gets each line's JSON text as written, never re-encoded: from
# memory as this process appended it, or read back from a file and checked.
Sink = Callable[[list[str]], None]

SUFFIX = ".jsonl"
DONE = ".done"
# One encoder for all: json.dumps() with separators builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


class _Segment:
    """One journal file, opened for append and read, locked while open."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.done = _read_done(path)
        self._done_fd = -1

    @classmethod
    def create(cls, directory: Path) -> _Segment:
        # Lock under a temporary name, then rename: an adopter looking for
        # unlocked *.jsonl files can never catch a new segment unlocked.
        stem = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        tmp = directory / f".{stem}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = directory / f"{stem}{SUFFIX}"
        os.rename(tmp, path)
        return cls(path, fd)

    @classmethod
    def adopt(cls, path: Path) -> _Segment | None:
        """Take a dead process's segment, None when it is alive or gone."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if os.fstat(fd).st_nlink == 0:  # another adopter finished it first
            os.close(fd)
            return None
        return cls(path, fd)

    def mark_done(self, offset: int) -> None:
        self.done = offset
        if self._done_fd < 0:
            done_path = self.path.with_name(self.path.name + DONE)
            self._done_fd = os.open(done_path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.pwrite(self._done_fd, b"%020d" % offset, 0)

    def remove(self) -> None:
        # The segment first: a crash in between leaves a harmless .done,
        # never a sent segment without its progress (replayed from byte 0).
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.path.with_name(self.path.name + DONE).unlink()
        self.close()

    def close(self) -> None:
        if self._done_fd >= 0:
            os.close(self._done_fd)
            self._done_fd = -1
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _read_done(path: Path) -> int:
    try:
        raw = path.with_name(path.name + DONE).read_bytes()
        return int(raw[:20])
    except (FileNotFoundError, ValueError):
        return 0


class Journal:
    """Append landings locally; a background thread sends them to the store."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        sink: Sink,
        *,
        validate: Callable[[Any], bool] = lambda e: isinstance(e, dict),
        max_bytes: int = 256 * 1024 * 1024,
        batch_size: int = 500,
        batch_window: float = 0.1,
        rotate_bytes: int = 4 * 1024 * 1024,
        adopt_every: float = 5.0,
        memory_lines: int = 10_000,
    ) -> None:
        self.directory = Path(directory)
        self.sink = sink
        self.validate = validate
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.batch_window = batch_window
        self.rotate_bytes = rotate_bytes
        self.adopt_every = adopt_every
        self.memory_lines = memory_lines
        self._segment: _Segment | None = None
        self._thread: threading.Thread | None = None
        self._reset_sync()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))
        _open.add(self)

    def _reset_sync(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._stopping = False
        self._closed = False
        self._appended = 0  # bytes appended by this process
        self._flushed = 0  # of those, bytes the store acknowledged
        # The unsent lines of our segment, in file order: (JSON text, bytes
        # on disk), text None for a line cut short. None while the backlog
        # is on disk only; the flusher then reads the file back.
        self._unsent: list[tuple[str | None, int]] | None = []
        self._dropped_logged = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._next_adopt = 0.0
        self._deadline = 0.0

    # -- the request path ---------------------------------------------------

    def start(self) -> None:
        """Open this process's segment and start its flusher (idempotent)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            self._segment = _Segment.create(self.directory)
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="landing-journal", daemon=True
            )
            self._thread.start()

    def append(self, entry: Entry) -> bool:
        """Keep one landing; False when it could not be kept (logged)."""
        text = _encode(entry)
        line = (text + "\n").encode()
        if self._thread is None:
            self.start()
        with self._lock:
            segment = self._segment
            if segment is None or self._stopping:
                return self._drop("the journal is closed")
            if self._appended - self._flushed + len(line) > self.max_bytes:
                return self._drop(
                    f"the journal holds {self.max_bytes} unsent bytes "
                    "(JOURNAL_MAX_BYTES); is the store reachable?"
                )
            try:
                written = os.write(segment.fd, line)
            except OSError as exc:
                return self._drop(f"the journal cannot be written ({exc.strerror})")
            if written < len(line):
                # A full disk cut the line: end it, so the next line stays
                # readable; the torn one is skipped on replay.
                with contextlib.suppress(OSError):
                    written += os.write(segment.fd, b"\n")
                self._appended += written
                self._keep_unsent(None, written)
                return self._drop("the journal's disk is full")
            self._appended += written
            self._keep_unsent(text, written)
        if not self._wake.is_set():
            self._wake.set()
        return True

    def _keep_unsent(self, text: str | None, size: int) -> None:
        """Hand a line to the flusher in memory (under the lock)."""
        if self._unsent is None:
            return
        if len(self._unsent) < self.memory_lines:
            self._unsent.append((text, size))
        else:  # a backlog: from here on the flusher reads the file
            self._unsent = None

    def _drop(self, why: str) -> bool:
        now = time.monotonic()
        if now - self._dropped_logged > 10:
            self._dropped_logged = now
            log.error("landing dropped, not counted: %s", why)
        return False

    # -- lifecycle ------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the store has what this process appended so far."""
        target = self._appended
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._progress:
            while self._flushed < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.05))
                self._wake.set()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what can be sent within timeout; the rest stays for the next start."""
        thread = self._thread
        with self._lock:
            self._stopping = self._closed = True
            self._deadline = time.monotonic() + max(timeout - 0.5, 0.0)
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            if self._segment is not None:
                if thread is None or not thread.is_alive():
                    self._finish(self._segment)
                self._segment = None
            self._thread = None

    def _finish(self, segment: _Segment) -> None:
        """Delete a fully sent segment; keep (and unlock) one with a backlog."""
        if segment.done >= os.fstat(segment.fd).st_size:
            segment.remove()
        else:
            left = os.fstat(segment.fd).st_size - segment.done
            log.warning("journal keeps %d unsent bytes for the next start", left)
            segment.close()

    # -- the flusher ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            backoff = self._retry_at - time.monotonic()
            if backoff > 0 and not self._stopping:
                time.sleep(min(backoff, 0.25))  # the store is away: entries wait
                continue
            if self._wake.wait(1.0) and not self._stopping:
                time.sleep(self.batch_window)  # let a batch gather
            self._wake.clear()
            self._pass()
            if self._stopping:
                # Shutting down: keep trying until close()'s deadline, so a
                # blip just before a deploy does not leave landings behind.
                while self._failures and time.monotonic() < self._deadline:
                    time.sleep(0.2)
                    self._pass()
                return

    def _pass(self) -> None:
        """One round: drain our own segment, adopt orphans, rotate."""
        segment = self._segment
        try:
            if segment is not None:
                self._drain_own(segment)
            if time.monotonic() >= self._next_adopt:
                self._next_adopt = time.monotonic() + self.adopt_every
                self._adopt_orphans()
            if segment is not None:
                self._maybe_rotate(segment)
        except Exception as exc:  # the store is away (or a bug): retry later
            self._failures += 1
            delay = min(0.25 * 2 ** min(self._failures, 5), 5.0)
            self._retry_at = time.monotonic() + delay
            log.warning(
                "landings wait in the journal: %s: %.200s; retrying in %.2fs",
                type(exc).__name__,
                exc,
                delay,
            )
        else:
            if self._failures:
                log.info("store reachable again; journal drained")
            self._failures = 0
            self._retry_at = 0.0

    def _drain_own(self, segment: _Segment) -> None:
        """Send what this process appended: from memory, else from the file."""
        while True:
            with self._lock:
                unsent = self._unsent
                if unsent is None:
                    break
                batch = unsent[: self.batch_size]
            if not batch:
                return
            texts = [text for text, _ in batch if text is not None]
            if texts:
                self.sink(texts)
            consumed = sum(size for _, size in batch)
            with self._lock:
                if self._unsent is unsent:  # else dropped, with what we sent
                    del unsent[: len(batch)]
            self._acknowledged(segment, consumed)
        self._drain(segment, own=True)
        with self._lock:
            if segment.done >= os.fstat(segment.fd).st_size:
                self._unsent = []  # caught up: back to memory

    def _acknowledged(self, segment: _Segment, consumed: int) -> None:
        segment.mark_done(segment.done + consumed)
        with self._progress:
            self._flushed += consumed
            self._progress.notify_all()

    def _drain(self, segment: _Segment, own: bool) -> None:
        while True:
            size = os.fstat(segment.fd).st_size
            if segment.done >= size:
                return
            chunk = os.pread(
                segment.fd, min(size - segment.done, 1 << 20), segment.done
            )
            end = chunk.rfind(b"\n")
            if end < 0:
                if own or len(chunk) < size - segment.done:
                    return  # a line still being written
                log.warning(
                    "journal: skipping a torn last line in %s", segment.path.name
                )
                segment.mark_done(size)
                return
            for batch, consumed in self._batches(chunk[: end + 1]):
                if batch:
                    self.sink(batch)
                if own:
                    self._acknowledged(segment, consumed)
                else:
                    segment.mark_done(segment.done + consumed)

    def _batches(self, data: bytes) -> Iterator[tuple[list[str], int]]:
        batch: list[str] = []
        consumed = 0
        for line in data.splitlines(keepends=True):
            consumed += len(line)
            try:
                text = line.decode("utf-8").rstrip("\n")
                valid = self.validate(json.loads(text))
            except (ValueError, TypeError, AttributeError):
                valid = False
            if valid:
                batch.append(text)
            elif line.strip():
                log.warning(
                    "journal: skipping an unreadable line (%d bytes)", len(line)
                )
            if len(batch) >= self.batch_size:
                yield batch, consumed
                batch, consumed = [], 0
        if consumed:
            yield batch, consumed

    def _adopt_orphans(self) -> None:
        own = self._segment.path if self._segment else None
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path == own:
                continue
            orphan = _Segment.adopt(path)
            if orphan is None:
                continue
            try:
                log.info("journal: replaying %s left by a stopped process", path.name)
                self._drain(orphan, own=False)
                self._finish(orphan)
            finally:
                orphan.close()

    def _maybe_rotate(self, segment: _Segment) -> None:
        if segment.done < self.rotate_bytes:
            return
        with self._lock:
            if self._stopping or segment.done < os.fstat(segment.fd).st_size:
                return
            self._segment = _Segment.create(self.directory)
        segment.remove()

    def _after_fork_in_child(self) -> None:
        """A forked child must not share its parent's segment or thread."""
        if self._segment is not None:
            self._segment.close()  # our copies only: the parent keeps its lock
        self._segment = None
        self._thread = None
        self._reset_sync()


def _after_fork(ref: weakref.ref[Journal]) -> None:
    journal = ref()
    if journal is not None:
        journal._after_fork_in_child()


_open: weakref.WeakSet[Journal] = weakref.WeakSet()


def close_all(timeout: float = 5.0) -> None:
    """Close every journal of this process (gunicorn's worker_exit hook)."""
    for journal in list(_open):
        journal.close(timeout)
