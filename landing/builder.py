"""The builder: a low-priority process that keeps watched views built.

Web workers answer dashboards' polls from builds kept in the store
(live.py). With 10,000 campaigns a process's first build of a view is
some 100 ms of Python, and one patched from its last (Store.scoreboard,
reporting.select) 5 to 15 ms; made by a web worker, it takes that long
from the customers' thank-you pages the worker also serves. This process
makes them instead, niced, so the kernel gives it a core only when
customers' requests leave one idle; and its own last builds are what it
patches the next from.

A thread marks the builder alive in the store every PASS_SECONDS; the main
loop reads the views polled lately (live.py puts each dashboard poll's
URL on the list; the API, never answered with older numbers, is built by
whoever asks) and asks this process's own app for each
of them, as the builder: a view is rebuilt when its numbers changed (at
most once per BUILDER_EVERY_MS) and kept in the store for every web
worker. Without a mark for BUILDER_ALIVE_MS (the builder stopped; a deploy
without gunicorn needs none), or with a build BUILDER_LAG_MS old (the
machine too busy to run it), the web workers build as they do without one.

gunicorn.conf.py starts it beside the workers (`when_ready`) and stops it
with them; it also stops when that parent is gone.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from urllib.parse import urlsplit

from flask import Flask

from landing.live import (
    BUILDER_ALIVE_MS,
    BUILDER_ENVIRON,
    BUILDER_EVERY_MS,
    WATCH_SECONDS,
)
from landing.runtime import Runtime
from landing.store import StoreError

log = logging.getLogger("landing.builder")  # also when run as __main__

# Below every web worker: the kernel runs this only on an otherwise idle core.
NICENESS = 19
# Time between passes: a changed view is rebuilt within about this much
# after its claim lapses. The alive mark comes as often, well within
# live.BUILDER_ALIVE_MS, even while a build holds the main thread.
PASS_SECONDS = min(BUILDER_EVERY_MS, BUILDER_ALIVE_MS) / 1000 / 3


def refresh(app: Flask) -> int:
    """One pass over the watched views; returns how many it rebuilt."""
    runtime: Runtime = app.extensions["landing"]
    settings = runtime.settings
    urls = runtime.store.watched_views(WATCH_SECONDS)
    credentials = f"{settings.dashboard_user}:{settings.dashboard_password}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()
    }
    client = app.test_client()
    built = 0
    for url in urls:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            response = client.get(
                path,
                base_url=f"{parts.scheme}://{parts.netloc}/",
                headers=headers,
                environ_overrides={BUILDER_ENVIRON: True},
            )
        except Exception:  # one bad view must not stop the others' builds
            log.exception("builder: building a view failed")
            continue
        built += response.status_code == 200
        response.close()
    return built


def mark_alive(app: Flask, stop: threading.Event) -> None:
    """Tell the web workers the builder runs, every PASS_SECONDS until `stop`."""
    store = app.extensions["landing"].store
    while not stop.is_set():
        try:
            store.mark_builder(WATCH_SECONDS)
        except StoreError as exc:
            log.warning("builder: not marked alive: %s", type(exc).__name__)
        stop.wait(PASS_SECONDS)


def run(app: Flask, stop: threading.Event, parent: int | None = None) -> None:
    """Make passes until `stop` is set (or the parent process is gone)."""
    marker = threading.Thread(
        target=mark_alive, args=(app, stop), name="builder-alive", daemon=True
    )
    marker.start()
    while not stop.is_set() and (parent is None or os.getppid() == parent):
        try:
            refresh(app)
        except StoreError as exc:  # the workers build meanwhile
            log.warning("builder: store unavailable: %s", type(exc).__name__)
            stop.wait(1.0)
        except Exception:  # never stop for one bad pass; workers cover it
            log.exception("builder: a pass failed")
            stop.wait(1.0)
        stop.wait(PASS_SECONDS)
    stop.set()
    marker.join(5)


def start() -> subprocess.Popen[bytes]:
    """Start the builder process (from gunicorn's master), niced from its
    first instruction, imports and all."""
    return subprocess.Popen([sys.executable, "-m", "landing.builder"], preexec_fn=_nice)


def _nice() -> None:
    os.nice(NICENESS - os.nice(0))


def main() -> int:
    _nice()  # first (if not yet), so every thread made after inherits it
    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from landing import create_app

    # A journal of its own, empty and closed at once: the builder records no
    # landing, and must not adopt the web workers' journal files at its
    # niceness.
    with tempfile.TemporaryDirectory(prefix="landing-builder-") as journal:
        os.environ["JOURNAL_DIR"] = journal
        app = create_app()
        app.extensions["landing"].journal.close(timeout=1)
        log.info("builder: keeping watched views built (pid %d)", os.getpid())
        run(app, stop, parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
