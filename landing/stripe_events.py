"""Stripe events as Stripe sends them, for tests, the demo and benchmarks.

The one factory of events in the project. Each object is Stripe's own example
from ``openapi/fixtures3.json`` (github.com/stripe/openapi), trimmed to the
fields a webhook consumer plausibly reads, with ids of Stripe's shape. Fields
are ``None`` where Stripe sends ``null``; an argument left at ``None`` means
``null`` in the event, never "made up for you".

API versions differ in two places, and the factory can build both:

- since 2025-03-31.basil an invoice names its subscription in
  ``parent.subscription_details.subscription`` and its payments in the
  ``payments`` list (``payments.data[].payment.payment_intent`` or
  ``.charge``); before, in the top-level ``subscription``, ``payment_intent``
  and ``charge`` fields (``invoice_paid(api_style="legacy")``);
- since then a Charge no longer names its ``invoice``; ``charge_refunded``
  adds that field only when given one.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Mapping
from typing import Any, Literal

import stripe

# The version whose shapes these are (the invoice's ``parent`` and ``payments``)
# and the last one with the older invoice fields.
API_VERSION = "2025-03-31.basil"
LEGACY_API_VERSION = "2024-06-20"

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"

PAYMENT_LINK = "plink_1PgafyB7WZ01zgkWk2T1xGqA"
CUSTOMER = "cus_QXg1o8vcGmoR32"  # fixtures3.json's customer

_ALPHABET = string.ascii_letters + string.digits
# What a Checkout Session's payment_status is when each event is sent.
_PAYMENT_STATUS = {
    COMPLETED: "paid",
    ASYNC_SUCCEEDED: "paid",
    ASYNC_FAILED: "unpaid",
    EXPIRED: "unpaid",
}


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id of Stripe's shape, such as ``new_id("pi")`` -> ``pi_3Pg…``."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_session_id(livemode: bool = True) -> str:
    """A fresh Checkout Session id, as long as Stripe's (cs_live_a1 + 56)."""
    return f"cs_{'live' if livemode else 'test'}_a1" + new_id("", 56)[1:]


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    livemode: bool,
    created: int | None = None,
    event_id: str | None = None,
    api_version: str = API_VERSION,
) -> dict[str, Any]:
    """The envelope of every event: ``obj`` as ``data.object``."""
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def checkout_session_event(
    event_type: str,
    session_id: str,
    *,
    payment_link: str | None = PAYMENT_LINK,
    amount_total: int | None = 4000,
    currency: str | None = "usd",
    payment_status: str | None = None,
    livemode: bool | None = None,
    client_reference_id: str | None = None,
    mode: str = "payment",
    payment_intent: str | dict[str, Any] | None = None,
    subscription: str | dict[str, Any] | None = None,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A ``checkout.session.*`` event.

    ``payment_status`` defaults to what Stripe sends with ``event_type``
    (``paid`` on completion, ``unpaid`` on failure or expiry); ``livemode`` to
    what the session id says (``cs_test_…`` is test mode).
    """
    if livemode is None:
        livemode = not session_id.startswith("cs_test_")
    if payment_status is None:
        payment_status = _PAYMENT_STATUS.get(event_type, "paid")
    created = int(time.time()) if created is None else created
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "client_reference_id": client_reference_id,
        "created": created,
        "currency": currency,
        "customer": CUSTOMER if mode == "subscription" else None,
        "expires_at": created + 86400,
        "invoice": None,
        "livemode": livemode,
        "metadata": {},
        "mode": mode,
        "payment_intent": payment_intent,
        "payment_link": payment_link,
        "payment_status": payment_status,
        "status": "expired" if event_type == EXPIRED else "complete",
        "subscription": subscription,
        "ui_mode": "hosted",
        "url": None,
    }
    return event(
        event_type, session, livemode=livemode, created=created, event_id=event_id
    )


def checkout_session_completed(session_id: str, **fields: Any) -> dict[str, Any]:
    """``checkout.session.completed``; see ``checkout_session_event``."""
    return checkout_session_event(COMPLETED, session_id, **fields)


def checkout_session_async_payment_succeeded(
    session_id: str, **fields: Any
) -> dict[str, Any]:
    """``checkout.session.async_payment_succeeded`` (payment_status ``paid``)."""
    return checkout_session_event(ASYNC_SUCCEEDED, session_id, **fields)


def checkout_session_async_payment_failed(
    session_id: str, **fields: Any
) -> dict[str, Any]:
    """``checkout.session.async_payment_failed`` (payment_status ``unpaid``)."""
    return checkout_session_event(ASYNC_FAILED, session_id, **fields)


def checkout_session_expired(session_id: str, **fields: Any) -> dict[str, Any]:
    """``checkout.session.expired`` (status ``expired``, ``unpaid``)."""
    return checkout_session_event(EXPIRED, session_id, **fields)


def charge_refunded(
    charge_id: str | None = None,
    *,
    payment_intent: str | dict[str, Any] | None,
    amount: int = 4000,
    amount_refunded: int | None = None,
    currency: str = "usd",
    livemode: bool = True,
    invoice: str | dict[str, Any] | None = None,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``charge.refunded``: the Charge, ``amount_refunded`` its running total.

    A full refund unless ``amount_refunded`` is given. ``invoice`` adds the
    field API versions before 2025-03-31 had.
    """
    created = int(time.time()) if created is None else created
    refunded = amount if amount_refunded is None else amount_refunded
    charge = {
        "id": charge_id or new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "balance_transaction": new_id("txn"),
        "captured": True,
        "created": created - 3600,
        "currency": currency,
        "customer": None,
        "disputed": False,
        "livemode": livemode,
        "metadata": {},
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": refunded == amount,
        "status": "succeeded",
    }
    if invoice is not None:
        charge["invoice"] = invoice
    return event(
        "charge.refunded",
        charge,
        livemode=livemode,
        created=created,
        event_id=event_id,
        api_version=API_VERSION if invoice is None else LEGACY_API_VERSION,
    )


def charge_dispute_closed(
    dispute_id: str | None = None,
    *,
    charge: str | dict[str, Any],
    payment_intent: str | dict[str, Any] | None,
    amount: int = 4000,
    currency: str = "usd",
    status: str = "lost",
    livemode: bool = True,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``charge.dispute.closed``: the Dispute, ``status`` ``lost``, ``won``…"""
    created = int(time.time()) if created is None else created
    dispute = {
        "id": dispute_id or new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge,
        "created": created - 86400,
        "currency": currency,
        "is_charge_refundable": False,
        "livemode": livemode,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    }
    return event(
        "charge.dispute.closed",
        dispute,
        livemode=livemode,
        created=created,
        event_id=event_id,
    )


def invoice_paid(
    invoice_id: str | None = None,
    *,
    subscription: str | dict[str, Any] | None,
    billing_reason: str | None = "subscription_cycle",
    amount_paid: int = 4000,
    currency: str = "usd",
    payment_intent: str | dict[str, Any] | None = None,
    charge: str | dict[str, Any] | None = None,
    api_style: Literal["parent", "legacy"] = "parent",
    livemode: bool = True,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``invoice.paid``, shaped as API versions since 2025-03-31 or before.

    ``parent``: the subscription in ``parent.subscription_details`` (the
    top-level ``subscription`` null, as in Stripe's fixture) and, when
    a payment intent or charge is given, one paid entry in ``payments`` (an
    includable list: an endpoint may not receive it). ``legacy``: top-level
    ``subscription``, ``payment_intent``, ``charge`` and ``paid``.
    """
    created = int(time.time()) if created is None else created
    invoice_id = invoice_id or new_id("in")
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": amount_paid,
        "amount_paid": amount_paid,
        "amount_remaining": 0,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created - 3600,
        "currency": currency,
        "customer": CUSTOMER,
        "livemode": livemode,
        "metadata": {},
        "period_end": created - 3600,
        "period_start": created - 3600 - 30 * 86400,
        "status": "paid",
        "status_transitions": {"paid_at": created},
        "subtotal": amount_paid,
        "total": amount_paid,
    }
    if api_style == "legacy":
        invoice |= {
            "charge": charge,
            "paid": True,
            "payment_intent": payment_intent,
            "subscription": subscription,
        }
        version = LEGACY_API_VERSION
    else:
        # fixtures3.json still lists the top-level field, null, beside parent.
        invoice["subscription"] = None
        invoice["parent"] = (
            None
            if subscription is None
            else {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": subscription},
                "type": "subscription_details",
            }
        )
        if payment_intent is not None or charge is not None:
            kind = "payment_intent" if payment_intent is not None else "charge"
            payment: dict[str, Any] = {"type": kind, kind: payment_intent or charge}
            invoice["payments"] = {
                "object": "list",
                "data": [
                    {
                        "id": new_id("inpay"),
                        "object": "invoice_payment",
                        "amount_paid": amount_paid,
                        "amount_requested": amount_paid,
                        "created": created,
                        "currency": currency,
                        "invoice": invoice_id,
                        "is_default": True,
                        "livemode": livemode,
                        "payment": payment,
                        "status": "paid",
                    }
                ],
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/payments",
            }
        version = API_VERSION
    return event(
        "invoice.paid",
        invoice,
        livemode=livemode,
        created=created,
        event_id=event_id,
        api_version=version,
    )


def customer_subscription_deleted(
    subscription_id: str | None = None,
    *,
    livemode: bool = True,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``customer.subscription.deleted``: the Subscription, ``canceled``."""
    created = int(time.time()) if created is None else created
    subscription = {
        "id": subscription_id or new_id("sub"),
        "object": "subscription",
        "cancel_at_period_end": False,
        "canceled_at": created,
        "collection_method": "charge_automatically",
        "created": created - 90 * 86400,
        "currency": "usd",
        "customer": CUSTOMER,
        "ended_at": created,
        "livemode": livemode,
        "metadata": {},
        "status": "canceled",
    }
    return event(
        "customer.subscription.deleted",
        subscription,
        livemode=livemode,
        created=created,
        event_id=event_id,
    )


def signed(
    event: Mapping[str, Any] | str,
    secret: str,
    timestamp: int | None = None,
    *,
    compact: bool = False,
) -> tuple[bytes, str]:
    """The body and ``Stripe-Signature`` header Stripe would send.

    Signed by the stripe library itself; a ``str`` is signed as it is (for
    bodies that are not events). Stripe pretty-prints with two spaces;
    ``compact`` drops the whitespace, for loads that measure the server.
    """
    if isinstance(event, str):
        body = event
    elif compact:
        body = json.dumps(event, separators=(",", ":"))
    else:
        body = json.dumps(event, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=timestamp
    )
    return body.encode("utf-8"), str(header)
