"""The state DB locked, full or corrupted: a clear error (exit 3, no traceback) or a quarantine and a fresh start.

In each case nothing is half-written and, once the fault is gone, every alert goes out exactly once.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from log_monitor import app as app_module
from log_monitor.app import Tuning
from log_monitor.cli import main
from log_monitor.clock import SystemClock
from log_monitor.errors import StateError
from log_monitor.models import Condition, Notification, NotificationKind, Severity, TargetState
from log_monitor.notifiers import render
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from tests.envfile import write_env
from tests.faults.common import three_hosts_one_silent
from tests.helpers import notification
from tests.slack_server import SlackServer

TOKEN = "xoxb-state-fault-token"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def note(number: int) -> Notification:
    return notification(
        id=f"n-{number}",
        created_at=T0,
        severity=Severity.WARNING,
        target_key=f"agent:{number:03d}",
        label=f"host-{number:03d}",
        condition=Condition.SILENT,
        host="monitor-1",
        agent_id=f"{number:03d}",
        last_event=None,
        silent_for_s=None,
    )


def states(count: int, severity: Severity = Severity.OK) -> list[TargetState]:
    return [TargetState(f"agent:{n:03d}", severity=severity, last_checked=T0) for n in range(count)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite3"
    with StateStore(path) as store:
        store.commit(states(50), [note(1)])
    return path


# -- locked ------------------------------------------------------------------------------------


@pytest.fixture
def locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another process holding the write lock (BEGIN EXCLUSIVE) for as long as the test runs."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_a_locked_state_db_is_a_state_error_that_says_who_to_look_for(db: Path, locked: sqlite3.Connection) -> None:
    with StateStore(db, timeout=0.2) as store:
        before = store.load_states()  # reading goes on (WAL): `status` works while a writer is stuck
        with pytest.raises(StateError, match=r"database is locked \(another process held it for more than 0.2 s"):
            store.commit(states(50, Severity.CRITICAL), [note(2)])
    locked.execute("ROLLBACK")
    with StateStore(db) as store:
        assert store.load_states() == before
        assert [e.notification.id for e in store.pending()] == ["n-1"]


# -- full disk ---------------------------------------------------------------------------------


def fill_up(store: StateStore) -> None:
    """The file system is full: SQLite may not grow the file by a single page more.

    A row of nearly a page first fills the pages the next pass writes to (target states, outbox), so
    even a pass over three targets needs a new page.
    """
    db = store._db.connection
    padding = json.dumps({"target_key": "filler", "padding": "x" * 3900})
    db.execute("INSERT OR REPLACE INTO target_state VALUES ('filler', ?, '')", (padding,))
    # Delivered just now: the outbox's pruning (30 days) must not free its page for the pass.
    delivered = datetime.now(UTC).isoformat()
    db.execute(
        "INSERT OR REPLACE INTO outbox (id, created_at, target_key, kind, payload, delivered_at) "
        "VALUES ('filler', ?, 'filler', 'test', ?, ?)",
        (delivered, padding, delivered),
    )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_a_clear_state_error_and_nothing_of_the_commit_is_written(db: Path) -> None:
    with StateStore(db) as store:
        fill_up(store)
        before = store.load_states()
        unsaved = r"full.*free space on its file system; the states and alerts being saved were not written"
        with pytest.raises(StateError, match=unsaved):
            store.commit(states(2000, Severity.CRITICAL), [note(n) for n in range(2, 2000)])
        # States and notifications are one transaction: neither half is there.
        assert store.load_states() == before
        assert [e.notification.id for e in store.pending()] == ["n-1"]
        # SQLite rolled the transaction back itself: the connection is usable, not stuck in a dead transaction.
        store.commit(states(1, Severity.WARNING), [])
    with StateStore(db) as store:  # space is back: the same commit goes through whole
        store.commit(states(2000, Severity.CRITICAL), [note(n) for n in range(2, 2000)])
        assert store.outbox_depth() == 1999


# -- corrupted ---------------------------------------------------------------------------------


def quarantined_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if re.fullmatch(r"state\.sqlite3\.corrupt-\d{8}T\d{6}\.\d{6}Z", p.name))


def test_a_file_that_is_not_a_database_is_quarantined_and_a_fresh_one_started(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db.write_bytes(b"this is not SQLite, it is a log file someone pointed STATE_DB at\n" * 100)
    with caplog.at_level(logging.ERROR), StateStore(db) as store:
        assert store.quarantined is not None
        assert store.load_states() == {}
        store.commit(states(3), [])  # the fresh store works
    [moved] = quarantined_files(db.parent)
    assert moved == store.quarantined
    assert moved.read_bytes().startswith(b"this is not SQLite")
    assert f"state DB {db} is corrupt" in caplog.text and str(moved) in caplog.text


def test_a_damaged_page_inside_the_database_is_found_at_open_and_quarantined(db: Path) -> None:
    with StateStore(db) as store:
        store.commit(states(3000), [])
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[3 * page : 5 * page] = b"\xa5" * (2 * page)  # two b-tree pages become noise; the header is intact
    db.write_bytes(bytes(data))
    with StateStore(db) as store:
        assert store.quarantined is not None
        assert store.load_states() == {}
    assert len(quarantined_files(db.parent)) == 1


def test_every_notification_kind_renders_without_error() -> None:
    for kind in NotificationKind:
        n = Notification(
            id="x",
            created_at=T0,
            kind=kind,
            severity=Severity.WARNING,
            target_key="state:db",
            label="state/log_monitor.sqlite3",
            condition=Condition.UNKNOWN,
            host="monitor-1",
            detail="detail",
        )
        assert render.title(n) and render.plain_text(n) and render.group_plain_text([n, n])


# -- end to end: the CLI -------------------------------------------------------------------------


@dataclass
class Cli:
    folder: Path
    slack: SlackServer

    def run(self, tuning: Tuning | None = None) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(self.folder / "log_monitor.env"), "once"], stdout=out, stderr=err, tuning=tuning)
        return code, err.getvalue()

    @property
    def db(self) -> Path:
        return self.folder / "state.sqlite3"

    def alerts_for(self, agent_id: str) -> int:
        return sum(f"agent {agent_id} " in str(m) for m in self.slack.messages)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    fleet = three_hosts_one_silent(tmp_path)
    with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
        write_env(tmp_path, sim, slack, TOKEN)
        yield Cli(tmp_path, slack)


def test_the_cli_on_a_locked_state_db_exits_3_with_one_clear_line_then_alerts_once_when_freed(cli: Cli) -> None:
    with StateStore(cli.db):
        pass  # the DB exists (WAL) before the other process locks it
    holder = sqlite3.connect(cli.db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, err = cli.run(Tuning(store_timeout_s=0.2))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 3
    assert err.startswith("state error: state DB ") and "database is locked" in err
    assert "Traceback" not in err
    assert cli.slack.messages == []  # nothing was decided, so nothing was sent
    assert cli.run()[0] == 2
    assert cli.run()[0] == 2
    assert cli.alerts_for("002") == 1


def test_the_cli_on_a_full_disk_exits_3_then_alerts_once_when_space_is_back(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StateStore(cli.db):
        pass

    def full_store(path: Path, **kwargs: float) -> StateStore:
        store = StateStore(path, **kwargs)
        fill_up(store)
        return store

    monkeypatch.setattr(app_module, "StateStore", full_store)
    code, err = cli.run()
    assert code == 3
    assert "database or disk is full" in err and "free space" in err and "Traceback" not in err
    monkeypatch.undo()
    assert cli.run()[0] == 2
    assert cli.run()[0] == 2
    assert cli.alerts_for("002") == 1


def test_the_cli_on_a_corrupt_state_db_quarantines_it_sends_one_notice_and_goes_on(cli: Cli) -> None:
    assert cli.run()[0] == 2
    assert cli.alerts_for("002") == 1
    cli.db.write_bytes(b"\x00garbage" * 4096)
    for side in ("-wal", "-shm"):
        cli.db.with_name(cli.db.name + side).unlink(missing_ok=True)
    code, err = cli.run()
    assert code == 2, err  # not 3: monitoring goes on, from an empty state
    [moved] = quarantined_files(cli.folder)
    notices = [m for m in cli.slack.messages if "state DB was corrupt" in str(m)]
    assert len(notices) == 1 and str(moved) in str(notices[0])
    # The history went with the file: the open alert is sent once more, as the notice says.
    assert cli.alerts_for("002") == 2
    assert cli.run()[0] == 2
    assert len([m for m in cli.slack.messages if "state DB was corrupt" in str(m)]) == 1
    assert cli.alerts_for("002") == 2
    assert "is corrupt" in (cli.folder / "monitor.log").read_text()


# -- rows this version cannot read (a downgrade, a hand edit) ------------------------------------


def spoil_state(db: Path, key: str, **changes: object) -> None:
    with sqlite3.connect(db) as raw:
        data = json.loads(raw.execute("SELECT data FROM target_state WHERE target_key = ?", (key,)).fetchone()[0])
        raw.execute("UPDATE target_state SET data = ? WHERE target_key = ?", (json.dumps(data | changes), key))
    raw.close()


@pytest.mark.parametrize(
    "changes",
    [{"severity": "DISASTER"}, {"condition": "haunted"}, {"since": "yesterday-ish"}, {"alerted": 7}],
    ids=["severity", "condition", "timestamp", "alerted"],
)
def test_an_unreadable_state_row_is_logged_once_naming_its_target_and_starts_afresh(
    db: Path, changes: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    spoil_state(db, "agent:007", **changes)
    with StateStore(db) as store, caplog.at_level(logging.ERROR, logger="log_monitor.state"):
        loaded = store.load_states()
        store.commit([TargetState("agent:008", severity=Severity.WARNING, last_checked=T0)], [])
        again = store.load_states()
        store.commit([TargetState("agent:007", severity=Severity.CRITICAL, last_checked=T0)], [])
        mended = store.load_states()
    assert "agent:007" not in loaded and "agent:007" not in again and len(loaded) == 49
    assert mended["agent:007"].severity is Severity.CRITICAL  # the next pass writes a readable row over it
    reports = [r.getMessage() for r in caplog.records if "agent:007" in r.getMessage()]
    assert len(reports) == 1 and "cannot be read" in reports[0], reports


def test_a_non_json_state_row_does_not_stop_the_next_commit(db: Path) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE target_state SET data = '{not json' WHERE target_key = 'agent:003'")
    raw.close()
    with StateStore(db) as store:
        store.commit([TargetState("agent:003", severity=Severity.WARNING, last_checked=T0)], [])
        assert store.load_states()["agent:003"].severity is Severity.WARNING


def test_an_unreadable_outbox_row_is_left_queued_and_the_others_are_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    with StateStore(path) as store:
        store.commit([], [note(1), note(2), note(3)])
    with sqlite3.connect(path) as raw:
        payload = json.loads(raw.execute("SELECT payload FROM outbox WHERE id = 'n-2'").fetchone()[0])
        raw.execute(
            "UPDATE outbox SET payload = ? WHERE id = 'n-2'", (json.dumps(payload | {"kind": "from_the_future"}),)
        )
    raw.close()
    sent: list[str] = []

    class Channel:
        name = "fake"

        def send(self, notification: Notification) -> None:
            sent.append(notification.id)

    with StateStore(path) as store, caplog.at_level(logging.ERROR, logger="log_monitor.state"):
        dispatcher = Dispatcher(store, [Channel()], SystemClock(), sleep=lambda _: None)
        dispatcher.deliver_pending()
        dispatcher.deliver_pending()
        assert sorted(sent) == ["n-1", "n-3"]
        assert store.outbox_depth() == 1  # left where it is, for a newer version or a person to look at
        assert [e.notification.id for e in store.recent()] == ["n-3", "n-1"]
    reports = [r.getMessage() for r in caplog.records if "'n-2'" in r.getMessage()]
    assert len(reports) == 1 and "outbox" in reports[0], reports


def test_once_and_status_go_on_past_an_unreadable_state_row_without_a_traceback(cli: Cli) -> None:
    assert cli.run()[0] == 2
    spoil_state(cli.db, "agent:002", severity="DISASTER")
    code, err = cli.run()
    assert code == 2 and "Traceback" not in err, err
    out, err_status = io.StringIO(), io.StringIO()
    status = main(["--env-file", str(cli.folder / "log_monitor.env"), "status"], stdout=out, stderr=err_status)
    assert status == 0 and "Traceback" not in err_status.getvalue()
    assert "agent:002" in out.getvalue()
    assert "agent:002" in (cli.folder / "monitor.log").read_text()


# -- the state DB deleted (or replaced) under a running monitor ---------------------------------


def test_a_state_db_deleted_under_the_store_is_noticed_at_the_next_commit_and_started_afresh(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with StateStore(db) as store, caplog.at_level(logging.WARNING, logger="log_monitor.state"):
        store.on_reset = lambda: note(99)
        assert len(store.load_states()) == 50
        db.unlink()
        store.commit([TargetState("agent:100", severity=Severity.WARNING, last_checked=T0)], [note(100)])
        assert db.exists()
        assert list(store.load_states()) == ["agent:100"]
        assert sorted(e.notification.id for e in store.pending()) == ["n-100", "n-99"]
        store.commit([TargetState("agent:101", last_checked=T0)], [])  # the same file from now on: no second notice
        assert store.outbox_depth() == 2
    with StateStore(db) as reopened:  # what was written after the deletion is in the file at the path
        assert sorted(reopened.load_states()) == ["agent:100", "agent:101"]
        assert reopened.outbox_depth() == 2
    warnings = [r.getMessage() for r in caplog.records if "was deleted" in r.getMessage()]
    assert len(warnings) == 1 and str(db) in warnings[0]


def test_a_state_db_replaced_by_a_new_file_is_written_to_not_the_old_one(db: Path) -> None:
    with StateStore(db) as daemon_store:
        db.unlink()
        with StateStore(db) as status_store:  # `status` after the deletion creates an empty file
            assert status_store.load_states() == {}
        daemon_store.commit([TargetState("agent:100", severity=Severity.WARNING, last_checked=T0)], [])
        with StateStore(db) as status_store:
            assert list(status_store.load_states()) == ["agent:100"]
