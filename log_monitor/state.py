"""SQLite state store: per-target states, the notification outbox and ad-hoc silences."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from log_monitor.errors import StateError
from log_monitor.models import Condition, Notification, NotificationKind, Severity, TargetState

SCHEMA_VERSION = 2

# Each entry upgrades the schema from version (index) to version (index + 1); never edit a
# released entry, append a new one, so a DB written by any older version is migrated, not dropped.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS target_state (
        target_key TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        target_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at TEXT,
        delivered_at TEXT,
        channel TEXT
    );
    CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (delivered_at, created_at);
    CREATE TABLE IF NOT EXISTS silences (
        target_key TEXT PRIMARY KEY,
        until TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS file_position (
        path TEXT PRIMARY KEY,
        inode INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        last_growth TEXT,
        lines INTEGER NOT NULL DEFAULT 0
    );
    """,
)


@dataclass(frozen=True)
class FilePosition:
    """How far a local log file has been read: the same file (inode) and the offset reached."""

    path: str
    inode: int
    offset: int
    last_growth: datetime | None
    lines: int = 0


@dataclass(frozen=True)
class OutboxEntry:
    """A queued notification and what delivery has made of it so far."""

    notification: Notification
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    channel: str | None


class StateStore:
    """One SQLite file (WAL) shared by the checking loop and the delivery worker."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state DB {path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StateError(f"state DB {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise StateError(f"state DB {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state DB {self.path} was written by a newer log_monitor (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade log_monitor or point STATE_DB elsewhere"
            )
        for number in range(version, SCHEMA_VERSION):
            self._db.executescript(f"BEGIN; {_MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;")

    # -- target states ---------------------------------------------------------------

    def load_states(self) -> dict[str, TargetState]:
        rows = self._query("SELECT data FROM target_state")
        states = (state_from_json(row[0]) for row in rows)
        return {s.target_key: s for s in states}

    def commit(self, states: Iterable[TargetState], notifications: Iterable[Notification]) -> None:
        """Store new states and queue their notifications in one transaction: both or neither."""
        with self._transaction() as db:
            for state in states:
                db.execute(
                    "INSERT INTO target_state (target_key, data, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (target_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    (state.target_key, state_to_json(state), _now_text(state.last_checked)),
                )
            for note in notifications:
                db.execute(
                    "INSERT OR IGNORE INTO outbox (id, created_at, target_key, kind, payload) VALUES (?, ?, ?, ?, ?)",
                    (note.id, note.created_at.isoformat(), note.target_key, str(note.kind), note_to_json(note)),
                )

    def forget(self, target_keys: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM target_state WHERE target_key = ?", [(k,) for k in target_keys])

    # -- outbox ----------------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """Undelivered notifications, oldest first."""
        rows = self._query(
            "SELECT payload, attempts, last_error, delivered_at, channel FROM outbox "
            "WHERE delivered_at IS NULL ORDER BY created_at, rowid LIMIT ?",
            (limit,),
        )
        return [_entry(row) for row in rows]

    def recent(self, limit: int = 50) -> list[OutboxEntry]:
        rows = self._query(
            "SELECT payload, attempts, last_error, delivered_at, channel FROM outbox "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [_entry(row) for row in rows]

    def mark_delivered(self, note_id: str, channel: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET delivered_at = ?, channel = ?, attempts = attempts + 1 WHERE id = ?",
                (at.isoformat(), channel, note_id),
            )

    def mark_failed(self, note_id: str, error: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, at.isoformat(), note_id),
            )

    def outbox_depth(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")[0][0])

    # -- local file positions ---------------------------------------------------------

    def file_positions(self) -> dict[str, FilePosition]:
        rows = self._query("SELECT path, inode, offset, last_growth, lines FROM file_position")
        return {
            row[0]: FilePosition(
                row[0], int(row[1]), int(row[2]), datetime.fromisoformat(row[3]) if row[3] else None, int(row[4])
            )
            for row in rows
        }

    def save_file_positions(self, positions: Iterable[FilePosition]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO file_position (path, inode, offset, last_growth, lines) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset, "
                "last_growth = excluded.last_growth, lines = excluded.lines",
                [(p.path, p.inode, p.offset, _now_text(p.last_growth) or None, p.lines) for p in positions],
            )

    # -- ad-hoc silences ---------------------------------------------------------------

    def add_silence(self, target_key: str, until: datetime, reason: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO silences (target_key, until, reason, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (target_key) DO UPDATE SET until = excluded.until, reason = excluded.reason, "
                "created_at = excluded.created_at",
                (target_key, until.isoformat(), reason, at.isoformat()),
            )

    def remove_silence(self, target_key: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM silences WHERE target_key = ?", (target_key,)).rowcount > 0

    def silences(self, now: datetime) -> dict[str, tuple[datetime, str]]:
        """Active silences: target key -> (until, reason)."""
        rows = self._query("SELECT target_key, until, reason FROM silences")
        active = {key: (datetime.fromisoformat(until), reason) for key, until, reason in rows}
        return {key: value for key, value in active.items() if value[0] > now}


def _now_text(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(
        notification=note_from_json(row[0]),
        attempts=int(row[1]),
        last_error=row[2],
        delivered_at=datetime.fromisoformat(row[3]) if row[3] else None,
        channel=row[4],
    )


# -- serialisation: plain JSON, so an older or newer version can still read the rows -------


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Severity):
        return value.name
    if isinstance(value, tuple):
        return list(value)
    return value


def state_to_json(state: TargetState) -> str:
    return json.dumps({f.name: _encode(getattr(state, f.name)) for f in fields(state)})


def state_from_json(text: str) -> TargetState:
    raw = json.loads(text)
    known = {f.name for f in fields(TargetState)}
    data = {k: v for k, v in raw.items() if k in known}
    for key in ("since", "last_event", "last_checked", "last_alert_at", "next_reminder_at"):
        if data.get(key):
            data[key] = datetime.fromisoformat(data[key])
        else:
            data[key] = None
    data["severity"] = Severity[data.get("severity", "OK")]
    data["alerted"] = Severity[data.get("alerted", "OK")]
    data["condition"] = Condition(data.get("condition", "ok"))
    return TargetState(**data)


def note_to_json(note: Notification) -> str:
    return json.dumps({f.name: _encode(getattr(note, f.name)) for f in fields(note)})


def note_from_json(text: str) -> Notification:
    raw = json.loads(text)
    known = {f.name for f in fields(Notification)}
    data = {k: v for k, v in raw.items() if k in known}
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    data["last_event"] = datetime.fromisoformat(data["last_event"]) if data.get("last_event") else None
    data["kind"] = NotificationKind(data["kind"])
    data["severity"] = Severity[data["severity"]]
    data["condition"] = Condition(data["condition"])
    data["related"] = tuple(data.get("related", ()))
    return Notification(**data)
