"""landing: which campaign sold what through Stripe Payment Links."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from landing.config import Settings
from landing.journal import Journal
from landing.store import Store, connect
from landing.utm import valid_entry

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)

# Only our own files, never framed, no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class Runtime:
    """What every view needs: settings, the store and the journal."""

    settings: Settings
    store: Store
    journal: Journal


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["landing"])


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
        SECRET_KEY=settings.secret_key,
        TESTING=test_config is not None,
        # Stripe's events are a few kB; nothing we accept is near this.
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxy_hops,
            x_proto=settings.trusted_proxy_hops,
        )

    store = Store(
        connect(settings.redis_url, tls_verify=settings.redis_tls_verify),
        retention_days=settings.session_retention_days,
    )

    def send(entries: list[str]) -> None:
        results = store.record_landings(entries, settings.landing_rate_limit)
        limited = results.count("limited")
        if limited:
            log.warning(
                "%d landing(s) not counted: over LANDING_RATE_LIMIT=%d per minute "
                "from one address",
                limited,
                settings.landing_rate_limit,
            )

    journal = Journal(
        settings.journal_dir,
        send,
        validate=valid_entry,
        max_bytes=settings.journal_max_bytes,
    )
    app.extensions["landing"] = Runtime(settings, store, journal)

    from landing import dashboard, thanks, webhooks

    app.register_blueprint(thanks.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(dashboard.bp)
    app.after_request(_security_headers)
    journal.start()
    return app


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
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
