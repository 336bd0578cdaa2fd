"""SPEC §5 on the real engine: any arrival order, any duplicates, same result."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing.capture import landing_entry
from landing.events import ASYNC_FAILED, ASYNC_SUCCEEDED, COMPLETED, Outcome
from landing.reporting import rows
from landing.store import Client, Store, connect
from landing.utm import Landing

from conftest import flush_store

# Each test runs on a single node and on a Redis Cluster (conftest).
STORE_KINDS = ("node", "cluster")

DAY0 = 1_767_225_600  # 2026-01-01T00:00:00Z
FLOWS = {
    # A real session's events, in the order Stripe emits them.
    "paid": [(COMPLETED, "paid")],
    "async_ok": [(COMPLETED, "unpaid"), (ASYNC_SUCCEEDED, "paid")],
    "async_fail": [(COMPLETED, "unpaid"), (ASYNC_FAILED, "unpaid")],
    "pending": [(COMPLETED, "unpaid")],
    "browsing": [],
    # Both outcomes for one session: a late failure never undoes a payment.
    "paid_late_fail": [(COMPLETED, "paid"), (ASYNC_FAILED, "unpaid")],
}
STATUS = {
    "paid": "paid",
    "async_ok": "paid",
    "async_fail": "failed",
    "pending": "pending",
    "paid_late_fail": "paid",
}
# The event that makes each flow's final status: it counts on that event's day.
FINAL_STEP = {
    "paid": 0,
    "async_ok": 1,
    "async_fail": 1,
    "pending": 0,
    "paid_late_fail": 0,
}


@dataclass(frozen=True)
class Session:
    sid: str
    flow: str
    landed: bool
    campaign: str | None
    source: str | None
    amount: int
    currency: str
    day: int  # days after DAY0 the session's first event happens


def day_name(offset: int) -> str:
    return datetime.fromtimestamp(DAY0 + offset * 86400, UTC).date().isoformat()


def landing_of(s: Session) -> dict[str, Any]:
    ts = DAY0 + s.day * 86400 + 60
    return landing_entry(
        Landing(session_id=s.sid, campaign=s.campaign, source=s.source),
        timestamp=ts,
        day=day_name(s.day),
        secret="k",
        address="198.51.100.1",
        agent="test",
        url=s.sid,
    )


def outcomes_of(s: Session) -> list[tuple[Outcome, date]]:
    out = []
    for i, (kind, payment_status) in enumerate(FLOWS[s.flow]):
        status = {
            COMPLETED: "paid" if payment_status == "paid" else "pending",
            ASYNC_SUCCEEDED: "paid",
            ASYNC_FAILED: "failed",
        }[kind]
        offset = s.day + i  # an async outcome comes a day later
        outcome = Outcome(
            event_id=f"evt_{s.sid}_{i}",
            session_id=s.sid,
            mode="live",
            status=status,
            amount_total=s.amount,
            currency=s.currency,
            payment_link="plink_a",
            client_reference_id="",
            created=DAY0 + offset * 86400 + 120,
        )
        out.append((outcome, date.fromisoformat(day_name(offset))))
    return out


sessions = st.lists(
    st.builds(
        Session,
        sid=st.just(""),
        flow=st.sampled_from(sorted(FLOWS)),
        landed=st.booleans(),
        campaign=st.sampled_from([None, "spring", "autumn"]),
        source=st.sampled_from([None, "newsletter", "ads"]),
        amount=st.integers(0, 100_000),
        currency=st.sampled_from(["usd", "eur", "jpy"]),
        day=st.integers(0, 3),
    ),
    min_size=1,
    max_size=8,
).map(
    lambda ss: [
        Session(**{**s.__dict__, "sid": f"cs_live_{i}x"}) for i, s in enumerate(ss)
    ]
)


@dataclass(frozen=True)
class Delivery:
    kind: str  # "landing" or "event"
    session: int
    step: int


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[Session], list[Delivery]]:
    """Sessions, and every landing and event delivered 1-3 times, any order."""
    ss = draw(sessions)
    deliveries: list[Delivery] = []
    for i, s in enumerate(ss):
        items = [Delivery("event", i, n) for n in range(len(FLOWS[s.flow]))]
        if s.landed:
            items.append(Delivery("landing", i, 0))
        for item in items:
            deliveries += [item] * draw(st.integers(1, 3))
    order = draw(st.permutations(deliveries))
    return ss, late_failures_last(ss, order)


def late_failures_last(ss: list[Session], order: list[Delivery]) -> list[Delivery]:
    """A late failure is late: it comes after its session's payment."""
    out: list[Delivery] = []
    held: dict[int, list[Delivery]] = defaultdict(list)
    paid: set[int] = set()
    for d in order:
        late = ss[d.session].flow == "paid_late_fail" and d.kind == "event"
        if late and d.step == 1 and d.session not in paid:
            held[d.session].append(d)
            continue
        out.append(d)
        if late and d.step == 0 and d.session not in paid:
            paid.add(d.session)
            out += held.pop(d.session, [])
    return out


def expected(ss: list[Session]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "landings": 0,
            "conversions": 0,
            "pending": 0,
            "failed": 0,
            "revenue": Counter(),
        }
    )
    for s in ss:
        campaign = (s.campaign or "(none)") if s.landed else "(unattributed)"
        if s.landed:
            out[campaign]["landings"] += 1
        status = STATUS.get(s.flow)
        if status == "paid":
            out[campaign]["conversions"] += 1
            if s.amount:
                out[campaign]["revenue"][s.currency] += s.amount
        elif status == "pending":
            out[campaign]["pending"] += 1
        elif status == "failed":
            out[campaign]["failed"] += 1
    quiet = {"abandoned": 0, "renewals": 0, "refunds": 0}
    return {
        name: {
            **c,
            **quiet,
            "revenue": (revenue := dict(sorted(c["revenue"].items()))),
            "refunded": {},
            "net_revenue": revenue,
        }
        for name, c in out.items()
        if c["landings"] or c["conversions"] or c["pending"] or c["failed"]
    }


def deliver(store: Store, ss: list[Session], order: list[Delivery]) -> None:
    for d in order:
        s = ss[d.session]
        if d.kind == "landing":
            assert store.record_landings([landing_of(s)], rate_limit=0) in (
                ["counted"],
                ["duplicate"],
            )
        else:
            outcome, day = outcomes_of(s)[d.step]
            store.record_outcome(outcome, day)


@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario())
def test_any_order_and_duplicates_give_the_same_scoreboard(
    engine: tuple[Store, Client], case: tuple[list[Session], list[Delivery]]
) -> None:
    store, raw = engine
    flush_store(raw)
    ss, order = case
    deliver(store, ss, order)

    board = {name: {**c.as_json()} for name, c in rows(store.scoreboard("live", None))}
    assert board == expected(ss)

    # Invariants: totals equal distinct sessions, each in exactly one campaign.
    paid = [s for s in ss if STATUS.get(s.flow) == "paid"]
    assert sum(c["conversions"] for c in board.values()) == len(paid)
    revenue: Counter[str] = Counter()
    for s in paid:
        revenue[s.currency] += s.amount
    for currency, amount in revenue.items():
        assert sum(c["revenue"].get(currency, 0) for c in board.values()) == amount
    for s in ss:
        record = store.session("live", s.sid)
        if s.landed:
            assert record["campaign"] == (s.campaign or "(none)")
        if s.flow != "browsing":
            assert record["status"] == STATUS[s.flow]

    # Days: an outcome counts on the day it became final, in every order.
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for s in ss:
        status = STATUS.get(s.flow)
        if status:
            final_day = s.day + FINAL_STEP[s.flow]
            by_day[day_name(final_day)][status] += 1
    for offset in range(5):
        day = date.fromisoformat(day_name(offset))
        day_rows = dict(rows(store.scoreboard("live", [day])))
        got = Counter(
            {
                "paid": sum(c.conversions for c in day_rows.values()),
                "pending": sum(c.pending for c in day_rows.values()),
                "failed": sum(c.failed for c in day_rows.values()),
            }
        )
        assert +got == +by_day[day.isoformat()], day


def test_a_landing_after_its_payment_moves_everything_on_the_payments_day(
    engine: tuple[Store, Client],
) -> None:
    store, _ = engine
    s = Session("cs_live_move", "paid", True, "spring", "ads", 2500, "eur", 0)
    outcome, day = outcomes_of(s)[0]
    assert store.record_outcome(outcome, day) == "counted"
    assert dict(rows(store.scoreboard("live", None)))["(unattributed)"].conversions == 1

    later = Session(**{**s.__dict__, "day": 2})  # the customer lands two days later
    assert store.record_landings([landing_of(later)], rate_limit=0) == ["counted"]
    board = dict(rows(store.scoreboard("live", None)))
    assert "(unattributed)" not in board
    assert board["spring"].conversions == 1 and board["spring"].revenue == {"eur": 2500}
    # The conversion stays on the payment's day; the landing on its own day.
    day0 = dict(rows(store.scoreboard("live", [day])))
    assert day0["spring"].conversions == 1 and day0["spring"].landings == 0
    day2 = dict(rows(store.scoreboard("live", [date.fromisoformat(day_name(2))])))
    assert day2["spring"].landings == 1 and day2["spring"].conversions == 0
    # And the breakdowns moved with it.
    detail = store.campaign("live", "spring", None)
    assert detail.breakdown["source"]["ads"]["conversions"] == 1
    assert detail.breakdown["payment_link"]["plink_a"]["revenue:eur"] == 2500


def test_paid_is_final(engine: tuple[Store, Client]) -> None:
    store, _ = engine
    s = Session("cs_live_final", "async_ok", False, None, None, 900, "usd", 0)
    (pending, day0), (succeeded, day1) = outcomes_of(s)
    assert store.record_outcome(succeeded, day1) == "counted"
    assert store.record_outcome(pending, day0) == "unchanged"
    assert store.record_outcome(succeeded, day1) == "unchanged"
    board = dict(rows(store.scoreboard("live", None)))
    assert board["(unattributed)"].conversions == 1
    assert board["(unattributed)"].pending == 0


def test_test_mode_never_touches_live_numbers(
    engine: tuple[Store, Client],
) -> None:
    store, _ = engine
    qa = Session("cs_test_qa", "paid", True, "spring", None, 100, "usd", 0)
    assert store.record_landings([landing_of(qa)], rate_limit=0) == ["counted"]
    outcome, day = outcomes_of(qa)[0]
    store.record_outcome(Outcome(**{**outcome.__dict__, "mode": "test"}), day)
    assert store.scoreboard("live", None) == {}
    assert dict(rows(store.scoreboard("test", None)))["spring"].conversions == 1


def test_range_sums_follow_a_change_on_any_day_of_the_range(
    engine: tuple[Store, Client], redis_url: str
) -> None:
    store, _ = engine
    days = [date.fromisoformat(day_name(n)) for n in range(3)]
    paid = Session("cs_live_range", "paid", True, "spring", None, 700, "usd", 0)
    outcome, day = outcomes_of(paid)[0]
    store.record_outcome(outcome, day)
    before = dict(rows(store.scoreboard("live", days)))  # day 0 is now summed
    assert before["(unattributed)"].conversions == 1
    # The landing comes on day 2 and moves day 0's conversion: the kept sum of
    # days 0-1 must not hide it, in this process or another one.
    late = Session(**{**paid.__dict__, "day": 2})
    store.record_landings([landing_of(late)], rate_limit=0)
    for reader in (store, Store(connect(redis_url))):
        after = dict(rows(reader.scoreboard("live", days)))
        assert "(unattributed)" not in after
        assert (after["spring"].conversions, after["spring"].landings) == (1, 1)
        assert after["spring"].revenue == {"usd": 700}


def test_a_late_failure_never_undoes_a_payment(
    engine: tuple[Store, Client],
) -> None:
    store, _ = engine
    s = Session("cs_live_late", "paid_late_fail", True, "spring", None, 900, "usd", 0)
    assert store.record_landings([landing_of(s)], rate_limit=0) == ["counted"]
    (paid, day0), (failed, day1) = outcomes_of(s)
    assert store.record_outcome(paid, day0) == "counted"
    before = store.scoreboard("live", None)
    assert store.record_outcome(failed, day1) == "unchanged"
    assert store.scoreboard("live", None) == before
    board = dict(rows(before))
    assert (board["spring"].conversions, board["spring"].failed) == (1, 0)
    assert board["spring"].revenue == {"usd": 900}
    assert store.session("live", s.sid)["status"] == "paid"


def test_landed_on_day_0_settled_on_day_1_counts_on_day_1(
    engine: tuple[Store, Client],
) -> None:
    store, _ = engine
    s = Session("cs_live_settle", "async_ok", True, "spring", "ads", 700, "eur", 0)
    (pending, day0), (succeeded, day1) = outcomes_of(s)
    assert store.record_landings([landing_of(s)], rate_limit=0) == ["counted"]
    assert store.record_outcome(pending, day0) == "counted"
    assert store.record_outcome(succeeded, day1) == "changed"
    on_day0 = dict(rows(store.scoreboard("live", [day0])))["spring"]
    on_day1 = dict(rows(store.scoreboard("live", [day1])))["spring"]
    assert (on_day0.landings, on_day0.pending, on_day0.conversions) == (1, 0, 0)
    assert (on_day1.landings, on_day1.pending, on_day1.conversions) == (0, 0, 1)
    assert on_day1.revenue == {"eur": 700} and on_day0.revenue == {}
    detail = store.campaign("live", "spring", [day1])
    assert detail.breakdown["source"]["ads"]["conversions"] == 1


def visit(timestamp: float) -> dict[str, Any]:
    """One visitor's landing without a session id, at a given moment."""
    return landing_entry(
        Landing(campaign="reload"),
        timestamp=timestamp,
        day=day_name(0),
        secret="k",
        address="198.51.100.7",
        agent="browser",
        url="utm_campaign=reload",
    )


def test_a_visitors_reloads_count_once_for_30_minutes(
    engine: tuple[Store, Client],
) -> None:

    store, _ = engine
    first = DAY0 + 3600  # 01:00 UTC: all three on one day
    answers = [
        store.record_landings([visit(first + minutes * 60)], rate_limit=0)
        for minutes in (0, 29, 31)
    ]
    assert answers == [["counted"], ["duplicate"], ["counted"]]
    assert dict(rows(store.scoreboard("live", None)))["reload"].landings == 2
