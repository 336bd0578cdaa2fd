"""Reading Stripe's events: signatures and shapes (pure functions)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from landing.events import (
    BadEvent,
    BadSignature,
    Outcome,
    parse_event,
    verify_event,
)

from conftest import WEBHOOK_SECRET, session_event, signed


def verify(body: str | bytes, header: str | None, *secrets: str) -> dict[str, Any]:
    payload = body.encode() if isinstance(body, str) else body
    return verify_event(payload, header, secrets or (WEBHOOK_SECRET,))


def test_a_signed_event_verifies_and_parses() -> None:
    body, headers = signed(session_event("cs_live_1"))
    event = verify(body, headers["Stripe-Signature"])
    assert parse_event(event) == Outcome(
        event_id=event["id"],
        session_id="cs_live_1",
        mode="live",
        status="paid",
        amount_total=4000,
        currency="usd",
        payment_link="plink_1",
        client_reference_id="",
        created=event["created"],
    )


def test_any_of_several_secrets_verifies() -> None:
    body, headers = signed(session_event("cs_live_1"), secret="whsec_second")
    assert verify(body, headers["Stripe-Signature"], "whsec_first", "whsec_second")
    with pytest.raises(BadSignature):
        verify(body, headers["Stripe-Signature"], "whsec_first")


def test_a_header_with_several_v1_signatures_passes_when_one_matches() -> None:
    body = json.dumps(session_event("cs_live_1"))
    good = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    timestamp, signature = good.split(",")
    header = f"{timestamp},v1={'0' * 64},{signature}"
    assert verify(body, header)["type"] == "checkout.session.completed"


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=abc,v1=00", "t=1,v0=00"],
)
def test_missing_or_malformed_signature_is_refused(header: str | None) -> None:
    with pytest.raises(BadSignature):
        verify(json.dumps(session_event("cs_live_1")), header)


def test_a_tampered_body_is_refused() -> None:
    body, headers = signed(session_event("cs_live_1", amount_total=100))
    with pytest.raises(BadSignature):
        verify(body.replace("100", "999999"), headers["Stripe-Signature"])


def test_a_stale_timestamp_is_refused_and_a_fresh_one_accepted() -> None:
    event = session_event("cs_live_1")
    body, headers = signed(event, timestamp=int(time.time()) - 301)
    with pytest.raises(BadSignature):
        verify(body, headers["Stripe-Signature"])
    body, headers = signed(event, timestamp=int(time.time()) - 250)
    assert verify(body, headers["Stripe-Signature"])


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', "null"])
def test_signed_bodies_that_are_not_objects_are_bad_events(body: str) -> None:
    _, headers = signed(body)
    with pytest.raises(BadEvent):
        verify(body, headers["Stripe-Signature"])


def test_a_non_utf8_body_is_refused() -> None:
    with pytest.raises((BadSignature, BadEvent)):
        verify(b"\xff\xfe{}", "t=1,v1=00")


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
    event = session_event("cs_live_1", type=kind, payment_status=payment_status)
    outcome = parse_event(event)
    assert outcome is not None and outcome.status == status


def test_ignored_events() -> None:
    assert parse_event(session_event("cs_live_1", payment_link=None)) is None
    other = session_event("cs_live_1") | {"type": "charge.succeeded"}
    assert parse_event(other) is None
    assert parse_event(session_event("cs_live_1", livemode=False)).mode == "test"  # type: ignore[union-attr]


def broken(path: str, value: object) -> dict[str, Any]:
    event = session_event("cs_live_1")
    target = event
    *parents, last = path.split(".")
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return event


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


def test_currency_is_lowercased_and_client_reference_kept() -> None:
    outcome = parse_event(
        session_event("cs_live_1", currency="EUR", client_reference_id="order-42")
    )
    assert outcome is not None
    assert (outcome.currency, outcome.client_reference_id) == ("eur", "order-42")


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
    _, headers = signed(body)
    with pytest.raises(BadEvent) as refused:
        verify(body, headers["Stripe-Signature"])
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
