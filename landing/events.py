"""Turn a verified Stripe event into a session outcome (SPEC §5); pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from landing.utm import SESSION_ID

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
HANDLED = (COMPLETED, ASYNC_SUCCEEDED, ASYNC_FAILED)

PENDING, PAID, FAILED = "pending", "paid", "failed"
CURRENCY = re.compile(r"[a-z]{3}")
# Stripe ids are short and plain; anything else in these fields is not Stripe's.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
CLIENT_REFERENCE_MAX = 200


# Stripe's default: a signature older than five minutes is a replay.
TOLERANCE_SECONDS = 300


class BadEvent(ValueError):
    """A signed event that does not have the shape Stripe documents."""


class BadSignature(ValueError):
    """Not signed by Stripe with any configured secret, or too old."""


@dataclass(frozen=True)
class Outcome:
    """What one event says about one checkout session."""

    event_id: str
    session_id: str
    mode: str
    status: str
    amount_total: int
    currency: str
    payment_link: str
    client_reference_id: str
    created: int


def parse_event(event: Mapping[str, Any]) -> Outcome | None:
    """The outcome an event carries, None when it is not ours to count.

    Raises BadEvent when a field we rely on is missing or of the wrong type.
    """
    event_type = _field(event, "type", str)
    if event_type not in HANDLED:
        return None
    event_id = _field(event, "id", str)
    created = _field(event, "created", int)
    livemode = _field(event, "livemode", bool)
    data = _field(event, "data", dict)
    session = _field(data, "object", dict)
    if session.get("object", "checkout.session") != "checkout.session":
        raise BadEvent("data.object is not a checkout.session")
    payment_link = session.get("payment_link")
    if payment_link is None:
        return None  # a Checkout Session not made by a payment link
    if not isinstance(payment_link, str) or not STRIPE_ID.fullmatch(payment_link):
        raise BadEvent("data.object.payment_link is not a Stripe id")
    session_id = _field(session, "id", str)
    if not SESSION_ID.fullmatch(session_id):
        raise BadEvent("data.object.id is not a Checkout Session id")
    payment_status = _field(session, "payment_status", str)
    if event_type == COMPLETED:
        if payment_status in ("paid", "no_payment_required"):
            status = PAID
        elif payment_status == "unpaid":
            status = PENDING
        else:
            raise BadEvent(f"unknown payment_status {payment_status!r}")
    else:
        status = PAID if event_type == ASYNC_SUCCEEDED else FAILED
    amount = session.get("amount_total")
    currency = session.get("currency")
    if status == PAID or amount is not None:
        amount = _field(session, "amount_total", int)
        if amount < 0:
            raise BadEvent("data.object.amount_total is negative")
    if status == PAID or currency is not None:
        currency = _field(session, "currency", str).lower()
        if not CURRENCY.fullmatch(currency):
            raise BadEvent("data.object.currency is not an ISO 4217 code")
    reference = session.get("client_reference_id") or ""
    if not isinstance(reference, str):
        raise BadEvent("data.object.client_reference_id is not a string")
    return Outcome(
        event_id=event_id,
        session_id=session_id,
        mode="live" if livemode else "test",
        status=status,
        amount_total=amount or 0,
        currency=currency or "",
        payment_link=payment_link,
        client_reference_id=reference[:CLIENT_REFERENCE_MAX],
        created=created,
    )


def _field(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    # bool is an int in Python; an amount or a timestamp must not be one.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadEvent(f"{name} is missing or not a {kind.__name__}")
    return value


def verify_event(
    payload: bytes, header: str | None, secrets: tuple[str, ...]
) -> dict[str, Any]:
    """The event Stripe signed, checked with Stripe's own library.

    This is the check ``stripe.Webhook.construct_event`` runs, tried with each
    configured secret (rotation, or one endpoint's live and test secrets); the
    body is then parsed as plain JSON, so that any shape can be judged by
    ``parse_event`` rather than fail inside an SDK object. Raises BadSignature,
    or BadEvent for a signed body that is not a JSON object.
    """
    if not header:
        raise BadSignature("no Stripe-Signature header")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSignature("the body is not UTF-8, so Stripe did not sign it") from None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                text, header, secret, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError:
            continue
        try:
            body = json.loads(text)
        except ValueError:
            raise BadEvent("the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadEvent("the body is not a JSON object")
        return body
    raise BadSignature("no signature matches, or the timestamp is over 300 s old")
