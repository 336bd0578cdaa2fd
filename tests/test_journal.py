"""The write-behind journal: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from landing import create_app
from landing.capture import landing_entry, valid_entry
from landing.devserver import EmbeddedServer, free_port
from landing.journal import Journal
from landing.reporting import rows
from landing.store import Store, connect
from landing.utm import Landing

from conftest import settings_env


def entry(sid: str, campaign: str = "spring") -> dict[str, Any]:
    return landing_entry(
        Landing(session_id=sid, campaign=campaign),
        timestamp=time.time(),
        day=time.strftime("%Y-%m-%d", time.gmtime()),
        secret="k",
        address="198.51.100.7",
        agent="test",
        url=sid,
    )


def landings(store: Store, campaign: str = "spring") -> int:
    return dict(rows(store.scoreboard("live", None))).get(campaign, _Zero()).landings


class _Zero:
    landings = 0


def journal_for(store: Store, directory: Path, **kw: Any) -> Journal:
    def send(batch: list[str]) -> None:
        store.record_landings(batch, 0)

    return Journal(directory, send, validate=valid_entry, **kw)


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.05)


def test_entries_reach_the_store_and_the_segment_is_cleaned_up(
    store: Store, tmp_path: Path
) -> None:
    journal = journal_for(store, tmp_path)
    for i in range(250):
        assert journal.append(entry(f"cs_live_{i}"))
    assert journal.flush(10)
    assert landings(store) == 250
    journal.close()
    assert list(tmp_path.glob("*.jsonl")) == []


def test_segments_rotate_once_sent(store: Store, tmp_path: Path) -> None:
    journal = journal_for(store, tmp_path, rotate_bytes=2048)
    for i in range(100):
        journal.append(entry(f"cs_live_r{i}"))
        if i % 10 == 0:
            assert journal.flush(10)
    assert journal.flush(10)
    wait_for(lambda: len(list(tmp_path.glob("*.jsonl"))) == 1)
    assert landings(store) == 100
    journal.close()


def test_an_outage_keeps_landings_and_counts_them_once_when_back(
    tmp_path: Path,
) -> None:
    server = EmbeddedServer(tmp_path / "redis", port=free_port(), persistent=True)
    server.start()
    store = Store(connect(server.url))
    journal = journal_for(store, tmp_path / "journal")
    try:
        journal.append(entry("cs_live_before"))
        assert journal.flush(10)
        server.stop()
        for i in range(20):
            assert journal.append(entry(f"cs_live_during{i}"))
        assert not journal.flush(1.0)  # nothing can be sent: it waits
        server.start()
        assert journal.flush(15)
        assert landings(store) == 21
        # Replaying everything again changes nothing: the store is idempotent.
        again = [entry(f"cs_live_during{i}") for i in range(20)]
        assert store.record_landings(again, 0) == ["duplicate"] * 20
        assert landings(store) == 21
    finally:
        journal.close(1)
        server.stop()


KILLED_WRITER = """
import os, signal, sys
from landing import create_app
app = create_app({
    "REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": "test-secret-key",
    "JOURNAL_DIR": sys.argv[1], "DASHBOARD_PASSWORD": "x",
})
client = app.test_client()
for i in range(int(sys.argv[2])):
    page = client.get(f"/thanks?session_id=cs_live_k{i}&utm_campaign=killed")
    assert page.status_code == 200
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_loses_nothing_written_to_the_journal(
    redis_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(directory), "40"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr.decode()
    assert len(list(directory.glob("*.jsonl"))) == 1  # left behind, unlocked

    app = create_app(settings_env(redis_url, tmp_path, JOURNAL_DIR=str(directory)))
    store = Store(connect(redis_url))
    try:
        wait_for(lambda: landings(store, "killed") == 40)
        wait_for(
            lambda: (
                list(directory.glob("*.jsonl")) != []
                and all(
                    "killed" not in p.read_text() for p in directory.glob("*.jsonl")
                )
            )
        )
    finally:
        app.extensions["landing"].journal.close()


def test_a_live_processes_segment_is_never_adopted(
    store: Store, tmp_path: Path
) -> None:
    # The sink refuses everything, as if the store were down.
    def refuse(batch: list[str]) -> None:
        raise ConnectionError("down")

    owner = Journal(tmp_path, refuse, validate=valid_entry)
    owner.append(entry("cs_live_owned"))
    adopter = journal_for(store, tmp_path, adopt_every=0.05)
    adopter.start()
    time.sleep(0.5)
    assert landings(store) == 0
    owner.close(0.2)  # the owner goes: now its backlog is an orphan
    wait_for(lambda: landings(store) == 1)
    adopter.close()


def test_a_torn_last_line_and_garbage_are_skipped_and_logged(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = [json.dumps(entry(f"cs_live_t{i}")) for i in range(3)]
    forged = dict(entry("cs_live_forged"), campaign="<script>")
    text = (
        good[0]
        + "\n{not json\n"
        + json.dumps(forged)
        + "\n"
        + good[1]
        + "\n\xff\xfe\n"
        + good[2]
        + "\n"
        + good[0][:20]  # a crash in the middle of a line
    )
    (tmp_path / "dead-1-1.jsonl").write_bytes(text.encode("utf-8", "surrogateescape"))
    with caplog.at_level(logging.WARNING):
        journal = journal_for(store, tmp_path)
        journal.start()
        wait_for(lambda: landings(store) == 3)
        wait_for(lambda: not (tmp_path / "dead-1-1.jsonl").exists())
        journal.close()
    assert "skipping an unreadable line" in caplog.text
    assert "torn last line" in caplog.text
    assert "<script>" not in json.dumps(store.scoreboard("live", None))


def test_a_journal_over_its_bound_drops_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(batch: list[str]) -> None:
        raise ConnectionError("down")

    journal = Journal(tmp_path, refuse, validate=valid_entry, max_bytes=2000)
    with caplog.at_level(logging.ERROR):
        kept = [journal.append(entry(f"cs_live_b{i}")) for i in range(30)]
    assert kept[0] and not kept[-1]
    assert "JOURNAL_MAX_BYTES" in caplog.text
    journal.close(0.2)


def test_an_unwritable_journal_drops_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, store: Store
) -> None:
    journal = journal_for(store, tmp_path)
    journal.start()
    segment = journal._segment
    assert segment is not None
    os.close(segment.fd)  # as if the disk went away under us
    segment.fd = os.open(os.devnull, os.O_RDONLY)
    with caplog.at_level(logging.ERROR):
        assert journal.append(entry("cs_live_nodisk")) is False
    assert "cannot be written" in caplog.text
    journal.close(0.2)


def test_app_without_a_store_keeps_landings_for_later(
    redis_url: str, tmp_path: Path
) -> None:
    down = create_app(settings_env("redis://127.0.0.1:1/0", tmp_path))
    client = down.test_client()
    for i in range(5):
        client.get(f"/thanks?session_id=cs_live_w{i}&utm_campaign=waited")
    down.extensions["landing"].journal.close(0.5)  # a deploy stops it
    up = create_app(settings_env(redis_url, tmp_path))  # same journal dir
    store = Store(connect(redis_url))
    try:
        wait_for(lambda: landings(store, "waited") == 5)
    finally:
        up.extensions["landing"].journal.close()


def test_a_forked_child_keeps_its_own_segment_and_flusher(
    store: Store, tmp_path: Path
) -> None:
    # As under gunicorn --preload: the app (and its journal) is made before
    # the workers fork; each worker must write and send on its own.
    journal = journal_for(store, tmp_path)
    journal.append(entry("cs_live_parent"))
    assert journal.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 2
        try:
            code = 0 if journal.append(entry("cs_live_child")) else 1
            code = code or (0 if journal.flush(10) else 3)
            journal.close(2)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert landings(store) == 2
    assert journal.append(entry("cs_live_parent_again")) and journal.flush(10)
    assert landings(store) == 3
    journal.close()


def test_a_backlog_beyond_memory_is_read_back_from_the_file(
    store: Store, tmp_path: Path
) -> None:
    # Lines go to the store from memory; past memory_lines unsent (the store
    # is away) they are read back from the segment, then memory again.
    sent: list[str] = []
    up = False

    def gate(batch: list[str]) -> None:
        if not up:
            raise ConnectionError("down")
        store.record_landings(batch, 0)
        sent.extend(batch)

    journal = Journal(tmp_path, gate, validate=valid_entry, memory_lines=5)
    try:
        for i in range(30):
            assert journal.append(entry(f"cs_live_m{i}"))
        assert not journal.flush(0.5)
        up = True
        assert journal.flush(15)
        for i in range(30, 40):  # caught up: from memory again
            assert journal.append(entry(f"cs_live_m{i}"))
        assert journal.flush(10)
    finally:
        journal.close()
    assert landings(store) == 40
    assert sorted(json.loads(line)["sid"] for line in sent) == sorted(
        f"cs_live_m{i}" for i in range(40)
    )
    assert list(tmp_path.glob("*.jsonl")) == []  # all acknowledged, removed


def test_a_line_cut_short_keeps_the_progress_right(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = journal_for(store, tmp_path)
    journal.start()
    real_write = os.write
    cut = {"next": False}

    def write(fd: int, data: bytes) -> int:
        if cut["next"]:
            cut["next"] = False
            return real_write(fd, data[: len(data) // 2])  # the disk filled up
        return real_write(fd, data)

    monkeypatch.setattr("landing.journal.os.write", write)
    assert journal.append(entry("cs_live_c1"))
    cut["next"] = True
    assert not journal.append(entry("cs_live_c2"))
    assert journal.append(entry("cs_live_c3"))
    assert journal.flush(10)
    segment = journal._segment
    assert segment is not None
    # Everything written so far is acknowledged, the torn half line too.
    assert segment.done == os.fstat(segment.fd).st_size
    assert landings(store) == 2
    journal.close()
    assert list(tmp_path.glob("*.jsonl")) == []


FLUSHED_THEN_KILLED = """
import os, signal, sys
from landing import create_app
app = create_app({
    "REDIS_URL": sys.argv[2], "SECRET_KEY": "test-secret-key",
    "JOURNAL_DIR": sys.argv[1], "DASHBOARD_PASSWORD": "x", "LANDING_RATE_LIMIT": "0",
})
client = app.test_client()
for i in range(40):
    page = client.get(f"/thanks?session_id=cs_live_f{i}&utm_campaign=flushed")
    assert page.status_code == 200
assert app.extensions["landing"].journal.flush(10)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_was_sent_from_memory_is_not_replayed_after_kill_9(
    redis_url: str, tmp_path: Path
) -> None:
    directory = tmp_path / "journal"
    result = subprocess.run(
        [sys.executable, "-c", FLUSHED_THEN_KILLED, str(directory), redis_url],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr.decode()
    [orphan] = directory.glob("*.jsonl")
    assert orphan.stat().st_size > 0
    replayed: list[str] = []
    adopter = Journal(directory, replayed.extend, validate=valid_entry)
    adopter.start()
    try:
        wait_for(lambda: not orphan.exists())
    finally:
        adopter.close()
    assert replayed == []  # its progress was on disk: nothing sent twice
    assert landings(Store(connect(redis_url)), "flushed") == 40
