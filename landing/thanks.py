"""GET /thanks: the Payment Link's redirect target (SPEC §4)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, make_response, render_template, request

from landing.capture import landing_entry
from landing.config import Settings
from landing.period import day_of
from landing.runtime import runtime
from landing.utm import parse_query

bp = Blueprint("thanks", __name__)
log = logging.getLogger(__name__)


@bp.get("/thanks")
def thanks() -> Response:
    """Keep the landing in the journal, then show the page, whatever happens."""
    rt = runtime()
    settings = rt.settings
    try:
        landing = parse_query(request.query_string)
        now = time.time()
        entry = landing_entry(
            landing,
            timestamp=now,
            day=day_of(now, settings.zone).isoformat(),
            secret=settings.secret_key,
            address=request.remote_addr or "",
            agent=request.headers.get("User-Agent", "")[:512],
            url=request.query_string.decode("latin-1")[:2048],
        )
        rt.journal.append(entry)
    except Exception:
        # The customer has paid: they get their page even if we fail to count.
        log.exception("landing not recorded")
    return page(settings)


def page(settings: Settings) -> Response:
    """The thank-you page itself (also served bare by bench/bare_app.py)."""
    response = make_response(
        render_template(
            "thanks.html",
            brand=settings.brand_name,
            continue_url=settings.thanks_continue_url,
            support_email=settings.support_email,
        )
    )
    # The URL carries the session id: no shared cache, no referrer.
    response.headers["Cache-Control"] = "no-store, private"
    return response
