"""SPEC §4 on the real engine: junk expires by itself, limits keep campaigns."""

from __future__ import annotations

import time
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import redis
from click.testing import CliRunner

from landing import keys
from landing import stripe_events as se
from landing.capture import landing_entry
from landing.cli import main
from landing.events import read_event
from landing.period import day_of
from landing.store import Store, connect
from landing.utm import Landing

UTC_ZONE = ZoneInfo("UTC")


def landing(
    sid: str | None, campaign: str, ts: float | None = None, **codes: str
) -> dict[str, object]:
    """A journal entry as /thanks writes it, all from one client address."""
    ts = time.time() if ts is None else ts
    return landing_entry(
        Landing(session_id=sid, campaign=campaign, **codes),
        timestamp=ts,
        day=day_of(ts, UTC_ZONE).isoformat(),
        secret="k",
        address="198.51.100.7",
        agent="test",
        url=f"{sid}{campaign}",
    )


def pay(store: Store, sid: str, **fields: Any) -> str:
    parsed = read_event(se.checkout_session_completed(sid, **fields))
    assert parsed is not None
    return store.record(parsed, day_of(parsed.created, UTC_ZONE))


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    return client


def short_lived(redis_url: str, seconds: int) -> Store:
    """A store whose unconfirmed campaigns expire after `seconds` (days in
    production; the engine's own TTLs either way)."""
    store = Store(connect(redis_url))
    store.unconfirmed_seconds = seconds
    return store


def test_junk_campaigns_expire_by_themselves_and_leave_the_scoreboard(
    redis_url: str, raw: redis.Redis
) -> None:
    store = short_lived(redis_url, 2)
    entries = [landing(f"cs_live_j{i}", f"junk_{i}") for i in range(20)]
    entries += [landing(None, "junk_visitor")]
    assert store.record_landings(entries, rate_limit=0) == ["counted"] * 21
    assert "junk_3" in store.scoreboard("live", None)
    assert store.unconfirmed("live").total == 21
    # Nothing persistent holds what they wrote: every key expires, but the
    # mode's version counter and the epoch its board reads set (one key
    # each, however many landings; the last minutes' counters last 3 hours).
    persistent = sorted(k for k in raw.keys("*") if raw.ttl(k) == -1)
    kept = sorted([keys.version("live"), keys.epoch("live")])
    assert persistent == kept
    time.sleep(3.1)
    assert store.scoreboard("live", None) == {}
    # Left: those two, the reload window's 30 minutes for the visitor, and
    # the launch strip's minutes (every campaign together) for 3 hours.
    visitor, minute = keys.visitor("live", ""), keys.minutes("live", 0)[:-1]
    left = sorted(cast(list[str], raw.keys("*")))
    assert set(kept) <= set(left)
    others = [k for k in left if k not in kept]
    assert all(k.startswith((visitor, minute)) for k in others), others
    assert all(0 < raw.ttl(k) <= 3 * 3600 for k in others)


def test_a_payment_confirms_its_campaign_and_makes_it_permanent(
    redis_url: str, raw: redis.Redis
) -> None:
    store = short_lived(redis_url, 2)
    store.record_landings([landing("cs_live_k1", "keeper")], rate_limit=0)
    store.record_landings([landing("cs_live_k2", "keeper")], rate_limit=0)
    assert pay(store, "cs_live_k1", amount_total=1200) == "counted"
    time.sleep(3.1)
    keeper = store.scoreboard("live", None)["keeper"]
    assert keeper["landings"] == 2  # both landings, the unpaid one too
    assert keeper["conversions"] == 1
    assert keeper["revenue:usd"] == 1200
    assert store.campaign("live", "keeper", None).breakdown["source"] == {
        "(none)": {
            "landings": 2,
            "conversions": 1,
            "revenue:usd": 1200,
            "conversions:usd": 1,
        }
    }
    # The session that only landed is gone from the sessions export; the
    # paid one stays.
    exported = [sid for sid, _ in store.sessions("live", 0, float("inf"))]
    assert exported == ["cs_live_k1"]


def test_a_rate_limited_landing_keeps_its_sessions_campaign(
    redis_url: str, raw: redis.Redis
) -> None:
    store = Store(connect(redis_url))
    ts = 1_767_225_600.0  # one clock minute for all of them
    batch = [landing(f"cs_live_l{i}", "launch", ts=ts + i) for i in range(3)]
    assert store.record_landings(batch, rate_limit=1) == [
        "counted",
        "limited",
        "limited",
    ]
    assert store.scoreboard("live", None)["launch"]["landings"] == 1
    # Stripe verifies the payment of a limited one: it counts after all, in
    # its campaign, never in (unattributed).
    assert pay(store, "cs_live_l2") == "counted"
    board = store.scoreboard("live", None)
    assert board["launch"]["landings"] == 2
    assert board["launch"]["conversions"] == 1
    assert "(unattributed)" not in board
    # A second event for it never counts the landing twice.
    parsed = read_event(se.checkout_session_completed("cs_live_l2"))
    assert parsed is not None
    store.record(parsed, day_of(parsed.created, UTC_ZONE))
    assert store.scoreboard("live", None)["launch"]["landings"] == 2


def test_reloads_around_a_salt_rotation_count_once(
    raw: redis.Redis, redis_url: str
) -> None:
    store = Store(connect(redis_url))
    before = 1_767_225_570_000  # 23:59:30
    first = {"ts": before, "day": "2025-12-31", "mode": "live", "visitor": "a" * 32}
    # 00:00:30: the new salt gives another digest; the old one comes along.
    again = {
        "ts": before + 60_000,
        "day": "2026-01-01",
        "mode": "live",
        "visitor": "b" * 32,
        "visitor_prev": "a" * 32,
    }
    later = {
        "ts": before + 31 * 60_000,
        "day": "2026-01-01",
        "mode": "live",
        "visitor": "b" * 32,
    }
    assert store.record_landings([first], 0) == ["counted"]
    assert store.record_landings([again], 0) == ["duplicate"]
    assert store.record_landings([later], 0) == ["counted"]


def run_cli(redis_url: str, *args: str) -> Any:
    runner = CliRunner()
    return runner.invoke(main, ["campaigns", *args], env={"REDIS_URL": redis_url})


def test_the_cli_lists_deletes_junk_and_refuses_paid_campaigns(
    redis_url: str, raw: redis.Redis
) -> None:
    store = Store(connect(redis_url))
    store.record_landings(
        [landing("cs_live_c1", "junk"), landing("cs_live_c2", "real")], rate_limit=0
    )
    pay(store, "cs_live_c2")
    listed = run_cli(redis_url, "list")
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()[1:]}
    assert "unconfirmed, expires" in lines["junk"]
    assert lines["real"].split()[1:4] == ["1", "1", "confirmed"]
    refused = run_cli(redis_url, "delete", "real", "--yes")
    assert refused.exit_code != 0 and "rename it" in refused.output
    assert run_cli(redis_url, "delete", "junk", "--yes").exit_code == 0
    assert set(store.scoreboard("live", None)) == {"real"}
    asked = run_cli(redis_url, "delete", "real")  # no --yes, no answer: aborted
    assert asked.exit_code != 0
    assert "real" in store.scoreboard("live", None)


def test_rename_merges_a_typo_into_its_campaign_exactly(
    redis_url: str, raw: redis.Redis
) -> None:
    store = Store(connect(redis_url))
    store.record_landings(
        [
            landing("cs_live_r1", "spring_sale", source="news"),
            landing("cs_live_r2", "spirng_sale", source="news"),
            landing("cs_live_r3", "spirng_sale", source="ads"),
        ],
        rate_limit=0,
    )
    pay(store, "cs_live_r1", amount_total=1000)
    pay(store, "cs_live_r2", amount_total=500, payment_intent="pi_r2")
    totals_before = store.scoreboard("live", None)
    result = run_cli(redis_url, "rename", "spirng_sale", "spring_sale", "--yes")
    assert result.exit_code == 0, result.output
    board = store.scoreboard("live", None)
    assert set(board) == {"spring_sale"}
    merged = board["spring_sale"]
    assert (merged["landings"], merged["conversions"], merged["revenue:usd"]) == (
        3,
        2,
        1500,
    )
    for metric in ("landings", "conversions", "revenue:usd"):
        assert merged[metric] == sum(m.get(metric, 0) for m in totals_before.values())
    source = store.campaign("live", "spring_sale", None).breakdown["source"]
    assert source["news"]["landings"] == 2 and source["ads"]["landings"] == 1
    # A refund of a payment counted under the old name lands in the new one.
    refund = read_event(
        se.charge_refunded("ch_r2", payment_intent="pi_r2", amount_refunded=500)
    )
    assert refund is not None
    assert store.record(refund, day_of(refund.created, UTC_ZONE)) == "counted"
    board = store.scoreboard("live", None)
    assert set(board) == {"spring_sale"}
    assert board["spring_sale"]["refunded:usd"] == 500
