"""Reading Stripe's events: signatures and shapes (pure functions)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe

from landing import stripe_events as se
from landing.events import (
    HANDLED,
    SESSION_OUTCOMES,
    SUBSCRIBED_EVENTS,
    BadEvent,
    BadSignature,
    Dispute,
    Expiry,
    Outcome,
    Refund,
    Renewal,
    SubscriptionEnded,
    parse_event,
    read_event,
    verify_event,
)

from conftest import WEBHOOK_SECRET

SID = "cs_live_a1B2c3D4e5F6g7H8i9J0"
T = 1_750_000_000  # the events' created time
Event = dict[str, Any]


def verify(body: str | bytes, header: str | None, *secrets: str) -> dict[str, Any]:
    payload = body.encode() if isinstance(body, str) else body
    return verify_event(payload, header, secrets or (WEBHOOK_SECRET,))


def signed(event: Event | str, **kw: Any) -> tuple[bytes, str]:
    return se.signed(event, kw.pop("secret", WEBHOOK_SECRET), **kw)


def session(**kw: Any) -> Event:
    kw.setdefault("event_id", "evt_1")
    kw.setdefault("created", T)
    kind = kw.pop("type", se.COMPLETED)
    return se.checkout_session_event(kind, kw.pop("session_id", SID), **kw)


def changed(event: Event, path: str, value: object) -> Event:
    """A copy of event with one field set, or deleted when value is KeyError."""
    event = copy.deepcopy(event)
    target = event
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return event


# -- signatures ------------------------------------------------------------------


def test_a_signed_event_verifies_and_parses() -> None:
    body, header = signed(session())
    event = verify(body, header)
    assert parse_event(event) == Outcome(
        event_id="evt_1",
        session_id=SID,
        mode="live",
        status="paid",
        amount_total=4000,
        currency="usd",
        payment_link=se.PAYMENT_LINK,
        client_reference_id="",
        created=T,
    )


def test_any_of_several_secrets_verifies() -> None:
    body, header = signed(session(), secret="whsec_second")
    assert verify(body, header, "whsec_first", "whsec_second")
    with pytest.raises(BadSignature):
        verify(body, header, "whsec_first")


def test_a_header_with_several_v1_signatures_passes_when_one_matches() -> None:
    body, good = signed(session())
    timestamp, signature = good.split(",")
    header = f"{timestamp},v1={'0' * 64},{signature}"
    assert verify(body, header)["type"] == "checkout.session.completed"


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=abc,v1=00", "t=1,v0=00"],
)
def test_missing_or_malformed_signature_is_refused(header: str | None) -> None:
    with pytest.raises(BadSignature):
        verify(json.dumps(session()), header)


def test_a_tampered_body_is_refused() -> None:
    body, header = signed(session(amount_total=100))
    with pytest.raises(BadSignature):
        verify(body.replace(b": 100,", b": 999999,"), header)


def test_a_stale_timestamp_is_refused_and_a_fresh_one_accepted() -> None:
    event = session()
    body, header = signed(event, timestamp=int(time.time()) - 301)
    with pytest.raises(BadSignature):
        verify(body, header)
    body, header = signed(event, timestamp=int(time.time()) - 250)
    assert verify(body, header)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', "null"])
def test_signed_bodies_that_are_not_objects_are_bad_events(body: str) -> None:
    _, header = signed(body)
    with pytest.raises(BadEvent):
        verify(body, header)


def signed_bytes(body: bytes) -> str:
    """The header Stripe's scheme gives raw bytes: HMAC-SHA256 of "t.body"."""
    timestamp = int(time.time())
    mac = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    )
    return f"t={timestamp},v1={mac.hexdigest()}"


def test_a_non_utf8_body_is_refused_even_when_its_signature_matches() -> None:
    # The same hand-made signing over UTF-8 bytes verifies: only the encoding
    # can be what refuses the second body.
    assert verify(b'{"note": "caf\xc3\xa9"}', signed_bytes(b'{"note": "caf\xc3\xa9"}'))
    body = b'{"note": "caf\xe9"}'  # Latin-1
    with pytest.raises((BadSignature, BadEvent), match="UTF-8"):
        verify(body, signed_bytes(body))


# -- the factory -------------------------------------------------------------------


def test_factory_events_are_signed_as_stripe_signs_them() -> None:
    event = se.invoice_paid(subscription="sub_1")
    for compact in (False, True):
        body, header = se.signed(event, WEBHOOK_SECRET, compact=compact)
        assert verify(body, header) == event
        stripe.WebhookSignature.verify_header(body.decode(), header, WEBHOOK_SECRET)


def test_factory_event_ids_are_new_each_call_unless_given() -> None:
    ids = {se.checkout_session_completed(SID)["id"] for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("evt_") for i in ids)
    assert se.customer_subscription_deleted(event_id="evt_x")["id"] == "evt_x"


def test_factory_session_ids_look_like_stripes() -> None:
    live, test = se.new_session_id(), se.new_session_id(livemode=False)
    assert live.startswith("cs_live_a1") and len(live) == 66  # as Stripe's
    assert test.startswith("cs_test_a1")
    assert session(session_id=test)["livemode"] is False


# -- checkout sessions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payment_status", "status"),
    [
        ("checkout.session.completed", "paid", "paid"),
        ("checkout.session.completed", "no_payment_required", "paid"),
        ("checkout.session.completed", "unpaid", "pending"),
        ("checkout.session.async_payment_succeeded", "paid", "paid"),
        ("checkout.session.async_payment_failed", "unpaid", "failed"),
    ],
)
def test_event_types_map_to_outcomes(
    kind: str, payment_status: str, status: str
) -> None:
    event = session(type=kind, payment_status=payment_status)
    outcome = read_event(event)
    assert isinstance(outcome, Outcome) and outcome.status == status
    assert parse_event(event) == outcome


@pytest.mark.parametrize(
    ("build", "status"),
    [
        (se.checkout_session_completed, "paid"),
        (se.checkout_session_async_payment_succeeded, "paid"),
        (se.checkout_session_async_payment_failed, "failed"),
    ],
)
def test_each_session_builder_sends_its_payment_status(
    build: Callable[..., Event], status: str
) -> None:
    outcome = parse_event(build(SID))
    assert outcome is not None and outcome.status == status


@pytest.mark.parametrize(
    ("payment_intent", "expected"),
    [
        ("pi_3PgafyB7WZ01zgkW", "pi_3PgafyB7WZ01zgkW"),
        (
            {"id": "pi_3PgafyB7WZ01zgkW", "object": "payment_intent"},
            "pi_3PgafyB7WZ01zgkW",
        ),
        (None, ""),
    ],
)
def test_a_session_names_its_payment_intent(
    payment_intent: str | dict[str, Any] | None, expected: str
) -> None:
    outcome = parse_event(session(payment_intent=payment_intent))
    assert outcome is not None
    assert (outcome.payment_intent, outcome.subscription) == (expected, "")
    assert outcome.checkout_mode == "payment"


@pytest.mark.parametrize("subscription", ["sub_1Pgc6r", {"id": "sub_1Pgc6r"}])
def test_a_subscription_session_names_its_subscription(
    subscription: str | dict[str, Any],
) -> None:
    outcome = parse_event(session(mode="subscription", subscription=subscription))
    assert outcome is not None
    assert (outcome.checkout_mode, outcome.subscription) == (
        "subscription",
        "sub_1Pgc6r",
    )
    assert outcome.payment_intent == ""


def test_a_session_without_mode_is_a_payment() -> None:
    outcome = parse_event(changed(session(), "data.object.mode", KeyError))
    assert outcome is not None and outcome.checkout_mode == "payment"


def test_ignored_session_events() -> None:
    assert read_event(session(payment_link=None)) is None
    outcome = read_event(session(livemode=False))
    assert isinstance(outcome, Outcome) and outcome.mode == "test"


def broken(path: str, value: object) -> Event:
    """A signed-shape completion with one field set, or deleted (KeyError)."""
    return changed(session(), path, value)


def session_event(session_id: str, **fields: Any) -> Event:
    return session(session_id=session_id, **fields)


def not_a(name: str, kind: str) -> str:
    return f"{name} is missing or not a {kind}"


@pytest.mark.parametrize(
    ("path", "value", "why"),
    [
        ("type", 5, not_a("type", "str")),
        ("id", None, not_a("id", "str")),
        ("created", "yesterday", not_a("created", "int")),
        ("created", True, not_a("created", "int")),
        ("livemode", "yes", not_a("livemode", "bool")),
        ("data", [], not_a("data", "dict")),
        ("data.object", "cs_live_1", not_a("object", "dict")),
        ("data.object.id", "pi_123", "data.object.id is not a Checkout Session id"),
        ("data.object.id", KeyError, not_a("id", "str")),
        (
            "data.object.object",
            "payment_intent",
            "data.object is not a checkout.session",
        ),
        ("data.object.payment_status", "weird", "unknown payment_status 'weird'"),
        ("data.object.payment_status", KeyError, not_a("payment_status", "str")),
        ("data.object.amount_total", "4000", not_a("amount_total", "int")),
        ("data.object.amount_total", -1, "data.object.amount_total is negative"),
        ("data.object.amount_total", 40.5, not_a("amount_total", "int")),
        ("data.object.amount_total", None, not_a("amount_total", "int")),
        (
            "data.object.currency",
            "dollars",
            "data.object.currency is not an ISO 4217 code",
        ),
        ("data.object.currency", 840, not_a("currency", "str")),
        ("data.object.currency", None, not_a("currency", "str")),
        ("data.object.payment_link", 7, "data.object.payment_link is not a Stripe id"),
        (
            "data.object.payment_link",
            "plink 1",
            "data.object.payment_link is not a Stripe id",
        ),
        (
            "data.object.client_reference_id",
            {"a": 1},
            "data.object.client_reference_id is not a string",
        ),
    ],
)
def test_signed_but_malformed_events_are_bad(
    path: str, value: object, why: str
) -> None:
    # The reason is what the webhook's 400 tells whoever reads Stripe's log.
    with pytest.raises(BadEvent) as refused:
        parse_event(broken(path, value))
    assert str(refused.value) == why


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("type", 5),
        ("id", None),
        ("created", "yesterday"),
        ("created", True),
        ("livemode", "yes"),
        ("data", []),
        ("data.object", "cs_live_1"),
        ("data.object.id", "pi_123"),
        ("data.object.id", KeyError),
        ("data.object.object", "payment_intent"),
        ("data.object.payment_status", "weird"),
        ("data.object.payment_status", KeyError),
        ("data.object.amount_total", "4000"),
        ("data.object.amount_total", -1),
        ("data.object.amount_total", 40.5),
        ("data.object.amount_total", None),
        ("data.object.currency", "dollars"),
        ("data.object.currency", 840),
        ("data.object.payment_link", 7),
        ("data.object.payment_link", "plink 1"),
        ("data.object.client_reference_id", {"a": 1}),
        ("data.object.payment_intent", 7),
        ("data.object.payment_intent", "pi 1"),
        ("data.object.payment_intent", ""),
        ("data.object.payment_intent", {"object": "payment_intent"}),
        ("data.object.payment_intent", {"id": 5}),
        ("data.object.subscription", ["sub_1"]),
        ("data.object.mode", "weird"),
        ("data.object.mode", None),
    ],
)
def test_signed_but_malformed_session_events_are_bad(path: str, value: object) -> None:
    with pytest.raises(BadEvent):
        read_event(changed(session(), path, value))


def test_currency_is_lowercased_and_client_reference_kept() -> None:
    outcome = parse_event(session(currency="EUR", client_reference_id="order-42"))
    assert outcome is not None
    assert (outcome.currency, outcome.client_reference_id) == ("eur", "order-42")


# -- expired sessions ------------------------------------------------------------


def expired(**kw: Any) -> Event:
    return session(type=se.EXPIRED, **kw)


def test_an_expired_payment_link_session_is_an_expiry() -> None:
    assert read_event(expired(client_reference_id="lt_spring")) == Expiry(
        event_id="evt_1",
        session_id=SID,
        mode="live",
        payment_link=se.PAYMENT_LINK,
        client_reference_id="lt_spring",
        created=T,
    )


def test_expiries_of_other_sessions_are_ignored_and_the_reference_is_cut() -> None:
    assert read_event(expired(payment_link=None)) is None
    expiry = read_event(expired(client_reference_id="x" * 300))
    assert isinstance(expiry, Expiry) and expiry.client_reference_id == "x" * 200


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.object.object", "charge"),
        ("data.object.id", "pi_123"),
        ("data.object.id", KeyError),
        ("data.object.payment_link", 7),
        ("data.object.payment_link", "plink/1"),
        ("data.object.client_reference_id", 42),
    ],
)
def test_malformed_expiries_are_bad(path: str, value: object) -> None:
    with pytest.raises(BadEvent):
        read_event(changed(expired(), path, value))


# -- refunds ---------------------------------------------------------------------


def refund(**kw: Any) -> Event:
    kw.setdefault("payment_intent", "pi_1")
    return se.charge_refunded("ch_1", event_id="evt_r", created=T, **kw)


@pytest.mark.parametrize(
    ("kw", "payment_intent", "invoice", "refunded"),
    [
        ({}, "pi_1", "", 4000),
        ({"amount_refunded": 1500}, "pi_1", "", 1500),
        ({"amount_refunded": 0}, "pi_1", "", 0),
        (
            {"payment_intent": {"id": "pi_2", "object": "payment_intent"}},
            "pi_2",
            "",
            4000,
        ),
        ({"payment_intent": None}, "", "", 4000),
        ({"invoice": "in_1"}, "pi_1", "in_1", 4000),
        ({"invoice": {"id": "in_1", "object": "invoice"}}, "pi_1", "in_1", 4000),
    ],
)
def test_a_refunded_charge_is_a_refund(
    kw: dict[str, Any], payment_intent: str, invoice: str, refunded: int
) -> None:
    assert read_event(refund(currency="EUR", **kw)) == Refund(
        event_id="evt_r",
        mode="live",
        charge_id="ch_1",
        payment_intent=payment_intent,
        invoice=invoice,
        amount_refunded=refunded,
        amount=4000,
        currency="eur",
        created=T,
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.object.object", "dispute"),
        ("data.object.id", KeyError),
        ("data.object.id", "ch 1"),
        ("data.object.amount", KeyError),
        ("data.object.amount", -1),
        ("data.object.amount", "4000"),
        ("data.object.amount", True),
        ("data.object.amount_refunded", KeyError),
        ("data.object.amount_refunded", -5),
        ("data.object.amount_refunded", 12.5),
        ("data.object.amount_refunded", 4001),
        ("data.object.currency", KeyError),
        ("data.object.currency", "euro"),
        ("data.object.payment_intent", 5),
        ("data.object.payment_intent", {"object": "payment_intent"}),
        ("data.object.invoice", ["in_1"]),
    ],
)
def test_malformed_refunds_are_bad(path: str, value: object) -> None:
    with pytest.raises(BadEvent):
        read_event(changed(refund(), path, value))


# -- disputes --------------------------------------------------------------------


def dispute(**kw: Any) -> Event:
    kw.setdefault("charge", "ch_1")
    kw.setdefault("payment_intent", "pi_1")
    return se.charge_dispute_closed("dp_1", event_id="evt_d", created=T, **kw)


@pytest.mark.parametrize(
    ("status", "lost"), [("lost", True), ("won", False), ("warning_closed", False)]
)
def test_a_closed_dispute_is_read_whatever_its_status(status: str, lost: bool) -> None:
    parsed = read_event(dispute(status=status, amount=2500, currency="JPY"))
    assert parsed == Dispute(
        event_id="evt_d",
        mode="live",
        dispute_id="dp_1",
        charge_id="ch_1",
        payment_intent="pi_1",
        amount=2500,
        currency="jpy",
        status=status,
        created=T,
    )
    assert isinstance(parsed, Dispute) and parsed.lost is lost


def test_a_dispute_with_an_expanded_charge_and_no_payment_intent() -> None:
    parsed = read_event(
        dispute(charge={"id": "ch_9", "object": "charge"}, payment_intent=None)
    )
    assert isinstance(parsed, Dispute)
    assert (parsed.charge_id, parsed.payment_intent) == ("ch_9", "")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.object.object", "charge"),
        ("data.object.id", KeyError),
        ("data.object.charge", KeyError),
        ("data.object.charge", None),
        ("data.object.charge", 7),
        ("data.object.payment_intent", "pi-1"),
        ("data.object.status", KeyError),
        ("data.object.status", "LOST!"),
        ("data.object.status", 1),
        ("data.object.amount", -100),
        ("data.object.amount", None),
        ("data.object.currency", "us"),
    ],
)
def test_malformed_disputes_are_bad(path: str, value: object) -> None:
    with pytest.raises(BadEvent):
        read_event(changed(dispute(), path, value))


# -- renewals --------------------------------------------------------------------


def invoice(**kw: Any) -> Event:
    kw.setdefault("subscription", "sub_1")
    return se.invoice_paid("in_1", event_id="evt_i", created=T, **kw)


STYLES = ["parent", "legacy"]


@pytest.mark.parametrize("api_style", STYLES)
@pytest.mark.parametrize(
    ("kw", "payment_intent", "charge"),
    [
        ({"payment_intent": "pi_1"}, "pi_1", ""),
        ({"charge": "ch_1"}, "", "ch_1"),
        ({"payment_intent": {"id": "pi_1", "object": "payment_intent"}}, "pi_1", ""),
        ({}, "", ""),
    ],
)
def test_a_paid_cycle_invoice_is_a_renewal_in_both_api_styles(
    api_style: str, kw: dict[str, Any], payment_intent: str, charge: str
) -> None:
    event = invoice(api_style=api_style, amount_paid=1250, currency="KWD", **kw)
    assert read_event(event) == Renewal(
        event_id="evt_i",
        mode="live",
        invoice_id="in_1",
        subscription="sub_1",
        amount_paid=1250,
        currency="kwd",
        payment_intent=payment_intent,
        charge_id=charge,
        created=T,
    )


def test_the_two_styles_put_the_ids_where_stripe_does() -> None:
    new = invoice(payment_intent="pi_1")["data"]["object"]
    old = invoice(payment_intent="pi_1", api_style="legacy")["data"]["object"]
    assert new["parent"]["subscription_details"]["subscription"] == "sub_1"
    assert new["payments"]["data"][0]["payment"] == {
        "type": "payment_intent",
        "payment_intent": "pi_1",
    }
    assert new["subscription"] is None and "payment_intent" not in new
    assert (old["subscription"], old["payment_intent"]) == ("sub_1", "pi_1")
    assert "parent" not in old


@pytest.mark.parametrize("api_style", STYLES)
def test_an_expanded_subscription_is_read_by_its_id(api_style: str) -> None:
    event = invoice(
        api_style=api_style, subscription={"id": "sub_9", "object": "subscription"}
    )
    renewal = read_event(event)
    assert isinstance(renewal, Renewal) and renewal.subscription == "sub_9"


def test_the_paid_payment_is_the_one_kept() -> None:
    event = invoice(payment_intent="pi_paid")
    payments = event["data"]["object"]["payments"]["data"]
    failed = copy.deepcopy(payments[0]) | {"status": "failed"}
    failed["payment"] = {"type": "charge", "charge": "ch_failed"}
    payments.insert(0, failed)
    renewal = read_event(event)
    assert isinstance(renewal, Renewal)
    assert (renewal.payment_intent, renewal.charge_id) == ("pi_paid", "")


@pytest.mark.parametrize("api_style", STYLES)
@pytest.mark.parametrize("reason", ["subscription_update", "manual", None])
def test_invoices_that_are_not_renewals_are_ignored(
    api_style: str, reason: str | None
) -> None:
    assert read_event(invoice(api_style=api_style, billing_reason=reason)) is None


@pytest.mark.parametrize("api_style", STYLES)
def test_the_first_invoice_is_read_as_the_sessions_own_payment(api_style: str) -> None:
    first = read_event(
        invoice(api_style=api_style, billing_reason="subscription_create")
    )
    assert isinstance(first, Renewal)
    assert first.first
    cycle = read_event(invoice(api_style=api_style))
    assert isinstance(cycle, Renewal)
    assert not cycle.first


def test_an_invoice_without_a_subscription_is_ignored_unless_a_cycle() -> None:
    assert read_event(invoice(subscription=None, billing_reason="manual")) is None
    with pytest.raises(BadEvent):
        read_event(invoice(subscription=None))


@pytest.mark.parametrize(
    ("style", "path", "value"),
    [
        ("parent", "data.object.object", "charge"),
        ("parent", "data.object.id", KeyError),
        ("parent", "data.object.billing_reason", 3),
        ("parent", "data.object.amount_paid", -1),
        ("parent", "data.object.amount_paid", KeyError),
        ("parent", "data.object.amount_paid", "4000"),
        ("parent", "data.object.currency", "EURO"),
        ("parent", "data.object.parent", "sub_1"),
        ("parent", "data.object.parent.subscription_details", "sub_1"),
        ("parent", "data.object.parent.subscription_details.subscription", 1),
        ("parent", "data.object.parent.subscription_details.subscription", None),
        ("parent", "data.object.payments", []),
        ("parent", "data.object.payments.data", KeyError),
        ("parent", "data.object.payments.data", ["inpay_1"]),
        ("legacy", "data.object.subscription", KeyError),
        ("legacy", "data.object.subscription", {"object": "subscription"}),
        ("legacy", "data.object.subscription", "sub 1"),
        ("legacy", "data.object.payment_intent", 5),
        ("legacy", "data.object.charge", "ch-1"),
    ],
)
def test_malformed_renewals_are_bad(style: str, path: str, value: object) -> None:
    event = invoice(api_style=style, payment_intent="pi_1")
    with pytest.raises(BadEvent):
        read_event(changed(event, path, value))


# -- ended subscriptions -----------------------------------------------------------


def test_a_deleted_subscription_has_ended() -> None:
    event = se.customer_subscription_deleted("sub_1", event_id="evt_s", created=T)
    assert read_event(event) == SubscriptionEnded(
        event_id="evt_s", mode="live", subscription="sub_1", created=T
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("data.object.object", "invoice"),
        ("data.object.id", KeyError),
        ("data.object.id", None),
        ("data.object.id", "sub 1"),
    ],
)
def test_malformed_ended_subscriptions_are_bad(path: str, value: object) -> None:
    event = se.customer_subscription_deleted("sub_1")
    with pytest.raises(BadEvent):
        read_event(changed(event, path, value))


# -- every handled type ----------------------------------------------------------

BUILDERS: dict[str, Callable[..., Event]] = {
    se.COMPLETED: lambda **kw: se.checkout_session_completed(SID, **kw),
    se.ASYNC_SUCCEEDED: lambda **kw: se.checkout_session_async_payment_succeeded(
        SID, **kw
    ),
    se.ASYNC_FAILED: lambda **kw: se.checkout_session_async_payment_failed(SID, **kw),
    se.EXPIRED: lambda **kw: se.checkout_session_expired(SID, **kw),
    "charge.refunded": lambda **kw: se.charge_refunded(payment_intent="pi_1", **kw),
    "charge.dispute.closed": lambda **kw: se.charge_dispute_closed(
        charge="ch_1", payment_intent="pi_1", **kw
    ),
    "invoice.paid": lambda **kw: se.invoice_paid(subscription="sub_1", **kw),
    "customer.subscription.deleted": se.customer_subscription_deleted,
}


def test_every_subscribed_event_is_handled_and_has_a_builder() -> None:
    assert SUBSCRIBED_EVENTS == HANDLED
    assert set(HANDLED) == set(BUILDERS) and len(HANDLED) == len(BUILDERS)
    assert set(SESSION_OUTCOMES) < set(HANDLED)


@pytest.mark.parametrize("kind", HANDLED)
def test_every_handled_type_reads_its_mode_id_and_time(kind: str) -> None:
    for livemode, mode in ((True, "live"), (False, "test")):
        event = BUILDERS[kind](livemode=livemode, created=T, event_id="evt_m")
        assert event["type"] == kind
        parsed = read_event(event)
        assert parsed is not None
        assert (parsed.mode, parsed.event_id, parsed.created) == (mode, "evt_m", T)


@pytest.mark.parametrize("kind", HANDLED)
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("id", KeyError),
        ("id", 5),
        ("created", "today"),
        ("created", None),
        ("livemode", "yes"),
        ("livemode", KeyError),
        ("data", KeyError),
        ("data", []),
        ("data.object", KeyError),
        ("data.object", "obj_1"),
    ],
)
def test_every_handled_type_refuses_a_broken_envelope(
    kind: str, path: str, value: object
) -> None:
    with pytest.raises(BadEvent):
        read_event(changed(BUILDERS[kind](), path, value))


@pytest.mark.parametrize(
    "kind",
    [
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "charge.dispute.created",
        "plan.created",
    ],
)
def test_unknown_types_are_ignored_whatever_they_carry(kind: str) -> None:
    for build in BUILDERS.values():
        assert read_event(build() | {"type": kind}) is None


@pytest.mark.parametrize("kind", sorted(set(HANDLED) - set(SESSION_OUTCOMES)))
def test_parse_event_still_reads_only_session_outcomes(kind: str) -> None:
    assert read_event(BUILDERS[kind]()) is not None
    assert parse_event(BUILDERS[kind]()) is None


def test_a_type_that_is_not_a_string_is_bad() -> None:
    with pytest.raises(BadEvent):
        read_event(se.charge_refunded(payment_intent="pi_1") | {"type": None})


def test_a_session_without_its_object_field_is_still_a_checkout_session() -> None:
    outcome = parse_event(broken("data.object.object", KeyError))
    assert outcome is not None and outcome.status == "paid"


def test_a_free_order_is_a_conversion_without_revenue() -> None:
    outcome = parse_event(session_event("cs_live_1", amount_total=0))
    assert outcome is not None
    assert (outcome.status, outcome.amount_total) == ("paid", 0)


def test_a_pending_payment_keeps_its_amount_for_later() -> None:
    event = session_event("cs_live_1", payment_status="unpaid", currency="EUR")
    outcome = parse_event(event)
    assert outcome is not None
    assert (outcome.status, outcome.amount_total, outcome.currency) == (
        "pending",
        4000,
        "eur",
    )


def test_a_pending_payment_may_come_without_an_amount() -> None:
    event = session_event(
        "cs_live_1", payment_status="unpaid", amount_total=None, currency=None
    )
    outcome = parse_event(event)
    assert outcome is not None
    assert (outcome.status, outcome.amount_total, outcome.currency) == (
        "pending",
        0,
        "",
    )


def test_an_outcome_carries_the_events_facts() -> None:
    event = session_event(
        "cs_live_9", created=1_772_364_600, event_id="evt_9", payment_link="plink_9"
    )
    assert parse_event(event) == Outcome(
        event_id="evt_9",
        session_id="cs_live_9",
        mode="live",
        status="paid",
        amount_total=4000,
        currency="usd",
        payment_link="plink_9",
        client_reference_id="",
        created=1_772_364_600,
    )


def test_a_long_client_reference_is_cut_to_200() -> None:
    outcome = parse_event(session_event("cs_live_1", client_reference_id="r" * 300))
    assert outcome is not None and outcome.client_reference_id == "r" * 200


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "the body is not JSON"),
        ("[1, 2]", "the body is not a JSON object"),
        ("null", "the body is not a JSON object"),
    ],
)
def test_why_a_signed_body_is_refused(body: str, why: str) -> None:
    _, header = signed(body)
    with pytest.raises(BadEvent) as refused:
        verify(body, header)
    assert str(refused.value) == why


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no Stripe-Signature header"),
        ("", "no Stripe-Signature header"),
        ("t=1,v1=00", "no signature matches, or the timestamp is over 300 s old"),
    ],
)
def test_why_a_signature_is_refused(header: str | None, why: str) -> None:
    with pytest.raises(BadSignature) as refused:
        verify("{}", header)
    assert str(refused.value) == why


@pytest.mark.parametrize(
    ("created", "ok"),
    [(0, True), (32_503_679_999, True), (32_503_680_000, False), (-1, False)],
)
def test_an_events_time_must_be_one_a_calendar_holds(created: int, ok: bool) -> None:
    event = session(created=created)
    if ok:
        assert read_event(event) is not None
    else:
        with pytest.raises(BadEvent, match=r"^created is not a time Stripe"):
            read_event(event)
