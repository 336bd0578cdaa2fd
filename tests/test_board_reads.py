"""A server process keeps the last board it read and nests the next read
from it (Store._nested): what it shows must be what a fresh process reads,
whatever changed in between (SPEC §6)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing.store import Store

CAMPAIGNS = ("spring", "autumn", "winter")
STEP = st.one_of(
    st.tuples(st.just("land"), st.sampled_from(CAMPAIGNS), st.integers(1, 3)),
    st.tuples(st.just("land before"), st.sampled_from(CAMPAIGNS), st.integers(1, 2)),
    st.tuples(st.just("confirm"), st.sampled_from(CAMPAIGNS), st.just(0)),
    st.tuples(st.just("delete"), st.sampled_from(CAMPAIGNS), st.just(0)),
    st.tuples(st.just("rename"), st.sampled_from(CAMPAIGNS), st.integers(0, 2)),
    st.tuples(st.just("empty"), st.just(""), st.just(0)),  # the store emptied
)


def landings(
    campaign: str, count: int, serial: int, days_ago: int = 0
) -> list[dict[str, Any]]:
    now = time.time() - days_ago * 86400
    return [
        {
            "ts": int(now * 1000),
            "day": datetime.fromtimestamp(now, UTC).date().isoformat(),
            "mode": "live",
            "campaign": campaign,
            "source": "newsletter",
            "medium": "email",
            "visitor": f"{serial:08x}{n:08x}",
        }
        for n in range(count)
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(STEP, min_size=1, max_size=12))
def test_a_process_that_read_the_board_before_reads_what_a_new_one_does(
    engine: tuple[Store, redis.Redis], steps: list[tuple[str, str, int]]
) -> None:
    store, server = engine
    server.flushall()
    kept = Store(store.redis)  # its board reads kept from step to step
    today = datetime.now(UTC).date()
    ranges = (None, [today], [today - timedelta(days=1), today])
    for serial, (step, campaign, n) in enumerate(steps):
        if step == "land":
            kept.record_landings(landings(campaign, n, serial), rate_limit=0)
        elif step == "land before":  # yesterday, or the day before
            kept.record_landings(landings(campaign, 1, serial, n), rate_limit=0)
        elif step == "confirm":
            kept.confirm_campaign("live", campaign)
        elif step == "delete":
            kept.delete_campaign("live", campaign)
        elif step == "empty":
            server.flushall()
        else:
            kept.rename_campaign("live", campaign, CAMPAIGNS[n])
        fresh = Store(store.redis)  # a new process: nothing read before
        for days in ranges:
            assert kept.scoreboard("live", days) == fresh.scoreboard("live", days)


def test_a_process_reads_anew_after_the_store_was_emptied(
    engine: tuple[Store, redis.Redis],
) -> None:
    """A board is kept while the day versions it was read at stand; a store
    emptied and written again may stand at the same day versions with other
    numbers, and the mode's version, gone back, says so."""
    store, server = engine
    server.flushall()
    store.confirm_campaign("live", "spring")
    for serial in range(3):  # unconfirmed: the mode's version, no day's
        store.record_landings(landings("junk", 1, serial), rate_limit=0)
    store.record_landings(landings("spring", 1, 10), rate_limit=0)
    assert store.scoreboard("live", None)["spring"] == {"landings": 1}
    server.flushall()
    store.confirm_campaign("live", "autumn")
    store.record_landings(landings("autumn", 2, 20), rate_limit=0)
    assert store.scoreboard("live", None) == {"autumn": {"landings": 2}}
