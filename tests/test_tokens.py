"""SPEC §9 on the real engine: a tagged link's token attributes a payment
whose customer never comes back, and the redirect wins when it does."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from landing import keys
from landing import stripe_events as se
from landing.capture import landing_entry
from landing.events import read_event
from landing.period import day_of
from landing.store import Store, connect
from landing.utm import Landing

# Each test runs on a single node and on a Redis Cluster (conftest).
STORE_KINDS = ("node", "cluster")

UTC = ZoneInfo("UTC")
TOKEN = "lk_Spring01abc"  # a token's shape: lk_ and 11 characters


@pytest.fixture
def store(redis_url: str) -> Store:
    raw = connect(redis_url)  # the fixture emptied it
    # What the link builder registers for a tagged link (landing/links.py).
    raw.hset(
        keys.token(TOKEN),
        mapping={
            "campaign": "spring",
            "source": "poster",
            "medium": "print",
            "content": "(none)",
            "term": "(none)",
        },
    )
    return Store(connect(redis_url))


def send(store: Store, event: dict[str, object]) -> str:
    parsed = read_event(event)
    assert parsed is not None
    return store.record(parsed, day_of(parsed.created, UTC))


def test_a_token_attributes_a_payment_without_a_landing(store: Store) -> None:
    event = se.checkout_session_completed("cs_live_t1", client_reference_id=TOKEN)
    assert send(store, event) == "counted"
    board = store.scoreboard("live", None)
    assert set(board) == {"spring"}
    assert board["spring"]["conversions"] == 1
    source = store.campaign("live", "spring", None).breakdown["source"]
    assert source["poster"]["conversions"] == 1


def test_the_redirect_wins_and_the_session_counts_once(store: Store) -> None:
    send(store, se.checkout_session_completed("cs_live_t2", client_reference_id=TOKEN))
    entry = landing_entry(
        Landing(session_id="cs_live_t2", campaign="summer", source="mail"),
        timestamp=time.time(),
        day=day_of(time.time(), UTC).isoformat(),
        secret="k",
        address="198.51.100.9",
        agent="t",
        url="u",
    )
    assert store.record_landings([entry], rate_limit=0) == ["counted"]
    board = store.scoreboard("live", None)
    assert set(board) == {"summer"}
    assert (board["summer"]["landings"], board["summer"]["conversions"]) == (1, 1)


def test_a_forged_or_foreign_reference_is_never_interpreted(store: Store) -> None:
    event = se.checkout_session_completed(
        "cs_live_t3", client_reference_id="order_4711"
    )
    send(store, event)
    assert set(store.scoreboard("live", None)) == {"(unattributed)"}
    assert store.session("live", "cs_live_t3")["client_reference_id"] == "order_4711"


def test_an_expired_checkout_of_a_tagged_link_counts_as_abandoned_once(
    store: Store,
) -> None:

    expired = se.checkout_session_expired("cs_live_t4", client_reference_id=TOKEN)
    assert send(store, expired) == "counted"
    assert send(store, expired) == "unchanged"
    stranger = se.checkout_session_expired("cs_live_t5", client_reference_id="x1")
    assert send(store, stranger) == "unchanged"
    board = store.scoreboard("live", None)
    assert board == {"spring": {"abandoned": 1}}
