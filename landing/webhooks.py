"""POST /webhooks/stripe: verified payment events (SPEC §5)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from landing.capture import session_fingerprint
from landing.events import BadEvent, BadSignature, Outcome, read_event, verify_event
from landing.period import when_of
from landing.runtime import runtime
from landing.store import StoreError

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


def _answer(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    """Acknowledge an event only once its effect is stored."""
    rt = runtime()
    if not rt.settings.webhook_secrets:
        log.error("webhook refused: set STRIPE_WEBHOOK_SECRET to the endpoint's secret")
        return _answer(503, error="STRIPE_WEBHOOK_SECRET is not set on this server")
    payload = request.get_data(cache=False)
    try:
        event = verify_event(
            payload,
            request.headers.get("Stripe-Signature"),
            rt.settings.webhook_secrets,
        )
        parsed = read_event(event)
    except BadSignature as exc:
        log.warning("webhook rejected: %s", exc)
        return _answer(400, error=f"signature check failed: {exc}")
    except BadEvent as exc:
        log.warning("webhook rejected: %s", exc)
        return _answer(400, error=f"malformed event: {exc}")
    if parsed is None:
        return _answer(200, received=True, counted=False)
    try:
        result = rt.store.record(parsed, when_of(parsed.created, rt.settings.zone))
    except StoreError as exc:
        log.error("webhook not stored, Stripe will retry: %s", type(exc).__name__)
        return _answer(503, error="the store is unavailable; retry later")
    what = session_fingerprint(parsed.session_id) if isinstance(parsed, Outcome) else ""
    log.info("%s %s %s: %s", event.get("type"), parsed.mode, what, result)
    return _answer(200, received=True, counted=True, result=result)
