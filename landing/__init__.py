"""landing: which campaign sold what through Stripe Payment Links."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request

from landing import (
    access,
    api,
    dashboard,
    exports,
    links,
    proxies,
    shares,
    thanks,
    webhooks,
)
from landing.capture import sink, valid_entry
from landing.config import Settings
from landing.headers import PreparedResponse, security_headers
from landing.journal import Journal
from landing.params import BadQuery
from landing.runtime import ROOT, Runtime
from landing.store import (
    UNCONFIRMED_SHOWN,
    UNCONFIRMED_SHOWN_WITHOUT_WEBHOOKS,
    Store,
    StoreError,
    connect,
)

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment, or from test_config in tests."""
    settings = Settings.from_env(os.environ if test_config is None else test_config)
    _configure_logging()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        # No SECRET_KEY: nothing uses Flask's cookie session, which would
        # otherwise be opened (and a signer built) on every request.
        TESTING=test_config is not None,
        # Stripe's events are a few kB; nothing we accept is near this.
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    tls_verify = settings.redis_tls_verify
    store = Store(
        connect(settings.redis_url, tls_verify=tls_verify),
        url=settings.redis_url,
        tls_verify=tls_verify,
        retention_days=settings.session_retention_days,
        unconfirmed_days=settings.unconfirmed_days,
        zone=settings.zone,
        unconfirmed_shown=UNCONFIRMED_SHOWN
        if settings.webhook_secrets
        else UNCONFIRMED_SHOWN_WITHOUT_WEBHOOKS,
    )
    # On a cluster, counter changes a crash left in a session shard's outbox
    # are applied within seconds (no thread on a single node).
    store.start_drainer()
    moved = store.migrate_layout()
    if moved:
        app.logger.warning("renamed %d keys to the cluster-ready layout", moved)
    journal = Journal(
        settings.journal_dir,
        sink(store, settings.landing_rate_limit),
        validate=valid_entry,
        max_bytes=settings.journal_max_bytes,
    )
    app.extensions["landing"] = Runtime(settings, store, journal)
    access.init_app(app)

    for module in (thanks, webhooks, dashboard, api, exports, shares, links):
        app.register_blueprint(module.bp)
    app.register_error_handler(BadQuery, _bad_query)
    app.register_error_handler(StoreError, _store_unavailable)
    app.after_request(_security_headers)
    # Outermost: the proxy headers first, so /thanks in front of Flask sees
    # the client's address and scheme as the views do.
    app.wsgi_app = proxies.wrap(  # type: ignore[method-assign,assignment]
        thanks.front(app), settings.trusted_proxy_hops
    )
    journal.start()
    return app


def _bad_query(exc: BadQuery) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


def _store_unavailable(exc: StoreError) -> tuple[Response, int]:
    log.error("store unavailable: %s", type(exc).__name__)
    return jsonify(error="the store is unavailable; try again shortly"), 503


def _security_headers(response: Response) -> Response:
    if isinstance(response, PreparedResponse):
        return response  # /thanks: made with all of them, once per variant
    headers = response.headers
    for name, value in security_headers(request.is_secure):
        headers.setdefault(name, value)
    if "Cache-Control" not in headers and request.endpoint != "static":
        # Nothing we render is for a shared cache: pages carry session ids
        # or numbers behind a password.
        headers["Cache-Control"] = "no-store"
    return response


def _configure_logging() -> None:
    """Logs to stdout, where a PaaS collects them; gunicorn keeps its own."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    if root.level == logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
