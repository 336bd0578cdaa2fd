"""A Redis Cluster, started from the embedded binary (SPEC §7).

The attribution, ordering, money and API tests run on it too (their
modules set ``STORE_KINDS``); here: the cluster itself, what the app does
on one end to end, a client made while the cluster was away, a node
restarted mid-traffic, and the upgrade of a single node's keys to the
layout with hash tags.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from test_faults import (
    THANKS_BUDGET,
    counts,
    gunicorn_launcher,
    healthy,
    thanks,
    wait_for,
    webhook,
)

from landing import create_app, keys
from landing import store as landing_store
from landing import stripe_events as se
from landing.devserver import EmbeddedCluster, GunicornServer
from landing.events import read_event
from landing.store import Store, connect, node_client

from conftest import (
    AUTH,
    campaign_row,
    close,
    flush,
    post_event,
    scoreboard,
    session_event,
    settings_env,
)


@pytest.fixture
def cluster(redis_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """The session's cluster, emptied, every node up."""
    redis_cluster.wait_ok()
    client: Any = connect(redis_cluster.url)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    client.close()
    return redis_cluster


def test_the_embedded_cluster_is_a_real_three_master_cluster(
    cluster: EmbeddedCluster,
) -> None:
    client: Any = redis.RedisCluster.from_url(cluster.url)
    try:
        masters = [n for n in client.get_nodes() if n.server_type == "primary"]
        assert len(masters) == 3
        with pytest.raises(redis.ResponseError, match="same slot"):
            client.execute_command(
                "MSET", "{a}x", 1, "{b}y", 2, target_nodes=masters[0]
            )
    finally:
        client.close()


def test_a_cluster_is_recognised_from_the_server_with_no_setting(
    cluster: EmbeddedCluster,
) -> None:
    assert isinstance(connect(cluster.url), redis.RedisCluster)
    assert isinstance(
        connect(cluster.nodes[1].url.removesuffix("/0")), redis.RedisCluster
    )


def test_counters_share_a_slot_and_sessions_spread_over_every_node(
    cluster: EmbeddedCluster,
) -> None:
    """A mode's counters are one slot (so a script adds to them atomically);
    its sessions, the memory that grows with payments, spread over shards
    in every node."""
    counters = [keys.board("live"), keys.version("live"), keys.applied("live")]
    counters.append(keys.campaign_day("live", "{spring}", "2026-11-30"))
    assert len({cluster.node_of(key).port for key in counters}) == 1
    sessions = [keys.session("live", f"cs_live_{n}") for n in range(200)]
    assert len({keys.shard_of(f"cs_live_{n}") for n in range(200)}) == keys.SHARDS
    assert {cluster.node_of(key).port for key in sessions} == {
        node.port for node in cluster.nodes
    }


def test_landings_payments_and_the_board_on_a_cluster(
    cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    """End to end through the app: every script call stays in its slot (the
    cluster refuses anything else), and the numbers are exact."""
    app = create_app(settings_env(cluster.url, tmp_path))
    client = app.test_client()
    try:
        for n in range(6):
            reply = client.get(
                f"/thanks?session_id=cs_live_c{n}&utm_source=news&utm_campaign=launch"
            )
            assert reply.status_code == 200
        client.get("/thanks?session_id=cs_test_c9&utm_campaign=dry-run")
        client.get("/thanks?utm_campaign=walk-in")  # no session: a visitor
        flush(app)
        for n in range(3):
            assert post_event(client, session_event(f"cs_live_c{n}")).status_code == 200
        # A payment whose landing never comes, and one that comes twice.
        assert post_event(client, session_event("cs_live_other")).status_code == 200
        assert post_event(client, session_event("cs_live_c0")).status_code == 200
        board = scoreboard(client)
        launch = campaign_row(board, "launch")
        assert launch is not None
        assert (launch["landings"], launch["conversions"]) == (6, 3)
        assert launch["revenue"] == {"usd": 12000}
        walk_in = campaign_row(board, "walk-in")
        assert walk_in is not None and walk_in["landings"] == 1
        unattributed = campaign_row(board, "(unattributed)")
        assert unattributed is not None and unattributed["conversions"] == 1
        test_board = scoreboard(client, "?mode=test")
        assert campaign_row(test_board, "dry-run") is not None
        assert client.get("/healthz").status_code == 200
        assert client.get("/dashboard", headers=AUTH).status_code == 200
    finally:
        close(app)


def test_a_store_that_was_away_at_start_is_found_to_be_a_cluster(
    cluster: EmbeddedCluster,
) -> None:
    """A client made while the cluster did not answer is a single node's
    (here: a node that holds neither the session nor the counters): the
    first write asks the server, switches, and counts once."""
    taken = {
        cluster.node_of(keys.version("live")).port,
        cluster.node_of(keys.session("live", "cs_live_away")).port,
    }
    other = next((n for n in cluster.nodes if n.port not in taken), cluster.nodes[0])
    url = other.url.removesuffix("/0")
    store = Store(node_client(url), url=url)
    landing = {"ts": int(time.time() * 1000), "day": "2026-11-30", "mode": "live"}
    entry = {**landing, "sid": "cs_live_away", "campaign": "away"}
    assert store.record_landings([entry], rate_limit=0) == ["counted"]
    assert store.is_cluster
    assert store.record_landings([entry], rate_limit=0) == ["duplicate"]
    assert store.scoreboard("live", None)["away"]["landings"] == 1


def test_counter_changes_left_in_an_outbox_are_applied_once(
    cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies (here: the counters' call fails) after a session's
    shard decided a payment: Stripe's retry is acknowledged (the change is
    kept in the shard's outbox), the drainer applies it, and never twice."""
    store = Store(connect(cluster.url), url=cluster.url)
    paid = read_event(se.checkout_session_completed("cs_live_box", amount_total=900))
    assert paid is not None
    day = date(2026, 11, 30)
    real_apply = store._apply

    def dies(entries: Any) -> Any:
        raise redis.ConnectionError("the process died here")

    monkeypatch.setattr(store, "_apply", dies)
    with pytest.raises(redis.ConnectionError):
        store.record(paid, day)
    monkeypatch.setattr(store, "_apply", real_apply)
    assert "(unattributed)" not in store.scoreboard("live", None)
    assert store.record(paid, day) == "unchanged"  # Stripe's retry: acknowledged
    store.start_drainer()  # as create_app does on a cluster
    wait_for(
        lambda: store.scoreboard("live", None),
        lambda board: "(unattributed)" in board,
        10,
        "the drainer applied the outbox",
    )
    store.stop_drainer()
    row = store.scoreboard("live", None)["(unattributed)"]
    assert (row["conversions"], row["revenue:usd"]) == (1, 900)
    assert store.drain(older_than_ms=0) == 0  # the outbox is empty
    # An entry applied but not cleared (a crash between the two) is skipped.
    shard = keys.shard_for("live", "cs_live_box2")
    other = read_event(se.checkout_session_completed("cs_live_box2", amount_total=5))
    assert other is not None
    monkeypatch.setattr(store, "_clear", lambda transitions: None)
    store.record(other, day)
    monkeypatch.undo()
    assert store.redis.hlen(keys.outbox(shard)) >= 1
    store.drain(older_than_ms=0)
    assert store.redis.hlen(keys.outbox(shard)) == 0
    assert store.scoreboard("live", None)["(unattributed)"]["conversions"] == 2


def test_a_process_whose_clock_runs_ahead_forgets_no_applied_change(
    cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applied transitions are kept a week by the store's clock: a process
    whose clock is eight days ahead applies a change, and an entry applied
    before but left in its outbox (a crash) is still known as applied."""
    store = Store(connect(cluster.url))
    day = date(2026, 11, 30)
    left = read_event(se.checkout_session_completed("cs_live_left", amount_total=5))
    later = read_event(se.checkout_session_completed("cs_live_ahead", amount_total=7))
    assert left is not None and later is not None
    monkeypatch.setattr(store, "_clear", lambda transitions: None)
    assert store.record(left, day) == "counted"  # applied, left in its outbox
    monkeypatch.undo()
    real_now = landing_store._now_ms
    monkeypatch.setattr(landing_store, "_now_ms", lambda: real_now() + 8 * 86400000)
    assert store.record(later, day) == "counted"
    monkeypatch.undo()
    assert store.drain(older_than_ms=0) == 1
    row = store.scoreboard("live", None)["(unattributed)"]
    assert (row["conversions"], row["revenue:usd"]) == (2, 12)


def test_a_cluster_away_at_start_is_recognised_before_the_first_write(
    cluster: EmbeddedCluster,
) -> None:
    """Made while the cluster did not answer, the store's client is a single
    node's; had it written as one (the counters in the same call), the node
    holding the session's shard would refuse half-way. It asks first."""
    home = cluster.node_of(keys.session("live", "cs_live_first"))
    url = home.url.removesuffix("/0")
    store = Store(node_client(url), url=url)
    paid = read_event(se.checkout_session_completed("cs_live_first", amount_total=700))
    assert paid is not None
    assert store.record(paid, date(2026, 11, 30)) == "counted"
    assert store.is_cluster
    assert store.scoreboard("live", None)["(unattributed)"]["revenue:usd"] == 700


def test_a_transition_counter_that_went_back_never_drops_a_payment(
    cluster: EmbeddedCluster,
) -> None:
    """A failover can lose a shard's last increments: the ids it hands out
    again must not be taken for transitions already applied."""
    store = Store(connect(cluster.url))
    first = "cs_live_same_a"
    shard = keys.shard_for("live", first)
    second = next(
        f"cs_live_same_{n}"
        for n in range(1000)
        if keys.shard_for("live", f"cs_live_same_{n}") == shard
    )
    day = date(2026, 11, 30)
    for sid in (first, second):
        paid = read_event(se.checkout_session_completed(sid, amount_total=100))
        assert paid is not None
        assert store.record(paid, day) == "counted"
        store.redis.decr(keys.transitions(shard))  # as a failover would
    assert store.scoreboard("live", None)["(unattributed)"]["conversions"] == 2


def test_a_held_back_landing_applied_after_its_payment_still_counts(
    cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the limit, a session's landing waits for Stripe's word; when its
    shard's outbox is applied only after the payment was (a crash, a late
    drain), it counts all the same."""
    store = Store(connect(cluster.url))
    now = int(time.time() * 1000)

    def landing(sid: str) -> dict[str, Any]:
        entry = {"ts": now, "day": "2026-11-30", "mode": "live", "sid": sid}
        return {**entry, "campaign": "spring", "client": "one-address"}

    assert store.record_landings([landing("cs_live_h1")], rate_limit=1) == ["counted"]
    monkeypatch.setattr(store, "_apply", lambda entries: [[] for _ in entries])
    store.record_landings([landing("cs_live_h2")], rate_limit=1)  # left in its outbox
    monkeypatch.undo()
    paid = read_event(se.checkout_session_completed("cs_live_h2", amount_total=100))
    assert paid is not None
    store.record(paid, date(2026, 11, 30))
    assert store.drain(older_than_ms=0) == 1
    assert store.scoreboard("live", None)["spring"]["landings"] == 2


def test_a_refund_and_a_renewal_before_their_session_settle_in_its_shard(
    cluster: EmbeddedCluster,
) -> None:
    """Neither names the session: every shard keeps the news until the
    session's own shard links the payment and the subscription."""
    store = Store(connect(cluster.url), url=cluster.url)
    day = date(2026, 11, 30)
    events = [
        se.charge_refunded(
            payment_intent="pi_early", amount=3000, amount_refunded=1000
        ),
        se.invoice_paid(
            subscription="sub_early",
            billing_reason="subscription_cycle",
            amount_paid=3000,
        ),
    ]
    for event in events:
        parsed = read_event(event)
        assert parsed is not None
        assert store.record(parsed, day) == "pending"
    completed = se.checkout_session_completed(
        "cs_live_early",
        amount_total=3000,
        payment_intent="pi_early",
        subscription="sub_early",
        mode="subscription",
    )
    parsed = read_event(completed)
    assert parsed is not None
    assert store.record(parsed, day) == "counted"
    row = store.scoreboard("live", None)["(unattributed)"]
    assert row["revenue:usd"] == 6000 and row["refunded:usd"] == 1000
    assert row["renewals"] == 1


# -- every key declared (SPEC §7) ------------------------------------------------


def past(days: int) -> tuple[int, str]:
    """A moment `days` ago (ms) and its day in UTC."""
    ts = time.time() - days * 86400
    return int(ts * 1000), date.fromtimestamp(int(ts) - int(ts) % 86400).isoformat()


def test_a_script_call_that_leaves_out_a_key_is_refused_before_it_writes(
    cluster: EmbeddedCluster,
) -> None:
    """A script touches only keys its call declared: every command goes
    through one check that refuses any other; and what the call's data
    decides, each script checks before its first write and asks for."""
    store = Store(connect(cluster.url))
    now, day = past(0)
    sid = "cs_live_undeclared"
    shard = keys.shard_for("live", sid)
    token = ""
    expiry: list[str | int] = [
        *("live", sid, "plink_1", "ref", f"{day}@0", now, now, 86400, 86400),
        *(token, "shard"),
    ]
    with pytest.raises(redis.ResponseError, match="undeclared key"):
        store._expired(keys=keys.shard_keys(shard), args=expiry)
    entry = {"ts": now, "day": day, "mode": "live", "sid": sid, "campaign": "spring"}
    head: list[str | int] = [now, 86400, 0, 86400, 0, "shard", json.dumps(entry)]
    with pytest.raises(redis.ResponseError, match=r"^KEYS \{") as asked:
        store._landings(keys=keys.shard_keys(shard), args=head)
    assert json.dumps(keys.session("live", sid)) in str(asked.value)
    assert store.session("live", sid) == {}
    assert store.redis.hlen(keys.outbox(shard)) == 0
    ops = [["landing", "spring", {}, f"{day}@0", now, False, True, sid]]
    outbox = json.dumps({"mode": "live", "at": now, "limit": 0, "ops": ops})
    args: list[str | int] = [now, 86400, 86400, "t#1", outbox]
    # First what decides the rest (renames, confirmed campaigns), then what
    # the landing touches.
    declared = [keys.applied("live")]
    for needed in (keys.aliases("live"), keys.campaign_daily("live", "spring")):
        with pytest.raises(redis.ResponseError, match=r"^KEYS \{") as asked:
            store._apply_script(keys=declared, args=args)
        assert json.dumps(needed) in str(asked.value)
        assert store.redis.zcard(keys.applied("live")) == 0
        declared += keys.mode_keys("live")
    assert store.scoreboard("live", None) == {}


def test_what_only_the_data_names_is_asked_for_once_then_remembered(
    cluster: EmbeddedCluster,
) -> None:
    """A renamed campaign, an unconfirmed campaign's earlier days and a
    payment's session are keys no event names: each script asks for them
    before writing, the numbers come out exact, and a campaign's next
    calls declare them at once (one round trip per slot again)."""
    store = Store(connect(cluster.url))
    landings = []
    for n, ago in enumerate((3, 2, 1)):
        ts, day = past(ago)
        entry = {"ts": ts, "day": day, "mode": "live", "campaign": "sprng"}
        landings.append({**entry, "sid": f"cs_live_typo{n}"})
        landings.append({**entry, "visitor": f"v{n}"})
    assert store.record_landings(landings, rate_limit=0) == ["counted"] * 6
    assert store.rename_campaign("live", "sprng", "spring") == "renamed"
    now, today = past(0)
    late = {"ts": now, "day": today, "mode": "live", "campaign": "sprng"}
    assert store.record_landings([{**late, "sid": "cs_live_late"}], 0) == ["counted"]
    # The session landed under the old name: its payment confirms the new
    # one, folding its three earlier days into the scoreboards.
    paid = read_event(
        se.checkout_session_completed(
            "cs_live_typo0", amount_total=500, payment_intent="pi_typo"
        )
    )
    assert paid is not None
    assert store.record(paid, date.today()) == "counted"
    refund = read_event(
        se.charge_refunded(payment_intent="pi_typo", amount=500, amount_refunded=200)
    )
    assert refund is not None
    assert store.record(refund, date.today()) == "counted"
    board = store.scoreboard("live", None)
    assert "sprng" not in board
    assert board["spring"]["landings"] == 7
    assert board["spring"]["conversions"] == 1
    assert board["spring"]["refunded:usd"] == 200
    daily = store.daily("live")
    assert sorted(day for day in daily if daily[day].get("landings")) == sorted(
        {str(entry["day"]) for entry in landings} | {today}
    )
    assert store.keys_asked > 0
    asked = store.keys_asked
    more = [{**late, "sid": f"cs_live_more{n}"} for n in range(5)]
    more += [{**late, "visitor": "v9", "campaign": "spring"}]
    assert store.record_landings(more, rate_limit=0) == ["counted"] * 6
    assert store.keys_asked == asked
    assert store.scoreboard("live", None)["spring"]["landings"] == 13


def test_a_fresh_process_learns_what_a_whole_batch_needs_in_one_more_call(
    cluster: EmbeddedCluster,
) -> None:
    """Seven shards' landings for seven campaigns that already have a day
    each: one more call declares all their days. After a rename, the old
    name's first landing asks for the new name, then for its days; later
    landings declare them at once."""
    now, today = past(0)
    earlier = [
        {**dict(zip(("ts", "day"), past(1), strict=True)), "mode": "live"}
        | {"visitor": f"{n:032x}", "campaign": f"c{n}"}
        for n in range(7)
    ]
    assert Store(connect(cluster.url)).record_landings(earlier, 0) == ["counted"] * 7
    sids: dict[int, str] = {}
    for n in range(1000):
        sids.setdefault(keys.shard_of(f"cs_live_s{n}"), f"cs_live_s{n}")
    fresh = Store(connect(cluster.url))
    batch = [
        {"ts": now, "day": today, "mode": "live", "sid": sid, "campaign": f"c{n}"}
        for n, sid in enumerate(list(sids.values())[:7])
    ]
    assert fresh.record_landings(batch, 0) == ["counted"] * 7
    assert fresh.keys_asked == 1
    assert fresh.rename_campaign("live", "c0", "zero") == "renamed"
    asked = fresh.keys_asked
    later = {"mode": "live", "campaign": "c0", "ts": now, "day": today}
    assert fresh.record_landings([{**later, "sid": "cs_live_z1"}], 0) == ["counted"]
    assert fresh.keys_asked == asked + 2
    more = [{**later, "sid": "cs_live_z2"}, {**later, "visitor": "v", "client": "c"}]
    assert fresh.record_landings(more, 0) == ["counted"] * 2
    assert fresh.keys_asked == asked + 2
    board = fresh.scoreboard("live", None)
    assert board["zero"]["landings"] == 5 and "c0" not in board
    assert all(board[f"c{n}"]["landings"] == 2 for n in range(1, 7))


# -- a node restarted mid-traffic -----------------------------------------------


@pytest.fixture
def launch_on_cluster(
    cluster: EmbeddedCluster, tmp_path: Path
) -> Iterator[Callable[[], GunicornServer]]:
    with gunicorn_launcher(cluster.url, tmp_path / "journal", tmp_path) as start:
        yield start


def test_a_node_restarted_mid_traffic_loses_and_doubles_nothing(
    cluster: EmbeddedCluster, launch_on_cluster: Callable[[], GunicornServer]
) -> None:
    """The node holding the live slot goes away under traffic and comes back:
    the thank-you page never waits, webhooks answer 503 until it is back (so
    Stripe retries), and then every landing and payment counts exactly once."""
    app = launch_on_cluster()
    wait_for(lambda: healthy(app.port), lambda s: s == 200, 10, "healthz")
    before = [f"cs_live_restart_a{i}" for i in range(5)]
    for sid in before:
        assert thanks(app.port, sid, "restart").status == 200
    assert webhook(app.port, before[0]).status == 200
    wait_for(lambda: counts(app.port, "restart"), lambda c: c == (5, 1), 5, "counted")

    node = cluster.node_of(keys.version("live"))
    node.kill()
    during = [f"cs_live_restart_b{i}" for i in range(5)]
    for sid in during:
        reply = thanks(app.port, sid, "restart")
        assert reply.status == 200 and reply.seconds < THANKS_BUDGET
    refused = webhook(app.port, during[0])
    assert refused.status >= 500, refused.body  # not acknowledged: Stripe retries

    node.start()
    cluster.wait_ok()
    after = [f"cs_live_restart_c{i}" for i in range(5)]
    for sid in after:
        assert thanks(app.port, sid, "restart").status == 200
    wait_for(
        lambda: webhook(app.port, during[0]).status, lambda s: s == 200, 15, "retry"
    )
    assert webhook(app.port, before[0]).status == 200  # a duplicate delivery
    assert webhook(app.port, after[0]).status == 200
    wait_for(
        lambda: counts(app.port, "restart"),
        lambda c: c == (15, 3),
        20,
        "every landing and payment once",
    )
    time.sleep(0.5)  # a late double count would show now
    assert counts(app.port, "restart") == (15, 3)


def ok(reply: Any) -> bool:
    return bool(reply.status == 200)


# -- upgrading a single node's keys -----------------------------------------------


def test_a_store_of_the_layout_before_hash_tags_is_moved_at_start(
    redis_url: str, tmp_path: Path
) -> None:
    """Keys written by an earlier version (no hash tags) move once, TTLs
    kept: counters to the mode's slot, sessions and their payments to the
    session's shard, the session index split by shard."""
    raw = node_client(redis_url)
    # The layout before hash tags, spelled out: that is what an upgrade meets.
    raw.hset("landing:live:board", mapping={"old|landings": 4, "old|conversions": 1})
    raw.hset("landing:live:daily", mapping={"2026-11-01|landings": 4})
    raw.hset("landing:live:campaign:old:daily", mapping={"2026-11-01|landings": 4})
    raw.sadd("landing:live:confirmed", "old")
    raw.hset("landing:live:session:cs_live_old", mapping={"campaign": "old"})
    raw.expire("landing:live:session:cs_live_old", 1000)
    held: dict[Any, Any] = {
        "campaign": "old",
        "source": "ad",
        "limited": "1",
        "landed_day": "2026-11-01",
    }
    raw.hset("landing:live:session:cs_live_held", mapping=held)
    raw.hset("landing:live:payment:pi_old", mapping={"session": "cs_live_old"})
    raw.hset("landing:live:payment:pi_waiting", mapping={"back:ch_1": 50})
    raw.zadd("landing:live:sessions", {"cs_live_old": 5, "cs_live_gone": 6})
    raw.set("landing:live:version", 7)
    app = create_app(settings_env(redis_url, tmp_path))
    try:
        row = campaign_row(scoreboard(app.test_client()), "old")
        assert row is not None and (row["landings"], row["conversions"]) == (4, 1)
        session = keys.session("live", "cs_live_old")
        assert raw.hgetall(session) == {"campaign": "old"}
        assert 0 < int(raw.ttl(session)) <= 1000
        home = keys.shard_for("live", "cs_live_old")
        assert raw.hget(keys.payment(home, "pi_old"), "session") == "cs_live_old"
        for shard in keys.shards("live"):  # waiting for its session, anywhere
            assert raw.hget(keys.payment(shard, "pi_waiting"), "back:ch_1") == "50"
        assert raw.zscore(keys.sessions(home), "cs_live_old") == 5
        gone = keys.shard_for("live", "cs_live_gone")
        assert raw.zscore(keys.sessions(gone), "cs_live_gone") == 6
        assert raw.keys("landing:live:*") == []
        assert raw.get(keys.version("live")) == "7"
        # The landing the limit held back counts once Stripe vouches.
        assert (
            post_event(app.test_client(), session_event("cs_live_held")).status_code
            == 200
        )
        row = campaign_row(scoreboard(app.test_client()), "old")
        assert row is not None and (row["landings"], row["conversions"]) == (5, 2)
    finally:
        close(app)
    # A store of today's layout is left alone.
    assert Store(node_client(redis_url), url=redis_url).migrate_layout() == 0
