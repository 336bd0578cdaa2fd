"""A server process keeps the last board it read and nests the next read
from it (Store._nested): what it shows must be what a fresh process reads,
whatever changed in between (SPEC §6)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

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


def test_a_full_store_still_answers_from_the_boards_a_process_kept(
    engine: tuple[Store, redis.Redis],
) -> None:
    """A store at its memory limit refuses every write; reading the boards
    (the epoch included) writes nothing, so a poll still costs a small read,
    not the whole board and the range's days again."""
    store, server = engine
    server.flushall()
    store.confirm_campaign("live", "spring")
    store.record_landings(landings("spring", 2, 1), rate_limit=0)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(29, -1, -1)]
    expected = (store.scoreboard("live", days), store.scoreboard("live", None))
    boards_read: list[str] = []
    read_board = store._read_board

    def counted(*args: Any) -> Any:
        boards_read.append(args[0])
        return read_board(*args)

    store._read_board = counted  # type: ignore[method-assign,assignment]
    policy = str(server.config_get("maxmemory-policy")["maxmemory-policy"])
    server.config_set("maxmemory-policy", "noeviction")
    server.config_set("maxmemory", 1)
    try:
        for _ in range(3):
            seen = (store.scoreboard("live", days), store.scoreboard("live", None))
            assert seen == expected
    finally:
        server.config_set("maxmemory", 0)
        server.config_set("maxmemory-policy", policy)
    assert boards_read == []


def test_numbers_that_went_back_are_read_anew(
    engine: tuple[Store, redis.Redis],
) -> None:
    """A failover that lost writes, or a restart from an older snapshot,
    keeps the store's epoch but sets the numbers back: a process that sees
    the mode's version lower than before drops what it kept, so days that
    climb back to the same versions with other numbers are not taken for
    the ones it summed."""
    store, server = engine
    server.flushall()
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=1), today]
    store.confirm_campaign("live", "spring")
    store.confirm_campaign("live", "autumn")
    store.record_landings(landings("spring", 1, 1, days_ago=1), rate_limit=0)
    store.scoreboard("live", days)  # the store's epoch is set
    snapshot = {key: server.dump(key) for key in server.scan_iter(match="landing:*")}
    store.record_landings(landings("spring", 2, 2, days_ago=1), rate_limit=0)
    assert store.scoreboard("live", days) == {"spring": {"landings": 3}}
    server.flushall()  # back to the snapshot: the last write is lost
    for key, value in snapshot.items():
        server.restore(key, 0, cast(bytes, value))
    assert store.scoreboard("live", days) == {"spring": {"landings": 1}}
    # Another write on that day: its version is the lost one's again.
    store.record_landings(landings("autumn", 5, 3, days_ago=1), rate_limit=0)
    fresh = Store(store.redis).scoreboard("live", days)
    assert fresh == {"spring": {"landings": 1}, "autumn": {"landings": 5}}
    assert store.scoreboard("live", days) == fresh


def test_a_board_read_while_the_layout_moved_is_read_again_after(
    engine: tuple[Store, redis.Redis],
) -> None:
    """A process that stopped waiting for the layout's move (migrate_layout)
    may read a board half-moved; the move ends with a new epoch, so what
    it kept then is not taken for the moved numbers."""
    store, server = engine
    server.flushall()
    store.confirm_campaign("live", "spring")
    store.record_landings(landings("spring", 2, 1), rate_limit=0)
    store.record_landings(landings("spring", 1, 2, days_ago=3), rate_limit=0)
    expected = Store(store.redis).scoreboard("live", None)
    for key in list(server.scan_iter(match="landing:{live}:*")):  # the old layout
        server.rename(key, key.replace("{live}", "live"))
    kept = Store(store.redis)
    move = store._migrate_keys

    def one_by_one(mode: str, names: list[str]) -> int:
        # The day versions first, as SCAN may give them; a poll after each.
        names = sorted(names, key=lambda name: not name.endswith("day-versions"))
        moved = 0
        for name in names:
            moved += move(mode, [name])
            kept.scoreboard("live", None)
        return moved

    store._migrate_keys = one_by_one  # type: ignore[method-assign]
    assert store._migrate_mode("live") > 0
    assert kept.scoreboard("live", None) == expected
    store.record_landings(landings("spring", 1, 9), rate_limit=0)
    assert kept.scoreboard("live", None) == {"spring": {"landings": 4}}
