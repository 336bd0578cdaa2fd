"""Turn a verified Stripe event into what it says about a payment (SPEC §5); pure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from landing.utm import SESSION_ID

COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
ASYNC_FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
REFUNDED = "charge.refunded"
DISPUTE_CLOSED = "charge.dispute.closed"
INVOICE_PAID = "invoice.paid"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
# The events that settle a Checkout Session's payment (parse_event).
SESSION_OUTCOMES = (COMPLETED, ASYNC_SUCCEEDED, ASYNC_FAILED)
# Every event read_event understands; any other type is acknowledged and ignored.
HANDLED = (
    *SESSION_OUTCOMES,
    EXPIRED,
    REFUNDED,
    DISPUTE_CLOSED,
    INVOICE_PAID,
    SUBSCRIPTION_DELETED,
)
# What the merchant selects on the webhook endpoint (README, SPEC §1).
SUBSCRIBED_EVENTS = HANDLED

PENDING, PAID, FAILED = "pending", "paid", "failed"
CURRENCY = re.compile(r"[a-z]{3}")
# Stripe ids are short and plain; anything else in these fields is not Stripe's.
STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
CLIENT_REFERENCE_MAX = 200
CHECKOUT_MODES = ("payment", "subscription", "setup")
# A dispute's status: lost, won, needs_response, warning_closed...
DISPUTE_STATUS = re.compile(r"[a-z_]{1,40}")
LOST = "lost"
# The only invoices that are renewals: subscription_create is the Checkout
# Session's own payment (counted by checkout.session.completed), and manual,
# subscription_update, subscription_threshold... are not a period renewing.
RENEWAL_REASON = "subscription_cycle"
# The first invoice: not counted again, but its PaymentIntent or charge is
# what a refund of the session's own payment names.
FIRST_INVOICE_REASON = "subscription_create"


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
    # The session's PaymentIntent ("" in subscription mode, or before payment):
    # what refunds and disputes name.
    payment_intent: str = ""
    # The subscription a subscription-mode session started: what renewals name.
    subscription: str = ""
    checkout_mode: str = "payment"


@dataclass(frozen=True)
class Expiry:
    """A payment link's Checkout Session that expired unpaid (abandoned)."""

    event_id: str
    session_id: str
    mode: str
    payment_link: str
    client_reference_id: str
    created: int


@dataclass(frozen=True)
class Refund:
    """A charge's refunds so far: ``amount_refunded`` is the running total."""

    event_id: str
    mode: str
    charge_id: str
    payment_intent: str
    invoice: str  # only API versions before 2025-03-31 name it; else ""
    amount_refunded: int
    amount: int
    currency: str
    created: int


@dataclass(frozen=True)
class Dispute:
    """A closed dispute; only a ``lost`` one takes money back."""

    event_id: str
    mode: str
    dispute_id: str
    charge_id: str
    payment_intent: str
    amount: int
    currency: str
    status: str
    created: int

    @property
    def lost(self) -> bool:
        """Whether the merchant lost it, so its amount counts as refunded."""
        return self.status == LOST


@dataclass(frozen=True)
class Renewal:
    """A paid ``subscription_cycle`` invoice of a subscription."""

    event_id: str
    mode: str
    invoice_id: str
    subscription: str
    amount_paid: int
    currency: str
    # Whichever the invoice names, for matching its later refunds; an invoice
    # of API versions since 2025-03-31 names them only when ``payments`` is
    # included, so both may be "".
    payment_intent: str
    charge_id: str
    created: int
    # The subscription's first invoice (subscription_create): the session's
    # own payment, never counted twice; kept only to match its refunds.
    first: bool = False


@dataclass(frozen=True)
class SubscriptionEnded:
    """A subscription that will not renew again."""

    event_id: str
    mode: str
    subscription: str
    created: int


Parsed = Outcome | Expiry | Refund | Dispute | Renewal | SubscriptionEnded


def read_event(event: Mapping[str, Any]) -> Parsed | None:
    """What any handled event says; None when it is not ours to count.

    None for types outside HANDLED, for sessions not made by a payment link,
    and for invoices that are not renewals (see RENEWAL_REASON). Raises
    BadEvent when a field we rely on is missing or of the wrong type.
    """
    event_type = _field(event, "type", str)
    if event_type in SESSION_OUTCOMES:
        return parse_event(event)
    reader = _READERS.get(event_type)
    return None if reader is None else reader(event)


def parse_event(event: Mapping[str, Any]) -> Outcome | None:
    """The outcome a Checkout Session event carries, None when not ours to count.

    Only the SESSION_OUTCOMES types; every other type is None (read_event
    reads them all). Raises BadEvent when a field we rely on is missing or of
    the wrong type.
    """
    event_type = _field(event, "type", str)
    if event_type not in SESSION_OUTCOMES:
        return None
    event_id = _field(event, "id", str)
    created = _created(event)
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
    # Stripe always sends it; events built before this field was read may not.
    checkout_mode = session.get("mode", "payment")
    if checkout_mode not in CHECKOUT_MODES:
        raise BadEvent("data.object.mode is not payment, subscription or setup")
    return Outcome(
        event_id=event_id,
        session_id=session_id,
        mode="live" if livemode else "test",
        status=status,
        amount_total=amount or 0,
        currency=currency or "",
        payment_link=payment_link,
        client_reference_id=_client_reference(session),
        created=created,
        payment_intent=_ref(session, "payment_intent"),
        subscription=_ref(session, "subscription"),
        checkout_mode=checkout_mode,
    )


def _expiry(event: Mapping[str, Any]) -> Expiry | None:
    event_id, mode, created, session = _envelope(event, "checkout.session")
    payment_link = session.get("payment_link")
    if payment_link is None:
        return None  # a Checkout Session not made by a payment link
    if not isinstance(payment_link, str) or not STRIPE_ID.fullmatch(payment_link):
        raise BadEvent("data.object.payment_link is not a Stripe id")
    session_id = _field(session, "id", str)
    if not SESSION_ID.fullmatch(session_id):
        raise BadEvent("data.object.id is not a Checkout Session id")
    return Expiry(
        event_id=event_id,
        session_id=session_id,
        mode=mode,
        payment_link=payment_link,
        client_reference_id=_client_reference(session),
        created=created,
    )


def _refund(event: Mapping[str, Any]) -> Refund:
    event_id, mode, created, charge = _envelope(event, "charge")
    amount = _amount(charge, "amount")
    refunded = _amount(charge, "amount_refunded")
    if refunded > amount:
        raise BadEvent("data.object.amount_refunded is more than the charge")
    return Refund(
        event_id=event_id,
        mode=mode,
        charge_id=_ref(charge, "id", required=True),
        payment_intent=_ref(charge, "payment_intent"),
        invoice=_ref(charge, "invoice"),
        amount_refunded=refunded,
        amount=amount,
        currency=_currency(charge),
        created=created,
    )


def _dispute(event: Mapping[str, Any]) -> Dispute:
    event_id, mode, created, dispute = _envelope(event, "dispute")
    status = _field(dispute, "status", str)
    if not DISPUTE_STATUS.fullmatch(status):
        raise BadEvent("data.object.status is not a dispute status")
    return Dispute(
        event_id=event_id,
        mode=mode,
        dispute_id=_ref(dispute, "id", required=True),
        charge_id=_ref(dispute, "charge", required=True),
        payment_intent=_ref(dispute, "payment_intent"),
        amount=_amount(dispute, "amount"),
        currency=_currency(dispute),
        status=status,
        created=created,
    )


def _renewal(event: Mapping[str, Any]) -> Renewal | None:
    event_id, mode, created, invoice = _envelope(event, "invoice")
    reason = invoice.get("billing_reason")
    if reason is not None and not isinstance(reason, str):
        raise BadEvent("data.object.billing_reason is not a string")
    if reason not in (RENEWAL_REASON, FIRST_INVOICE_REASON):
        return None  # not a renewal: see RENEWAL_REASON
    subscription = _invoice_subscription(invoice)
    if not subscription:
        raise BadEvent("a subscription_cycle invoice names no subscription")
    payment_intent, charge = _invoice_payment(invoice)
    return Renewal(
        event_id=event_id,
        mode=mode,
        invoice_id=_ref(invoice, "id", required=True),
        subscription=subscription,
        amount_paid=_amount(invoice, "amount_paid"),
        currency=_currency(invoice),
        payment_intent=payment_intent,
        charge_id=charge,
        created=created,
        first=reason == FIRST_INVOICE_REASON,
    )


def _invoice_subscription(invoice: Mapping[str, Any]) -> str:
    """The subscription id, where API versions since 2025-03-31 put it or before."""
    parent = invoice.get("parent")
    if parent is not None:
        if not isinstance(parent, dict):
            raise BadEvent("data.object.parent is not an object")
        details = parent.get("subscription_details")
        if details is not None:
            if not isinstance(details, dict):
                raise BadEvent("parent.subscription_details is not an object")
            found = _ref(details, "subscription")
            if found:
                return found
    return _ref(invoice, "subscription")


def _invoice_payment(invoice: Mapping[str, Any]) -> tuple[str, str]:
    """The invoice's payment intent and charge ids, "" for what it does not name.

    Before 2025-03-31 they are top-level fields; since then they are in the
    ``payments`` list, which a webhook carries only when it is included.
    """
    payment_intent = _ref(invoice, "payment_intent")
    charge = _ref(invoice, "charge")
    payments = invoice.get("payments")
    if payment_intent or charge or payments is None:
        return payment_intent, charge
    if not isinstance(payments, dict):
        raise BadEvent("data.object.payments is not a list object")
    unpaid = ("", "")
    for entry in _field(payments, "data", list):
        if not isinstance(entry, dict):
            raise BadEvent("payments.data holds something else than payments")
        payment = _field(entry, "payment", dict)
        ids = (_ref(payment, "payment_intent"), _ref(payment, "charge"))
        # A failed attempt is listed too: the paid one is what refunds name.
        if entry.get("status") == "paid" and any(ids):
            return ids
        unpaid = unpaid if any(unpaid) else ids
    return unpaid


def _subscription_ended(event: Mapping[str, Any]) -> SubscriptionEnded:
    event_id, mode, created, subscription = _envelope(event, "subscription")
    return SubscriptionEnded(
        event_id=event_id,
        mode=mode,
        subscription=_ref(subscription, "id", required=True),
        created=created,
    )


_READERS: dict[str, Callable[[Mapping[str, Any]], Parsed | None]] = {
    EXPIRED: _expiry,
    REFUNDED: _refund,
    DISPUTE_CLOSED: _dispute,
    INVOICE_PAID: _renewal,
    SUBSCRIPTION_DELETED: _subscription_ended,
}


def _envelope(
    event: Mapping[str, Any], kind: str
) -> tuple[str, str, int, dict[str, Any]]:
    """The event's id, mode (live or test), created time, and its object."""
    event_id = _field(event, "id", str)
    created = _created(event)
    livemode = _field(event, "livemode", bool)
    data = _field(event, "data", dict)
    obj = _field(data, "object", dict)
    if obj.get("object", kind) != kind:
        raise BadEvent(f"data.object is not a {kind}")
    return event_id, "live" if livemode else "test", created, obj


def _ref(obj: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """A Stripe id, or an expanded object's id; "" when null or absent."""
    value = obj.get(name)
    if isinstance(value, dict):
        value = value.get("id")
        if value is None:
            raise BadEvent(f"{name} is an object without an id")
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not STRIPE_ID.fullmatch(value):
        raise BadEvent(f"{name} is missing or not a Stripe id")
    return value


def _amount(obj: Mapping[str, Any], name: str) -> int:
    amount: int = _field(obj, name, int)
    if amount < 0:
        raise BadEvent(f"data.object.{name} is negative")
    return amount


def _currency(obj: Mapping[str, Any]) -> str:
    currency: str = _field(obj, "currency", str).lower()
    if not CURRENCY.fullmatch(currency):
        raise BadEvent("data.object.currency is not an ISO 4217 code")
    return currency


def _client_reference(session: Mapping[str, Any]) -> str:
    reference = session.get("client_reference_id") or ""
    if not isinstance(reference, str):
        raise BadEvent("data.object.client_reference_id is not a string")
    return reference[:CLIENT_REFERENCE_MAX]


# Stripe's timestamps are seconds since 1970; past year 3000 is no date a
# calendar (or a day in REPORT_TIMEZONE) can hold.
LATEST_CREATED = 32_503_680_000


def _created(event: Mapping[str, Any]) -> int:
    created: int = _field(event, "created", int)
    if not 0 <= created < LATEST_CREATED:
        raise BadEvent("created is not a time Stripe could have sent")
    return created


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
