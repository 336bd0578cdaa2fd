"""SPEC §5 money on the real engine: refunds, disputes, renewals, any order."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing import stripe_events as se
from landing.capture import landing_entry
from landing.events import read_event
from landing.reporting import rows
from landing.store import Client, Store
from landing.utm import Landing

from conftest import (
    AUTH,
    campaign_row,
    flush,
    flush_store,
    post_event,
    scoreboard,
)

# Each test runs on a single node and on a Redis Cluster (conftest).
STORE_KINDS = ("node", "cluster")

DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


# -- through the webhook, as Stripe sends them ------------------------------------


def paid_session(
    client: FlaskClient, app: Flask, sid: str, campaign: str, **fields: Any
) -> None:
    client.get(f"/thanks?session_id={sid}&utm_campaign={campaign}")
    flush(app)
    event = se.checkout_session_completed(sid, **fields)
    assert post_event(client, event).get_json()["result"] == "counted"


def row(client: FlaskClient, campaign: str, query: str = "") -> dict[str, Any]:
    found = campaign_row(scoreboard(client, query), campaign)
    assert found is not None, campaign
    return found


def test_refunds_add_up_to_the_largest_running_total_never_twice(
    app: Flask, client: FlaskClient
) -> None:
    paid_session(client, app, "cs_live_r1", "spring", payment_intent="pi_r1")
    partial = se.charge_refunded("ch_r1", payment_intent="pi_r1", amount_refunded=1000)
    full = se.charge_refunded("ch_r1", payment_intent="pi_r1", amount_refunded=4000)
    assert post_event(client, partial).get_json()["result"] == "counted"
    spring = row(client, "spring")
    assert spring["refunded"] == {"usd": 1000}
    assert spring["net_revenue"] == {"usd": 3000}
    assert spring["refunds"] == 1
    assert post_event(client, full).get_json()["result"] == "counted"
    # Overtaken and repeated: the partial refund again, the full one again.
    assert post_event(client, partial).get_json()["result"] == "unchanged"
    assert post_event(client, full).get_json()["result"] == "unchanged"
    spring = row(client, "spring")
    assert (spring["revenue"], spring["refunded"]) == ({"usd": 4000}, {"usd": 4000})
    assert spring["net_revenue"] == {"usd": 0}
    assert spring["refunds"] == 1  # sessions with any refund, not refund events
    assert scoreboard(client)["totals"]["refunded"] == {"usd": 4000}


def test_a_stale_running_total_never_lowers_what_later_money_back_adds_to(
    app: Flask, client: FlaskClient
) -> None:
    paid_session(
        client, app, "cs_live_r9", "spring", payment_intent="pi_r9", amount_total=5000
    )
    for total in (1000, 4000, 1000):  # the first event arrives again, late
        refund = se.charge_refunded(
            "ch_r9", payment_intent="pi_r9", amount=5000, amount_refunded=total
        )
        post_event(client, refund)
    lost = se.charge_dispute_closed(
        "dp_r9", charge="ch_r9", payment_intent="pi_r9", amount=500
    )
    assert post_event(client, lost).get_json()["result"] == "counted"
    # 4000 refunded so far (the largest running total), then 500 disputed.
    assert row(client, "spring")["refunded"] == {"usd": 4500}


def test_a_lost_dispute_is_money_back_capped_with_refunds_and_a_won_one_is_not(
    app: Flask, client: FlaskClient
) -> None:
    paid_session(client, app, "cs_live_d1", "fall", payment_intent="pi_d1")
    refund = se.charge_refunded("ch_d1", payment_intent="pi_d1", amount_refunded=3000)
    won = se.charge_dispute_closed(
        "dp_won", charge="ch_d1", payment_intent="pi_d1", status="won"
    )
    lost = se.charge_dispute_closed(
        "dp_lost", charge="ch_d1", payment_intent="pi_d1", amount=2500
    )
    post_event(client, refund)
    assert post_event(client, won).get_json()["result"] == "unchanged"
    assert row(client, "fall")["refunded"] == {"usd": 3000}
    assert post_event(client, lost).get_json()["result"] == "counted"
    post_event(client, lost)
    fall = row(client, "fall")
    # 3000 refunded + 2500 lost is more than the 4000 paid: capped.
    assert (fall["refunded"], fall["net_revenue"]) == ({"usd": 4000}, {"usd": 0})


def test_a_refund_before_its_payment_is_kept_and_applied_when_it_arrives(
    app: Flask, client: FlaskClient
) -> None:
    early = se.charge_refunded("ch_e1", payment_intent="pi_e1", amount_refunded=500)
    assert post_event(client, early).get_json()["result"] == "pending"
    assert scoreboard(client)["totals"]["refunded"] == {}
    paid_session(client, app, "cs_live_e1", "early", payment_intent="pi_e1")
    early_row = row(client, "early")
    assert early_row["refunded"] == {"usd": 500}
    assert early_row["refunds"] == 1


def test_refunds_of_payments_never_counted_change_nothing(
    client: FlaskClient,
) -> None:
    stranger = se.charge_refunded("ch_x", payment_intent="pi_x", amount_refunded=900)
    response = post_event(client, stranger)
    assert response.status_code == 200
    dispute = se.charge_dispute_closed("dp_x", charge="ch_x", payment_intent="pi_x")
    assert post_event(client, dispute).status_code == 200
    totals = scoreboard(client)["totals"]
    assert (totals["refunded"], totals["refunds"]) == ({}, 0)


def test_a_test_mode_refund_never_touches_live_numbers(
    app: Flask, client: FlaskClient
) -> None:
    paid_session(client, app, "cs_live_t1", "live_one", payment_intent="pi_t1")
    qa = se.charge_refunded(
        "ch_t1", payment_intent="pi_t1", amount_refunded=4000, livemode=False
    )
    assert post_event(client, qa).get_json()["result"] == "pending"
    assert row(client, "live_one")["refunded"] == {}


def test_a_refund_moves_with_its_session_when_the_landing_comes_late(
    app: Flask, client: FlaskClient
) -> None:
    post_event(
        client, se.checkout_session_completed("cs_live_m1", payment_intent="pi_m1")
    )
    refund = se.charge_refunded("ch_m1", payment_intent="pi_m1", amount_refunded=700)
    post_event(client, refund)
    assert row(client, "(unattributed)")["refunded"] == {"usd": 700}
    client.get("/thanks?session_id=cs_live_m1&utm_campaign=late")
    flush(app)
    board = scoreboard(client)
    assert campaign_row(board, "(unattributed)") is None
    late = row(client, "late")
    assert (late["conversions"], late["refunded"], late["refunds"]) == (
        1,
        {"usd": 700},
        1,
    )


@pytest.mark.parametrize("api_style", ["parent", "legacy"])
def test_renewals_count_in_the_sessions_campaign_and_the_first_invoice_does_not(
    app: Flask, client: FlaskClient, api_style: Literal["parent", "legacy"]
) -> None:
    paid_session(
        client,
        app,
        "cs_live_s1",
        "monthly",
        mode="subscription",
        subscription="sub_s1",
        amount_total=1500,
    )
    first = se.invoice_paid(
        "in_first",
        subscription="sub_s1",
        billing_reason="subscription_create",
        amount_paid=1500,
        payment_intent="pi_first",
        api_style=api_style,
    )
    assert post_event(client, first).status_code == 200
    cycle = se.invoice_paid(
        "in_2", subscription="sub_s1", amount_paid=1500, api_style=api_style
    )
    assert post_event(client, cycle).get_json()["result"] == "counted"
    assert post_event(client, cycle).get_json()["result"] == "unchanged"
    monthly = row(client, "monthly")
    assert (monthly["conversions"], monthly["renewals"]) == (1, 1)
    assert monthly["revenue"] == {"usd": 3000}
    # The first payment's refund finds the session through its invoice.
    refund = se.charge_refunded(
        "ch_first", payment_intent="pi_first", amount=1500, amount_refunded=1500
    )
    assert post_event(client, refund).get_json()["result"] == "counted"
    assert row(client, "monthly")["net_revenue"] == {"usd": 1500}


def test_a_renewal_refund_and_the_end_of_a_subscription(
    app: Flask, client: FlaskClient
) -> None:
    paid_session(
        client, app, "cs_live_s2", "yearly", mode="subscription", subscription="sub_s2"
    )
    cycle = se.invoice_paid(
        "in_s2", subscription="sub_s2", payment_intent="pi_in_s2", api_style="legacy"
    )
    post_event(client, cycle)
    refund = se.charge_refunded(
        "ch_in_s2", payment_intent="pi_in_s2", amount_refunded=1000
    )
    assert post_event(client, refund).get_json()["result"] == "counted"
    yearly = row(client, "yearly")
    assert (yearly["revenue"], yearly["refunded"]) == ({"usd": 8000}, {"usd": 1000})
    ended = se.customer_subscription_deleted("sub_s2")
    assert post_event(client, ended).status_code == 200
    export = client.get("/api/sessions.csv", headers=AUTH).get_data(as_text=True)
    sessions = {r["session_id"]: r for r in csv.DictReader(export.splitlines())}
    exported = sessions["cs_live_s2"]
    assert (exported["amount_refunded"], exported["subscription"]) == (
        "1000",
        "sub_s2",
    )


def test_currencies_rank_by_conversions_never_by_amounts(
    app: Flask, client: FlaskClient
) -> None:
    sales = [("usd", 100000)] * 3 + [("jpy", 120000), ("krw", 150000)]
    sales += [("vnd", 2000000)] * 2
    for i, (currency, amount) in enumerate(sales):
        paid_session(
            client,
            app,
            f"cs_live_c{i}",
            "world",
            currency=currency,
            amount_total=amount,
        )
    page = client.get("/dashboard", headers=AUTH)
    html = page.get_data(as_text=True)
    assert html.index("Revenue per day, USD") < html.index("Revenue per day, VND")
    assert "Revenue per day, KRW" not in html  # only the first three currencies


# -- any order, any repetition, against a plain model ------------------------------


@dataclass(frozen=True)
class Sale:
    sid: str
    status: str  # paid, pending, failed
    landed: bool
    campaign: str
    amount: int
    currency: str
    refunds: tuple[int, ...]  # running totals of amount_refunded, one charge
    disputes: tuple[tuple[int, bool], ...]  # (amount, lost)
    renewals: tuple[int, ...]  # amounts of subscription_cycle invoices
    pi: str = field(default="")


CAMPAIGNS = ["spring", "fall", "(none)"]


@st.composite
def sales(draw: st.DrawFn) -> list[Sale]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        amount = draw(st.integers(1, 5000))
        totals = sorted(draw(st.lists(st.integers(1, amount), max_size=3)))
        out.append(
            Sale(
                sid=f"cs_live_p{i}",
                status=draw(st.sampled_from(["paid", "paid", "pending", "failed"])),
                landed=draw(st.booleans()),
                campaign=draw(st.sampled_from(CAMPAIGNS)),
                amount=amount,
                currency=draw(st.sampled_from(["usd", "jpy"])),
                refunds=tuple(totals),
                disputes=tuple(
                    draw(
                        st.lists(
                            st.tuples(st.integers(1, amount), st.booleans()),
                            max_size=2,
                        )
                    )
                ),
                renewals=tuple(draw(st.lists(st.integers(1, 3000), max_size=2))),
                pi=f"pi_p{i}",
            )
        )
    return out


def events_of(s: Sale) -> list[dict[str, Any]]:
    """Every event Stripe would send about the sale, each created on DAY0."""
    created = DAY0 + 3600
    mode = "subscription" if s.renewals else "payment"
    sub = f"sub_{s.sid}" if s.renewals else None
    common = {
        "amount_total": s.amount,
        "currency": s.currency,
        "payment_intent": s.pi,
        "mode": mode,
        "subscription": sub,
        "created": created,
    }
    out = []
    if s.status == "paid":
        out.append(se.checkout_session_completed(s.sid, **common))
    else:
        out.append(
            se.checkout_session_completed(s.sid, payment_status="unpaid", **common)
        )
        if s.status == "failed":
            out.append(se.checkout_session_async_payment_failed(s.sid, **common))
    charge = f"ch_{s.sid}"
    for total in s.refunds:
        out.append(
            se.charge_refunded(
                charge,
                payment_intent=s.pi,
                amount=s.amount,
                amount_refunded=total,
                currency=s.currency,
                created=created,
            )
        )
    for n, (amount, lost) in enumerate(s.disputes):
        out.append(
            se.charge_dispute_closed(
                f"dp_{s.sid}_{n}",
                charge=charge,
                payment_intent=s.pi,
                amount=amount,
                currency=s.currency,
                status="lost" if lost else "won",
                created=created,
            )
        )
    for n, amount in enumerate(s.renewals):
        out.append(
            se.invoice_paid(
                f"in_{s.sid}_{n}",
                subscription=sub,
                amount_paid=amount,
                currency=s.currency,
                created=created,
            )
        )
    return out


def model(ss: list[Sale]) -> dict[str, dict[str, Any]]:
    """What SPEC §5 says the scoreboard holds, computed plainly."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "landings": 0,
            "conversions": 0,
            "pending": 0,
            "failed": 0,
            "abandoned": 0,
            "renewals": 0,
            "refunds": 0,
            "revenue": Counter(),
            "refunded": Counter(),
        }
    )
    for s in ss:
        c = out[s.campaign if s.landed else "(unattributed)"]
        c["landings"] += s.landed
        c[{"paid": "conversions"}.get(s.status, s.status)] += 1
        if s.status != "paid":
            continue
        c["revenue"][s.currency] += s.amount + sum(s.renewals)
        c["renewals"] += len(s.renewals)
        back = max(s.refunds, default=0) + sum(a for a, lost in s.disputes if lost)
        if back:
            c["refunds"] += 1
            c["refunded"][s.currency] += min(back, s.amount)
    result = {}
    for name, c in out.items():
        revenue, refunded = dict(c["revenue"]), dict(c["refunded"])
        net = {
            cur: revenue.get(cur, 0) - refunded.get(cur, 0)
            for cur in sorted({*revenue, *refunded})
        }
        result[name] = {
            **c,
            "revenue": {k: v for k, v in sorted(revenue.items()) if v},
            "refunded": {k: v for k, v in sorted(refunded.items()) if v},
            "net_revenue": net,
        }
    return result


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Sale], list[tuple[str, Any]]]:
    ss = draw(sales())
    items: list[tuple[str, Any]] = []
    for s in ss:
        parts: list[tuple[str, Any]] = [("event", e) for e in events_of(s)]
        if s.landed:
            parts.append(("landing", s))
        for part in parts:
            items += [part] * draw(st.integers(1, 2))
    return ss, draw(st.permutations(items))


def landing_of(s: Sale) -> dict[str, Any]:
    campaign = None if s.campaign == "(none)" else s.campaign
    return landing_entry(
        Landing(session_id=s.sid, campaign=campaign),
        timestamp=DAY0 + 60,
        day=day_of(DAY0).isoformat(),
        secret="k",
        address="198.51.100.1",
        agent="test",
        url=s.sid,
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario())
def test_money_in_any_order_equals_the_model(
    engine: tuple[Store, Client],
    case: tuple[list[Sale], list[tuple[str, Any]]],
) -> None:

    store, raw = engine
    flush_store(raw)
    ss, order = case
    for kind, item in order:
        if kind == "landing":
            store.record_landings([landing_of(item)], rate_limit=0)
        else:
            parsed = read_event(item)
            assert parsed is not None
            store.record(parsed, day_of(parsed.created))
    board = {name: c.as_json() for name, c in rows(store.scoreboard("live", None))}
    want = model(ss)
    assert board == {
        k: v
        for k, v in want.items()
        if any(v[n] for n in ("landings", "conversions", "pending", "failed"))
    }
    # Invariants: each currency's totals are the sums over the campaigns.
    totals = store.scoreboard("live", [day_of(DAY0)])
    for metric in ("revenue", "refunded"):
        summed: Counter[str] = Counter()
        for c in want.values():
            summed.update(c[metric])
        got: Counter[str] = Counter()
        for m in totals.values():
            for name, value in m.items():
                if name.startswith(metric + ":"):
                    got[name.split(":", 1)[1]] += value
        assert +got == +summed
