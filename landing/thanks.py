"""GET /thanks: the Payment Link's redirect target (SPEC §4).

The page's bytes depend only on the settings and the customer's language, so
each language is rendered once per process, on first use, with its full
header set; a request only appends its landing to the journal and sends
those bytes. Once a variant is made, `front` serves it in front of Flask,
without a request context, routing or a response object per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.datastructures import Headers

from landing.capture import landing_entry, report_day
from landing.headers import PreparedResponse, security_headers
from landing.i18n import DEFAULT, catalog, negotiate
from landing.runtime import Runtime, runtime
from landing.utm import parse_query

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = Blueprint("thanks", __name__)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    """One variant of the page: its bytes and every header it is sent with
    (Content-Length included), shared by all its responses."""

    body: bytes
    headers: Headers

    def response(self) -> Response:
        return PreparedResponse(self.body, self.headers)

    @cached_property
    def wsgi_headers(self) -> tuple[tuple[str, str], ...]:
        """What Werkzeug sends as response()'s headers; front() sends it too."""
        return tuple(self.headers.to_wsgi_list())


class Pages:
    """The page per language and scheme, made on first use and kept."""

    def __init__(self) -> None:
        # Plain dict reads and writes: two threads may render the same
        # variant at once, and either result is the same page.
        self._pages: dict[tuple[str, bool], Page] = {}

    def get(self, accept_language: str, secure: bool) -> Page:
        language = negotiate(accept_language)
        page = self._pages.get((language, secure))
        if page is None:
            page = self._pages[(language, secure)] = prepare(language, secure)
        return page

    def made(self, accept_language: str, secure: bool) -> Page | None:
        """The page if it is made already; None before its first request."""
        return self._pages.get((negotiate(accept_language), secure))


@bp.record_once
def _init(state: BlueprintSetupState) -> None:
    state.app.extensions["landing_thanks"] = Pages()


@bp.get("/thanks")
def thanks() -> Response:
    """Keep the landing in the journal, then send the page, whatever happens."""
    # The page costs about what a static one does, so the few values it
    # needs come straight from the WSGI environ, as request.query_string,
    # .remote_addr, .headers and .is_secure would read them, each behind a
    # context-local lookup.
    environ = request.environ
    extensions = current_app.extensions
    keep(cast(Runtime, extensions["landing"]), environ)
    pages = cast(Pages, extensions["landing_thanks"])
    return pages.get(
        environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        environ.get("wsgi.url_scheme") in ("https", "wss"),
    ).response()


def front(app: Flask) -> WSGIApplication:
    """The app's WSGI callable with /thanks served in front of Flask.

    A GET or HEAD of /thanks whose page is made is recorded and answered
    here, with the same bytes and headers as the view's; everything else,
    and a variant's first request (its page is rendered in a request), goes
    to Flask. Flask's request context, routing, response object and hooks
    cost three times what recording the landing does, for a page that
    never changes. So the app's hooks (before_request, after_request,
    teardown) never see these requests: what the page needs is in its Page.
    """
    flask_app = app.wsgi_app
    rt = cast(Runtime, app.extensions["landing"])
    pages = cast(Pages, app.extensions["landing_thanks"])

    def serve(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != "/thanks" or method not in ("GET", "HEAD"):
            return flask_app(environ, start_response)
        made = pages.made(
            environ.get("HTTP_ACCEPT_LANGUAGE", ""),
            environ.get("wsgi.url_scheme") in ("https", "wss"),
        )
        if made is None:
            return flask_app(environ, start_response)
        keep(rt, environ)
        start_response("200 OK", list(made.wsgi_headers))
        return [made.body] if method == "GET" else []

    return serve


def keep(rt: Runtime, environ: dict[str, Any]) -> None:
    """Record the landing; a failure is logged, never raised."""
    try:
        record(rt, environ)
    except Exception:
        # The customer has paid: they get their page even if we fail to count.
        log.exception("landing not recorded")


def record(rt: Runtime, environ: dict[str, Any]) -> None:
    """Append this request's landing to the journal."""
    settings = rt.settings
    # WSGI gives the query's bytes as a latin-1 string; ASCII (what Stripe
    # sends) reads the same as UTF-8, so only other bytes are decoded again.
    query: str = environ.get("QUERY_STRING", "")
    landing = parse_query(query if query.isascii() else query.encode("latin-1"))
    now = time.time()
    # Only a landing without a session id needs its visitor recognised.
    anonymous = landing.session_id is None
    entry = landing_entry(
        landing,
        timestamp=now,
        day=report_day(now, settings.zone),
        secret=settings.secret_key,
        address=environ.get("REMOTE_ADDR") or "",
        agent=environ.get("HTTP_USER_AGENT", "")[:512] if anonymous else "",
        url=query[:2048] if anonymous else "",
    )
    rt.journal.append(entry)


def prepare(language: str, secure: bool) -> Page:
    """Render one variant; English when a language cannot be rendered."""
    try:
        body = render(language)
    except Exception:
        if language == DEFAULT:
            raise
        log.exception("thank-you page in %s failed; answering in English", language)
        return prepare(DEFAULT, secure)
    headers = (
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Language", language),
        ("Vary", "Accept-Language"),
        # The URL carries the session id: no shared cache, no referrer.
        ("Cache-Control", "no-store, private"),
        *security_headers(secure),
    )
    return Page(body, PreparedResponse.headers_for(body, headers))


def render(language: str) -> bytes:
    """The page's HTML in one language (in a request: url_for needs one)."""
    app = current_app
    # An environment of its own: the app's templates, filters and url_for,
    # with this language's gettext, never another thread's.
    env = app.jinja_env.overlay(cache_size=0)
    env.globals = dict(app.jinja_env.globals)
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(  # type: ignore[attr-defined]
        catalog(language), newstyle=True
    )
    settings = runtime().settings
    context = {
        "html_lang": language,
        "brand": settings.brand_name,
        "continue_url": settings.thanks_continue_url,
        "support_email": settings.support_email,
    }
    app.update_template_context(context)
    return env.get_template("thanks.html").render(context).encode()
