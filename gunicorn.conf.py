"""gunicorn settings for landing: the same in production and in `make run`.

Every value is read here (not on the command line) so the Procfile stays one
short line and each choice carries its reason.
"""

import os

# The PaaS tells us which port to bind; `landing run` passes --bind 127.0.0.1.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# gthread: each worker serves many requests at once with threads. The
# thank-you page does no network I/O (landings go to a local journal), so a
# thread is busy for about a millisecond. Open dashboards poll every 750 ms:
# a poll is one Redis read answered with a 304 or with the view's last build,
# which every worker and instance shares through Redis (at most one build per
# view per 750 ms in all), so a dozen dashboards cost about what one does and
# hold no thread between polls. A hanging Redis can hold at
# most four threads per worker (the store's bulkhead), so at least four stay
# free for customers. Processes give CPU parallelism; threads cover waits on
# Redis for webhooks and the API.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))

# Below the usual PaaS router timeout (30 s), so gunicorn, not the router,
# ends a stuck request and logs it. Redis calls have their own 1-2 s limits.
timeout = 25
# On SIGTERM (deploy, restart) a worker gets this long to finish requests
# and to drain its journal to Redis; what is left waits on disk for the next
# start. PaaS routers send SIGKILL after ~30 s.
graceful_timeout = 10
# Behind a router, keep idle connections a little longer than it does.
keepalive = 5

# Logs on stdout, where the PaaS collects them. The access log shows the
# path without the query string: the query carries checkout session ids.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'

# Client addresses behind the router come from X-Forwarded-For, trusted for
# TRUSTED_PROXY_HOPS hops by the app itself (werkzeug's ProxyFix), so
# gunicorn keeps its default: it trusts forwarding headers from nobody else.

# No control socket (gunicorn 25.1+): the PaaS manages processes with
# signals, and several local instances would contend for one socket path.
control_socket_disable = True

# Request size limits, read by gunicorn before the app sees anything. Past
# them gunicorn answers 414 or 431 itself: never a 5xx, but no thank-you page.
# Request line: gunicorn's maximum, since /thanks must render whatever the
# query string (SPEC §4): session id, UTM codes, ad platforms' click ids.
limit_request_line = 8190
# One header: the Cookie header carries every cookie of the merchant's domain
# (analytics, consent, chat), and browsers allow 4 KB a cookie, dozens of them.
limit_request_field_size = 32768
# Header count: gunicorn's default; browsers send ~15 and routers add ~10, and
# with the size above it bounds a request's headers at about 3 MB.
limit_request_fields = 100


def worker_exit(server, worker):
    """Drain the journal before the worker goes (SIGTERM, max_requests)."""
    from landing.journal import close_all

    close_all(timeout=graceful_timeout - 2)


# The builder (landing/builder.py): one niced process beside the workers
# that keeps the scoreboards being watched built, so a worker serving
# thank-you pages never spends 100 ms of Python on a 10,000-campaign build.
# If it stops, the workers build again by themselves (landing/live.py).
_builder = None


def when_ready(server):
    """Start the builder once the workers' socket is bound."""
    global _builder
    from landing.builder import start

    _builder = start()


def on_exit(server):
    """Stop the builder with the server (it also stops if orphaned)."""
    if _builder is not None and _builder.poll() is None:
        _builder.terminate()
        try:
            _builder.wait(5)
        except Exception:
            _builder.kill()


def post_worker_init(worker):
    """Customers' pages first: a request thread waiting for the GIL gets it
    within 1 ms, not Python's default 5 ms, while the journal's flusher
    thread turns a batch of landings into a store call (bench/
    thanks_throughput.py: p99 1.06-1.42x the bare app's in three runs with
    this, 1.09-1.91x without)."""
    import sys

    sys.setswitchinterval(0.001)
