"""The SQLite state store: states and outbox survive reopening, commit is all-or-nothing."""

from __future__ import annotations

import contextlib
import sqlite3
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.errors import StateError
from log_monitor.models import Condition, Notification, Severity, TargetState
from log_monitor.state import StateStore
from log_monitor.state.codec import note_to_json
from log_monitor.state.outbox import OUTBOX_DELIVERED_KEPT, OUTBOX_PRUNE_BATCH
from log_monitor.state.positions import FilePosition, LogcollectorCounter
from log_monitor.state.schema import SCHEMA_VERSION
from tests.helpers import notification

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def note(n: int = 1) -> Notification:
    return notification(
        id=f"n{n}",
        created_at=T0 + timedelta(seconds=n),
        target_key="agent:001",
        label="web-1",
        condition=Condition.SILENT,
        host="soc",
        agent_id="001",
        last_event=T0,
        silent_for_s=1800.0,
        related=("agent:002",),
    )


def test_states_and_outbox_survive_reopening(tmp_path: Path) -> None:
    state = TargetState(
        "agent:001",
        severity=Severity.CRITICAL,
        condition=Condition.SILENT,
        since=T0,
        last_event=T0,
        last_checked=T0,
        alerted=Severity.WARNING,
        alerts_sent=2,
        reminders_sent=1,
        next_reminder_at=T0 + timedelta(hours=1),
        agent_status="active",
    )
    with StateStore(tmp_path / "s.db") as store:
        store.commit([state], [note(1), note(2)])
    with StateStore(tmp_path / "s.db") as store:
        assert store.load_states() == {"agent:001": state}
        assert [e.notification for e in store.pending()] == [note(1), note(2)]
        assert store.outbox_depth() == 2


def test_file_positions_and_logcollector_counters_survive_reopening_and_a_save_replaces_the_same_key(
    tmp_path: Path,
) -> None:
    read = FilePosition("/var/log/app.log", 42, 1024, T0, 7, None, '{"traffic": 1}', b"first line")
    gone = FilePosition("/var/log/old.log", -1, 0, None, missing_since=T0)
    counter = LogcollectorCounter("001", "/var/log/syslog", "2026-11-22 11:00:00", 120, 3, T0)
    unseen = LogcollectorCounter("001", "Security", "2026-11-22 11:00:00", 0, 0, None)
    with StateStore(tmp_path / "s.db") as store:
        store.save_file_positions([read, gone])
        store.save_logcollector_counters([counter, unseen])
    with StateStore(tmp_path / "s.db") as store:
        assert store.file_positions() == {read.path: read, gone.path: gone}
        assert store.logcollector_counters() == {("001", "/var/log/syslog"): counter, ("001", "Security"): unseen}
        grown = FilePosition(read.path, 42, 2048, T0 + timedelta(minutes=1), 9, None, None, b"first line")
        polled = LogcollectorCounter("001", "/var/log/syslog", "2026-11-22 11:00:00", 130, 3, None)
        store.save_file_positions([grown])
        store.save_logcollector_counters([polled])
        assert store.file_positions() == {read.path: grown, gone.path: gone}
        assert store.logcollector_counters() == {("001", "/var/log/syslog"): polled, ("001", "Security"): unseen}


def test_a_delivered_notification_leaves_the_queue(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        store.commit([], [note(1), note(2)])
        store.mark_all_failed(["n1"], "slack: down", T0, retry_at=T0)
        store.mark_all_delivered(["n2"], "slack", T0)
        pending = store.pending()
        assert [e.notification.id for e in pending] == ["n1"]
        assert pending[0].attempts == 1
        assert pending[0].last_error == "slack: down"


def test_queueing_the_same_notification_twice_keeps_one(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        store.commit([], [note(1)])
        store.commit([], [note(1)])
        assert store.outbox_depth() == 1


def test_a_failed_commit_writes_neither_states_nor_notifications(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        bad = TargetState("agent:002", since=T0)
        object.__setattr__(bad, "since", object())  # not serialisable: fails inside the transaction
        with pytest.raises(TypeError):
            store.commit([TargetState("agent:001"), bad], [note(1)])
        assert store.load_states() == {}
        assert store.outbox_depth() == 0


def test_a_db_from_a_newer_version_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.close()
    with pytest.raises(StateError, match="newer log_monitor"):
        StateStore(path)


def test_a_file_that_is_not_a_database_is_quarantined_not_an_error(tmp_path: Path) -> None:
    # A corrupt file would fail every pass for ever; it is moved aside (tests/faults/test_state.py has the rest).
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with StateStore(path) as store:
        assert store.quarantined is not None and store.quarantined.name.startswith("s.db.corrupt-")


def test_a_state_db_that_cannot_be_opened_is_a_state_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.mkdir()  # a folder where the file should be: not corruption, nothing to quarantine
    with pytest.raises(StateError, match=str(path)):
        StateStore(path)


def test_a_db_written_by_the_first_version_is_migrated_with_its_rows_kept(tmp_path: Path) -> None:
    from log_monitor.state.codec import state_to_json
    from log_monitor.state.schema import _MIGRATIONS

    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    # Exactly what schema version 1 created, with one stored state and one queued alert in it.
    db.executescript(f"BEGIN; {_MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
    old = TargetState("agent:001", severity=Severity.CRITICAL, alerted=Severity.CRITICAL, alerts_sent=3)
    db.execute("INSERT INTO target_state VALUES (?, ?, ?)", ("agent:001", state_to_json(old), T0.isoformat()))
    db.commit()
    db.close()
    with StateStore(path) as store:
        assert store.load_states()["agent:001"] == old
        assert store.file_positions() == {}  # a table added later exists now
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_states_written_by_another_connection_are_seen_at_the_next_load(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as daemon, StateStore(tmp_path / "s.db") as other:
        daemon.commit([TargetState("agent:001", severity=Severity.WARNING, since=T0)], [])
        assert daemon.load_states()["agent:001"].severity is Severity.WARNING
        other.commit([TargetState("agent:001", severity=Severity.CRITICAL, since=T0)], [])
        other.drop_removed(["agent:001"], checked_before=T0 + timedelta(days=1))
        assert daemon.load_states()["agent:001"].severity is Severity.CRITICAL
        daemon.commit([TargetState("agent:003")], [])
        assert set(daemon.load_states()) == {"agent:001", "agent:003"} == set(other.load_states())
        daemon.drop_removed(["agent:003"], checked_before=T0 + timedelta(days=1))
        assert set(daemon.load_states()) == {"agent:003"} == set(other.load_states())


def test_a_failed_commit_leaves_the_loaded_states_as_they_were(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        store.commit([TargetState("agent:001", severity=Severity.WARNING)], [])
        store.load_states()
        bad = TargetState("agent:001", severity=Severity.CRITICAL)
        object.__setattr__(bad, "since", object())
        with pytest.raises(TypeError):
            store.commit([bad], [])
        assert store.load_states()["agent:001"].severity is Severity.WARNING


# -- the outbox is pruned -------------------------------------------------------------------------


def _fill_outbox(path: Path, now: datetime, delivered: int, undelivered: int) -> None:
    """`delivered` rows delivered one every 20 s back from `now` (46 days for 200,000), then old undelivered ones."""
    payload = note_to_json(note(1))
    delivered_rows = (
        (f"d{i}", _at(now, i), "agent:001", "alert", payload, _at(now, i), "slack" if i % 4 else "smtp")
        for i in range(delivered)
    )
    queued_rows = (
        (f"q{i}", _at(now - timedelta(days=90), i), "agent:002", "alert", payload) for i in range(undelivered)
    )
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO outbox (id, created_at, target_key, kind, payload, delivered_at, channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            delivered_rows,
        )
        db.executemany(
            "INSERT INTO outbox (id, created_at, target_key, kind, payload) VALUES (?, ?, ?, ?, ?)", queued_rows
        )


def _delivered(path: Path) -> tuple[int, str]:
    """How many delivered rows the outbox holds, and the oldest delivery time among them."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        count, oldest = db.execute(
            "SELECT COUNT(*), MIN(delivered_at) FROM outbox WHERE delivered_at IS NOT NULL"
        ).fetchone()
    return int(count), str(oldest)


def _at(now: datetime, i: int) -> str:
    return (now - timedelta(seconds=20 * i)).isoformat()


@pytest.mark.slow  # 200,000 outbox rows
def test_a_commit_prunes_delivered_rows_to_the_newest_10000_and_keeps_every_undelivered_one(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    now = datetime.now(UTC)
    _fill_outbox(path, now, delivered=200_000, undelivered=50)
    with StateStore(path) as store:
        before = store.delivered_by_channel()
        store.commit([TargetState("agent:001", last_checked=now)], [])  # the first commit after opening prunes
        assert _delivered(path)[0] == 200_000 - OUTBOX_PRUNE_BATCH  # one batch: the lock is never held long
        for _ in range(200_000 // OUTBOX_PRUNE_BATCH):  # a full batch: the next commit goes on
            store.commit([TargetState("agent:001", last_checked=now)], [])
        assert _delivered(path) == (OUTBOX_DELIVERED_KEPT, _at(now, OUTBOX_DELIVERED_KEPT - 1))  # the newest ones
        assert store.outbox_depth() == 50  # undelivered, 90 days old: never pruned
        assert store.delivered_by_channel() == before == {"slack": 150_000, "smtp": 50_000}  # the metric never drops


@pytest.mark.slow  # 200,000 outbox rows
def test_delivered_rows_older_than_30_days_are_pruned_below_the_count_bound(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    now = datetime.now(UTC)
    _fill_outbox(path, now, delivered=200_000, undelivered=5)
    with StateStore(path) as store:
        pruned = store.prune_outbox(now, keep=1_000_000)
        assert store.outbox_depth() == 5
    days_30 = 30 * 86400 // 20  # rows are 20 s apart: row 129,600 is exactly 30 days old and stays
    assert _delivered(path) == (days_30 + 1, _at(now, days_30))
    assert pruned == 200_000 - (days_30 + 1)


def test_the_status_page_reads_of_the_outbox_use_an_index(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        newest = _plan(db, "SELECT payload FROM outbox ORDER BY created_at DESC, rowid DESC LIMIT 50")
        of_one = _plan(
            db,
            "SELECT payload FROM outbox WHERE target_key = 'agent:001' ORDER BY created_at DESC, rowid DESC LIMIT 50",
        )
    assert "USING INDEX outbox_by_created" in newest
    assert "USING INDEX outbox_by_target" in of_one
    assert "TEMP B-TREE" not in newest + of_one  # no sort of the whole outbox


def _plan(db: sqlite3.Connection, sql: str) -> str:
    return " | ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql))


def test_closed_hours_add_to_the_day_the_history_holds_each_hour_within_32_bits(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    day = 20_000
    first = array("I", [0] * 24)
    first[9], first[10] = 5, 0xFFFFFFF0
    store.commit([], [], [("agent:001", day, first)])
    more = array("I", [0] * 24)
    more[10], more[11] = 0x20, 7
    store.commit([], [], [("agent:001", day, more), ("agent:002", day, more)])
    hours = store.hour_counts("agent:001")
    assert (hours[day * 24 + 9], hours[day * 24 + 10], hours[day * 24 + 11]) == (5, 0xFFFFFFFF, 7)
    assert store.hour_counts("agent:002")[day * 24 + 11] == 7
    store.close()
