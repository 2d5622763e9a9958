"""SQLite state store: per-target states, the notification outbox and ad-hoc silences."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from log_monitor.errors import InstanceLockedError, StateError
from log_monitor.ledger import HISTORY_DAYS, median_norm
from log_monitor.models import (
    STATE_KEPT_IN_MEMORY,
    Condition,
    Notification,
    NotificationKind,
    RatePoint,
    Severity,
    Silence,
    TargetState,
    Transition,
)
from log_monitor.rhythm import Profile, profile

log = logging.getLogger(__name__)

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
    """
    CREATE TABLE IF NOT EXISTS transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target_key TEXT NOT NULL,
        at TEXT NOT NULL,
        from_severity TEXT,
        to_severity TEXT NOT NULL,
        condition TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS transitions_by_target ON transitions (target_key, id);
    """,
    """
    CREATE TABLE IF NOT EXISTS channel_health (
        channel TEXT PRIMARY KEY,
        last_attempt_at TEXT NOT NULL,
        last_ok_at TEXT,
        last_error TEXT,
        permanent INTEGER NOT NULL DEFAULT 0,
        failing_since TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        alerted_at TEXT
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS logcollector_counter (
        agent_id TEXT NOT NULL,
        location TEXT NOT NULL,
        start TEXT NOT NULL,
        events INTEGER NOT NULL,
        drops INTEGER NOT NULL,
        last_event TEXT,
        PRIMARY KEY (agent_id, location)
    );
    """,
    """
    ALTER TABLE file_position ADD COLUMN missing_since TEXT;
    ALTER TABLE file_position ADD COLUMN analysis TEXT;
    ALTER TABLE file_position ADD COLUMN head BLOB NOT NULL DEFAULT x'';
    """,
    """
    ALTER TABLE silences ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    """,
    """
    CREATE INDEX IF NOT EXISTS outbox_by_created ON outbox (created_at);
    CREATE INDEX IF NOT EXISTS outbox_by_target ON outbox (target_key, created_at);
    CREATE TABLE IF NOT EXISTS outbox_pruned (
        channel TEXT PRIMARY KEY,
        delivered INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS rate_hourly (
        target_key TEXT NOT NULL,
        hour TEXT NOT NULL,
        events INTEGER NOT NULL,
        baseline REAL NOT NULL,
        window_s REAL NOT NULL,
        PRIMARY KEY (target_key, hour)
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS event_hours (
        target_key TEXT NOT NULL,
        day INTEGER NOT NULL,
        counts BLOB NOT NULL,
        PRIMARY KEY (target_key, day)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS event_hours_by_day ON event_hours (day);
    """,
    # One row per (notification, receiver lane): a route that fans out delivers to each receiver once, and a slow
    # receiver holds back only its own lane. A row's id is the notification's on today's chain's lane '' (every row
    # written before), `id|lane` on the others (outbox_row_id): the table and its key stay as they were.
    """
    ALTER TABLE outbox ADD COLUMN receiver TEXT NOT NULL DEFAULT '';
    """,
    # One Slack thread per open incident and receiver: its parent message, kept across restarts and re-execs.
    """
    CREATE TABLE IF NOT EXISTS slack_threads (
        receiver TEXT NOT NULL,
        target_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        ts TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        PRIMARY KEY (receiver, target_key)
    );
    """,
)
# Derived, not written by hand: appending a migration is the whole change (parallel work adds entries here).
SCHEMA_VERSION = len(_MIGRATIONS)
TRANSITIONS_KEPT = 100_000  # the history is for people looking back, not an archive: the oldest rows go
# Delivered notifications are kept for the status page's history, within both bounds; undelivered ones always stay.
OUTBOX_DELIVERED_KEPT_S = 30 * 86400.0
OUTBOX_DELIVERED_KEPT = 10_000
OUTBOX_PRUNE_EVERY_S = 600.0  # a commit prunes at most this often (the first commit after opening always does)
OUTBOX_PRUNE_BATCH = 20_000  # rows one commit deletes at most
# What decoding a row written by another version (or by hand) raises; json.JSONDecodeError is a ValueError.
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError)
T = TypeVar("T")
R = TypeVar("R")


# Rate points older than this are deleted: the page shows the last 24 hours.
RATE_KEPT_S = 48 * 3600.0


@dataclass(frozen=True)
class FilePosition:
    """How far a local log file has been read: the same file (inode) and the offset reached."""

    path: str
    inode: int
    offset: int
    last_growth: datetime | None
    lines: int = 0
    missing_since: datetime | None = None  # when the path was found gone; what appears there next is read from 0
    analysis: str | None = None  # the source's traffic and pattern state (JSON), saved with the offset it matches
    head: bytes = b""  # the file's first bytes when last read: a file rewritten in place starts differently


@dataclass(frozen=True)
class LogcollectorCounter:
    """An agent location's logcollector counters at the latest poll, so the next poll (or run) can take deltas."""

    agent_id: str
    location: str
    start: str  # logcollector's global.start as the API wrote it: a change means logcollector restarted
    events: int
    drops: int
    last_event: datetime | None  # when the counters last showed the location growing


@dataclass(frozen=True)
class OutboxEntry:
    """A queued notification and what delivery has made of it so far."""

    notification: Notification
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    channel: str | None
    receiver: str = ""  # the lane (routes.py): a receiver, a `first:` chain, or '' for today's chain


@dataclass(frozen=True)
class ChannelHealth:
    """The latest delivery attempt on a channel, and the failure episode it belongs to (if failing)."""

    channel: str
    last_attempt_at: datetime
    last_ok_at: datetime | None
    last_error: str | None  # None: the latest attempt succeeded
    permanent: bool  # the latest failure was permanent (fix the configuration)
    failing_since: datetime | None
    attempts: int
    failures: int
    alerted_at: datetime | None  # when this episode's "channel failed" alert was queued

    @property
    def ok(self) -> bool:
        return self.last_error is None


# The state holds agent names, log paths and alert texts: readable by the monitor's user alone, whatever the umask
# (systemd's UMask=0027 covers the service; a shell's usual 022 would leave them 0644).
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def _private_file(path: Path) -> None:
    """Creates the state file's folder (0700) and the file itself (0600) when missing; SQLite's -wal and -shm
    files take the database file's permissions. Existing ones are left as they are (an operator's choice)."""
    path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))


class StateStore:
    """One SQLite file (WAL) shared by the checking loop and the delivery worker."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        # Where a corrupt DB found at open was moved (a fresh one took its place); app.build tells the team.
        self.quarantined: Path | None = None
        self._lock = threading.Lock()
        # The states as this connection last read or wrote them, and the DB's data_version then: decoding every
        # state on every pass is the largest fixed cost at 100,000 targets, and only other connections (a CLI
        # command, another process) can make the copy stale, which data_version tells.
        self._states: dict[str, TargetState] | None = None
        self._states_version = -1
        self._fresh = False  # the file was replaced and no pass has read its states since: commits write all given
        self._pruned_mono: float | None = None  # when a commit last pruned the outbox (monotonic)
        self._reported: set[tuple[str, str]] = set()  # unreadable rows already logged: (table, key)
        self._pruned_hour: str | None = None  # the hour old rate points were last deleted in
        # The file this connection has open, as (st_dev, st_ino): a different one at the path means it was deleted
        # or replaced under us. `on_reset` makes the notice that tells the team (app.build sets it).
        self._identity: tuple[int, int] | None = None
        self.on_reset: Callable[[], Notification] | None = None
        # The outbox lanes (routes.py) a notification is queued on, one row each; app.build sets a Router's.
        self.lanes_of: Callable[[Notification], Iterable[str]] = _today_s_chain
        try:
            _private_file(path)
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                if not _is_corruption(exc):
                    raise
                # A corrupt file would fail every pass for ever (a crash loop): keep it for inspection, start afresh.
                self.quarantined = _quarantine(path)
                log.error(
                    "state DB %s is corrupt (%s): moved it to %s and started with an empty one; "
                    "every target's history is gone, so alerts still open will be sent again once",
                    path,
                    exc,
                    self.quarantined,
                )
                _private_file(path)
                self._db = self._open()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(_describe(path, exc, timeout)) from exc

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL, migrate and check the file's structure (quick_check) before any use."""
        db = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._db = db
            self._migrate()
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)").fetchall()]
            if problems != ["ok"]:
                raise _CorruptError("; ".join(problems))
            self._identity = _identity(self.path)
        except BaseException:
            db.close()
            raise
        return db

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
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite rolls back by itself after some errors (a full disk): a second ROLLBACK would fail
                    # and hide the real error. A failed COMMIT leaves the transaction open: end it, or every
                    # later BEGIN on this connection fails too.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StateError(_describe(self.path, exc, self.timeout)) from exc

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._rows(sql, args)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A query's rows, with the lock already held by the caller."""
        try:
            return list(self._db.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise StateError(_describe(self.path, exc, self.timeout)) from exc

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
        # One lock around check, read and keep: a commit in between must not be overwritten by older rows.
        with self._lock:
            return dict(self._current_states())

    def kept_states(self) -> Mapping[str, TargetState]:
        """The kept copy itself, not a copy of it: for the checking thread, the only one that commits states.

        A pass reads each target's state before its slice commits the new one, so it needs no snapshot
        (at 100,000 targets a copy is 4 MB more at the pass's peak); a reload for another connection's
        writes replaces the copy, and the pass goes on reading the one it was given.
        """
        with self._lock:
            self._fresh = False  # a new pass judges against what the (fresh) file holds
            return self._current_states()

    def _current_states(self) -> dict[str, TargetState]:
        """The kept copy, read again first when another connection has written since (the lock held)."""
        version = int(self._rows("PRAGMA data_version")[0][0])
        if self._states is None or version != self._states_version:
            rows = self._rows("SELECT target_key, data FROM target_state")
            decoded = self._readable(rows, lambda row: state_from_json(row[1]), "target_state", "a fresh state")
            self._states = _with_newer_checks({s.target_key: s for s in decoded}, self._states or {})
            self._states_version = version
        return self._states

    def commit(
        self,
        states: Iterable[TargetState],
        notifications: Iterable[Notification],
        hours: Sequence[tuple[str, int, array[int]]] = (),
        *,
        writes: Iterable[TargetState] | None = None,
        transitions: Iterable[Transition] = (),
        rate_points: Iterable[RatePoint] = (),
        now: datetime | None = None,
    ) -> None:
        """Store what a pass decided and queue its notifications in one transaction: all or nothing.

        `states` are kept in memory (load_states returns them); `writes` are the ones written to the file
        (all of `states` when not given); `transitions`, `rate_points` and the closed `hours` are written as
        given. The judge decides them (log_monitor/changes.py): the store writes, it does not judge. `now`
        (the pass's) dates the outbox's pruning.
        """
        states = list(states)
        written = states if writes is None else list(writes)
        if self._reopen_if_replaced() and self.on_reset is not None:
            notifications = [*notifications, self.on_reset()]
        if self._fresh:
            # A fresh file: the pass under way judged against states it no longer holds, so all it gives is written.
            written = states
        with self._transaction() as db:
            if written:
                db.executemany(_UPSERT_STATE, _state_rows(written))
            _record_transitions(db, transitions)
            self._record_rates(db, rate_points)
            if hours:
                _record_hours(db, hours)
            lanes_of = self.lanes_of
            db.executemany(
                "INSERT OR IGNORE INTO outbox (id, receiver, created_at, target_key, kind, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        outbox_row_id(note.id, lane),
                        lane,
                        note.created_at.isoformat(),
                        note.target_key,
                        str(note.kind),
                        note_to_json(note),
                    )
                    for note in notifications
                    for lane in lanes_of(note)
                ),
            )
            if self._pruned_mono is None or time.monotonic() - self._pruned_mono >= OUTBOX_PRUNE_EVERY_S:
                pruned = _prune_outbox(
                    db, now or datetime.now(UTC), OUTBOX_DELIVERED_KEPT_S, OUTBOX_DELIVERED_KEPT, OUTBOX_PRUNE_BATCH
                )
                # A full batch means more is waiting: the next commit goes on with it.
                self._pruned_mono = None if pruned >= OUTBOX_PRUNE_BATCH else time.monotonic()
        # Only once committed: a failed commit raised above and left the copy as the DB is, rolled back.
        if states:
            with self._lock:
                self._current_states().update((s.target_key, s) for s in states)

    def save_kept(self) -> None:
        """Write every kept state whole, with what it kept in memory (check time, last event, rate figures).

        Called as the daemon stops or re-executes: the next process, and `status`, start from the latest
        figures, not from the file's, up to an hour old. One upsert of every state (about 1 s at 100,000).
        """
        try:
            same = _identity(self.path) == self._identity
        except OSError:
            same = False
        if not same or self._states is None:
            return  # nothing kept, or the file was replaced: the next commit (or process) starts it afresh
        with self._transaction() as db:
            states = list(self._current_states().values())
            db.executemany(_UPSERT_STATE, _state_rows(states))

    def _record_rates(self, db: sqlite3.Connection, points: Iterable[RatePoint]) -> None:
        """The rate points given into their hours (the page's 24-hour chart); old hours pruned once an hour."""
        rows = [(p.target_key, _hour_text(p.hour), p.events, p.baseline, p.window_s) for p in points]
        if not rows:
            return
        db.executemany(
            "INSERT INTO rate_hourly (target_key, hour, events, baseline, window_s) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (target_key, hour) DO UPDATE SET events = excluded.events, baseline = excluded.baseline, "
            "window_s = excluded.window_s",
            rows,
        )
        hour = max(row[1] for row in rows)
        if hour != self._pruned_hour:
            self._pruned_hour = hour
            cutoff = datetime.fromisoformat(hour) - timedelta(seconds=RATE_KEPT_S)
            db.execute("DELETE FROM rate_hourly WHERE hour < ?", (cutoff.isoformat(),))

    def rate_points(self, target_key: str, since: datetime) -> list[RatePoint]:
        """A target's hourly rate points from `since` on, oldest first; the latest hour as of its last check."""
        rows = self._query(
            "SELECT hour, events, baseline, window_s FROM rate_hourly WHERE target_key = ? AND hour >= ? ORDER BY hour",
            (target_key, _hour_text(since)),
        )
        points = [
            RatePoint(target_key, _aware(datetime.fromisoformat(hour)), int(events), float(baseline), float(window))
            for hour, events, baseline, window in rows
        ]
        with self._lock:
            kept = (self._states or {}).get(target_key)
        if kept is None or kept.recent is None or kept.baseline is None or kept.last_checked is None:
            return points
        text = _hour_text(kept.last_checked)
        if text < _hour_text(since):
            return points
        hour = _aware(datetime.fromisoformat(text))
        latest = RatePoint(target_key, hour, kept.recent, kept.baseline, kept.rate_window_s or 0.0)
        return sorted([p for p in points if p.hour != hour] + [latest], key=lambda p: p.hour)

    def norms(self, keys: Iterable[str], hour: int) -> dict[str, tuple[float, int]]:
        """Each target's norm for `hour`: (median events in that hour of the day on the previous days the history
        holds, days of those with events); a target with no history has none."""
        day, slot = divmod(hour, 24)
        values: dict[str, list[int]] = {}
        keys = list(keys)
        with self._lock:
            for first in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = json.dumps(keys[first : first + _KEYS_PER_QUERY])
                rows = self._rows(_NORMS_SQL, (day - HISTORY_DAYS, day, chunk))
                for key, counts in rows:
                    hours = _hour_counts(counts)
                    values.setdefault(key, []).append(hours[slot])
        return {key: median_norm(found) for key, found in values.items()}

    def profiles(self, keys: Iterable[str], day: int) -> dict[str, Profile]:
        """Each target's hourly rhythm (log_monitor.rhythm) over the days before `day` that the history holds; a
        target with no history has none."""
        found: dict[str, dict[int, array[int]]] = {}
        keys = list(keys)
        with self._lock:
            for first in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = json.dumps(keys[first : first + _KEYS_PER_QUERY])
                for key, held, counts in self._rows(_PROFILES_SQL, (day - HISTORY_DAYS, day, chunk)):
                    found.setdefault(key, {})[int(held)] = _hour_counts(counts)
        made = {key: profile(days) for key, days in found.items()}
        return {key: made_one for key, made_one in made.items() if made_one is not None}

    def hour_counts(self, target_key: str) -> dict[int, int]:
        """A target's counted events by hour index (the history the baselines are made of), for people and tests."""
        rows = self._query("SELECT day, counts FROM event_hours WHERE target_key = ?", (target_key,))
        return {day * 24 + slot: n for day, counts in rows for slot, n in enumerate(_hour_counts(counts))}

    def _reopen_if_replaced(self) -> bool:
        """Whether the file at the path is no longer the one open (deleted, or another put there); then open that.

        Writing on into a deleted file would lose every later state and alert without a word.
        """
        try:
            found = _identity(self.path)
        except OSError:
            return False  # the folder cannot be read for a moment: the commit itself says what is wrong
        if found == self._identity:
            return False
        with self._lock:
            self._db.close()  # the last connection to the deleted file: SQLite checkpoints and removes its WAL
            if found is None:
                for suffix in ("-wal", "-shm"):  # what is left belongs to the deleted file: never replay it
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            try:
                self._db = self._open()
            except (sqlite3.Error, OSError) as exc:
                raise StateError(_describe(self.path, exc, self.timeout)) from exc
            self._states = None
            self._fresh = True
        log.warning(
            "state DB %s was %s while the monitor ran: opened a fresh one there; the history, silences and queued "
            "notifications in the old file are gone",
            self.path,
            "deleted" if found is None else "replaced by another file",
        )
        return True

    def transitions(self, target_key: str, limit: int = 100) -> list[Transition]:
        """A target's severity changes, newest first."""
        rows = self._query(
            "SELECT target_key, at, from_severity, to_severity, condition FROM transitions "
            "WHERE target_key = ? ORDER BY id DESC LIMIT ?",
            (target_key, limit),
        )
        return self._readable(
            rows,
            lambda row: Transition(
                row[0],
                datetime.fromisoformat(row[1]),
                Severity[row[2]] if row[2] else None,
                Severity[row[3]],
                Condition(row[4]),
            ),
            "transitions",
            "left out of the history",
        )

    # -- outbox ----------------------------------------------------------------------

    def pending(self, limit: int = 100, *, due: datetime | None = None) -> list[OutboxEntry]:
        """Undelivered notifications, oldest first; with `due`, only those whose retry time has come.

        With `due`, a notification also waits while an older one of the same target is in backoff: a
        target's notifications are never delivered out of order (a recovery before its alert would leave
        CRITICAL as the channel's last word about a healthy agent). Other targets are not held up.
        """
        if due is None:
            rows = self._query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "WHERE delivered_at IS NULL ORDER BY created_at, rowid LIMIT ?",
                (limit,),
            )
        else:
            # ISO texts of UTC datetimes compare in time order, so SQLite can compare them as strings.
            rows = self._query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox AS o "
                "WHERE delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox AS p "
                "WHERE p.target_key = o.target_key AND p.receiver = o.receiver AND p.delivered_at IS NULL "
                "AND p.next_attempt_at > ? "
                "AND (p.created_at, p.rowid) <= (o.created_at, o.rowid)) "
                "ORDER BY created_at, rowid LIMIT ?",
                (_utc_text(due), limit),
            )
        return self._readable(rows, _entry, "outbox", "left in the outbox, not delivered", key=5)

    def next_attempt_at(self) -> datetime | None:
        """The earliest time a queued notification is due again (None: nothing queued).

        Only each target's oldest queued notification counts: the ones behind it wait for it.
        """
        row = self._query(
            "SELECT MIN(COALESCE(next_attempt_at, created_at)) FROM outbox AS o WHERE delivered_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.target_key = o.target_key AND p.receiver = o.receiver "
            "AND p.delivered_at IS NULL AND (p.created_at, p.rowid) < (o.created_at, o.rowid))"
        )[0]
        try:
            return datetime.fromisoformat(row[0]) if row[0] else None
        except ValueError:
            # A time no version writes: the row is reported by pending(); the rest are due at once, not never.
            return datetime.now(UTC)

    def queue(self, notifications: Iterable[Notification]) -> None:
        """Add notifications to the outbox (an id already there is kept, not doubled)."""
        self.commit([], notifications)

    def recent(self, limit: int = 50, *, target_key: str | None = None) -> list[OutboxEntry]:
        """The newest notifications, delivered or not (of one target when given); read through an index."""
        if target_key is None:
            rows = self._query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "WHERE target_key = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (target_key, limit),
            )
        return self._readable(rows, _entry, "outbox", "left in the outbox, not delivered", key=5)

    def prune_outbox(
        self, now: datetime, *, keep_s: float = OUTBOX_DELIVERED_KEPT_S, keep: int = OUTBOX_DELIVERED_KEPT
    ) -> int:
        """Delete delivered notifications older than `keep_s` or beyond the newest `keep`; returns how many went.

        One transaction per batch, so the checks sharing the lock wait for one batch at most.
        """
        total = 0
        while True:
            with self._transaction() as db:
                pruned = _prune_outbox(db, now, keep_s, keep, OUTBOX_PRUNE_BATCH)
            total += pruned
            if pruned < OUTBOX_PRUNE_BATCH:
                return total

    def mark_all_delivered(self, note_ids: Iterable[str], channel: str, at: datetime, *, receiver: str = "") -> None:
        """Mark a group delivered on one lane in one transaction: one message carried them all."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at = ?, channel = ?, attempts = attempts + 1 "
                "WHERE id = ? AND delivered_at IS NULL",
                [(_utc_text(at), channel, outbox_row_id(note_id, receiver)) for note_id in note_ids],
            )

    def mark_all_failed(
        self, note_ids: Iterable[str], error: str, at: datetime, *, retry_at: datetime, receiver: str = ""
    ) -> None:
        """No channel of the lane took a group: count the attempt on each and keep them queued until `retry_at`."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [(error, _utc_text(retry_at), outbox_row_id(note_id, receiver)) for note_id in note_ids],
            )

    # -- Slack threads ------------------------------------------------------------------

    def thread(self, receiver: str, target_key: str) -> tuple[str, str, datetime] | None:
        """The open incident's thread on a Slack receiver: (channel id, parent ts, when it was opened)."""
        rows = self._query(
            "SELECT channel, ts, opened_at FROM slack_threads WHERE receiver = ? AND target_key = ?",
            (receiver, target_key),
        )
        if not rows:
            return None
        try:
            return str(rows[0][0]), str(rows[0][1]), _aware(datetime.fromisoformat(rows[0][2]))
        except ValueError:
            return None  # a row no version writes: the next alert opens a new thread

    def save_thread(self, receiver: str, target_key: str, channel: str, ts: str, opened_at: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO slack_threads (receiver, target_key, channel, ts, opened_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (receiver, target_key, channel, ts, _utc_text(opened_at)),
            )

    def drop_thread(self, receiver: str, target_key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM slack_threads WHERE receiver = ? AND target_key = ?", (receiver, target_key))

    # -- channel health ------------------------------------------------------------------

    def record_channel_attempt(
        self, channel: str, at: datetime, *, error: str | None = None, permanent: bool = False
    ) -> bool:
        """Record one delivery attempt's result on a channel.

        Returns True exactly once per failure episode: on the first permanent failure since the channel
        last worked, so the caller raises one "channel failed" alert, not one per notification.
        """
        when = _utc_text(at)
        with self._transaction() as db:
            row = db.execute(
                "SELECT failing_since, alerted_at FROM channel_health WHERE channel = ?", (channel,)
            ).fetchone()
            failing_since, alerted_at = (row[0], row[1]) if row else (None, None)
            if error is None:
                db.execute(
                    "INSERT INTO channel_health (channel, last_attempt_at, last_ok_at, attempts) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (channel) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, "
                    "last_ok_at = excluded.last_ok_at, last_error = NULL, permanent = 0, failing_since = NULL, "
                    "alerted_at = NULL, attempts = attempts + 1",
                    (channel, when, when),
                )
                return False
            alert = permanent and alerted_at is None
            db.execute(
                "INSERT INTO channel_health (channel, last_attempt_at, last_error, permanent, failing_since, "
                "attempts, failures, alerted_at) VALUES (?, ?, ?, ?, ?, 1, 1, ?) "
                "ON CONFLICT (channel) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, "
                "last_error = excluded.last_error, permanent = excluded.permanent, "
                "failing_since = excluded.failing_since, alerted_at = excluded.alerted_at, "
                "attempts = attempts + 1, failures = failures + 1",
                (channel, when, error, int(permanent), failing_since or when, when if alert else alerted_at),
            )
            return alert

    def channel_health(self) -> list[ChannelHealth]:
        """Every channel that has been tried, by name."""
        rows = self._query(
            "SELECT channel, last_attempt_at, last_ok_at, last_error, permanent, failing_since, attempts, failures, "
            "alerted_at FROM channel_health ORDER BY channel"
        )
        return self._readable(
            rows,
            lambda row: ChannelHealth(
                channel=row[0],
                last_attempt_at=datetime.fromisoformat(row[1]),
                last_ok_at=_parse_time(row[2]),
                last_error=row[3],
                permanent=bool(row[4]),
                failing_since=_parse_time(row[5]),
                attempts=int(row[6]),
                failures=int(row[7]),
                alerted_at=_parse_time(row[8]),
            ),
            "channel_health",
            "not shown",
        )

    def outbox_depth(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")[0][0])

    def delivered_by_channel(self) -> dict[str, int]:
        """Notifications each channel ever delivered, pruned ones included, so the metric never goes down."""
        rows = self._query(
            "SELECT channel, SUM(n) FROM (SELECT channel, COUNT(*) AS n FROM outbox WHERE delivered_at IS NOT NULL "
            "GROUP BY channel UNION ALL SELECT channel, delivered FROM outbox_pruned) GROUP BY channel"
        )
        totals: dict[str, int] = {}
        for channel, count in rows:
            name = str(channel or "unknown")
            totals[name] = totals.get(name, 0) + int(count)
        return totals

    def undeliverable(self) -> int:
        """Queued notifications that every channel has already refused at least once."""
        return int(self._query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND attempts > 0")[0][0])

    # -- local file positions ---------------------------------------------------------

    def file_positions(self) -> dict[str, FilePosition]:
        return {position.path: position for position in self._load(_FILE_POSITIONS)}

    def save_file_positions(self, positions: Iterable[FilePosition]) -> None:
        """Offsets and the analysis of the lines up to them in one transaction: a crash never splits the two."""
        self._save(_FILE_POSITIONS, positions)

    # -- logcollector counters ---------------------------------------------------------

    def logcollector_counters(self) -> dict[tuple[str, str], LogcollectorCounter]:
        return {(c.agent_id, c.location): c for c in self._load(_LOGCOLLECTOR_COUNTERS)}

    def save_logcollector_counters(self, counters: Iterable[LogcollectorCounter]) -> None:
        self._save(_LOGCOLLECTOR_COUNTERS, counters)

    def _load(self, table: _RowTable[R]) -> list[R]:
        return [table.decode(row) for row in self._query(table.select)]

    def _save(self, table: _RowTable[R], items: Iterable[R]) -> None:
        with self._transaction() as db:
            db.executemany(table.upsert, [table.encode(item) for item in items])

    # -- ad-hoc silences ---------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        """Set (or replace) the silence on its target."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO silences (target_key, until, reason, created_at, created_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target_key) DO UPDATE SET until = excluded.until, reason = excluded.reason, "
                "created_at = excluded.created_at, created_by = excluded.created_by",
                (
                    silence.target_key,
                    _utc_text(silence.until),
                    silence.reason,
                    _utc_text(silence.created_at),
                    silence.created_by,
                ),
            )

    def remove_silence(self, target_key: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM silences WHERE target_key = ?", (target_key,)).rowcount > 0

    def silences(self, now: datetime) -> dict[str, Silence]:
        """Active silences by target key (an ended one is kept in the table but never returned)."""
        rows = self._query("SELECT target_key, until, reason, created_at, created_by FROM silences")
        found = self._readable(
            rows,
            lambda row: Silence(
                row[0], _aware(datetime.fromisoformat(row[1])), row[2], _aware(datetime.fromisoformat(row[3])), row[4]
            ),
            "silences",
            "ignored",
        )
        return {s.target_key: s for s in found if s.until > now}

    # -- removed targets -------------------------------------------------------------------

    def drop_removed(self, configured: Iterable[str], checked_before: datetime) -> list[str]:
        """Forget the states of targets no longer configured and not checked since `checked_before`.

        A removed target is never checked again, so its last check is when it left the configuration
        (or the last time discovery found it): no column of its own is needed to know how long ago.
        """
        keep = set(configured)
        gone = [
            key
            for key, state in self.load_states().items()
            if key not in keep and (state.last_checked is None or state.last_checked < checked_before)
        ]
        if gone:
            with self._transaction() as db:
                db.executemany("DELETE FROM target_state WHERE target_key = ?", [(k,) for k in gone])
                self._states = None
        return sorted(gone)

    # -- rows this version cannot read ----------------------------------------------------

    def _readable(
        self,
        rows: Iterable[tuple[Any, ...]],
        decode: Callable[[tuple[Any, ...]], T],
        table: str,
        outcome: str,
        *,
        key: int = 0,
    ) -> list[T]:
        """Rows decoded; one that cannot be (an older version's severity, a bad time) is logged once and left out.

        A single such row must not stop every command and crash-loop the daemon (a downgrade, a hand edit).
        """
        decoded: list[T] = []
        for row in rows:
            try:
                decoded.append(decode(row))
            except _UNREADABLE as exc:
                name = str(row[key])
                if (table, name) not in self._reported:
                    self._reported.add((table, name))
                    log.error(
                        "state DB %s: %s row %r cannot be read by this version (%s: %s): %s",
                        self.path,
                        table,
                        name,
                        type(exc).__name__,
                        exc,
                        outcome,
                    )
        return decoded


class InstanceLock:
    """An exclusive flock on `<STATE_DB>.lock`, held for the process's life: two monitors on one DB would both alert.

    The daemon keeps it across its periodic re-exec: the descriptor is made inheritable just before `execv`, and
    the new program finds it again (same file, no close-on-exec) instead of leaving a moment where a cron `once`
    could take the lock and make the re-executed daemon exit.
    """

    def __init__(self, state_db: Path) -> None:
        self.state_db = state_db
        self.path = state_db.with_name(state_db.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise InstanceLockedError (another holds it) or StateError (cannot create the file)."""
        try:
            self.path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise StateError(f"cannot create the instance lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            inherited = _inherited_lock(fd)
            if inherited is None:
                holder = _lock_holder(fd)
                os.close(fd)
                raise InstanceLockedError(
                    f"another instance{holder} holds the lock {self.path}: a daemon or another `once` already "
                    f"uses STATE_DB {self.state_db}; two monitors on one state DB would both alert"
                ) from None
            os.close(fd)
            fd = inherited
            os.set_inheritable(fd, False)
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        with contextlib.suppress(OSError):  # the pid is for people reading the file, not for the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def verify(self) -> None:
        """Take the lock again when its path no longer names the locked file (deleted, or another put there).

        A lock on a deleted file locks nothing: a second monitor would create the file afresh, lock it and
        send every alert again. Raises InstanceLockedError when another instance took the new file first
        (then this one must stop).
        """
        if self._fd is None:
            return
        try:
            held = os.fstat(self._fd)
            found = _identity(self.path)
        except OSError:
            return  # the folder cannot be read for a moment: asked again at the next turn
        if found == (held.st_dev, held.st_ino):
            return
        old, self._fd = self._fd, None
        try:
            self.acquire()
        finally:
            os.close(old)
        log.warning(
            "instance lock %s was %s while the monitor ran: taken again",
            self.path,
            "deleted" if found is None else "replaced by another file",
        )

    def keep_across_exec(self) -> None:
        """Let the descriptor (and so the lock) survive the daemon's `execv`."""
        if self._fd is not None:
            os.set_inheritable(self._fd, True)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _inherited_lock(fd: int) -> int | None:
    """A descriptor of the same lock file this program inherited through `execv`, already holding the lock."""
    mine = os.fstat(fd)
    try:
        candidates = sorted(int(name) for name in os.listdir("/proc/self/fd"))
    except OSError:
        candidates = list(range(3, 1024))
    for other in candidates:
        if other == fd:
            continue
        try:
            if not os.get_inheritable(other):
                continue  # opened by this program (close-on-exec), not handed over by the one before
            found = os.fstat(other)
            if (found.st_dev, found.st_ino) != (mine.st_dev, mine.st_ino):
                continue
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # succeeds only if this descriptor holds it
        except OSError:
            continue
        return other
    return None


def _identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path`, None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_dev, found.st_ino)


def _lock_holder(fd: int) -> str:
    """` (pid N)` from the lock file, when the holder wrote it."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


class _CorruptError(sqlite3.DatabaseError):
    """PRAGMA quick_check found damage that opening alone did not."""


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether the file itself is damaged (not a lock, a full disk or a permission): then only a new file helps."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, _CorruptError) or code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _quarantine(path: Path) -> Path:
    """Rename a corrupt DB (and its WAL, which must not be replayed into the new file) to `<name>.corrupt-<UTC>`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def _describe(path: Path, exc: BaseException, timeout: float) -> str:
    """The error, with what to do about the two a person can fix."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = f"state DB {path}: {exc}"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return f"{text} (another process held it for more than {timeout:g} s; is a second monitor using this STATE_DB?)"
    if code == sqlite3.SQLITE_FULL:
        return (
            f"{text} (free space on its file system; the states and alerts being saved were not written, "
            "and the pass stopped there)"
        )
    return text


def _record_transitions(db: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
    """The transitions given, appended (inside commit's transaction); the oldest beyond TRANSITIONS_KEPT go."""
    for change in transitions:
        before = change.from_severity.name if change.from_severity is not None else None
        cursor = db.execute(
            "INSERT INTO transitions (target_key, at, from_severity, to_severity, condition) VALUES (?, ?, ?, ?, ?)",
            (change.target_key, change.at.isoformat(), before, change.to_severity.name, change.condition.value),
        )
        if cursor.lastrowid is not None and cursor.lastrowid % 1000 == 0:
            db.execute("DELETE FROM transitions WHERE id <= ?", (cursor.lastrowid - TRANSITIONS_KEPT,))


def _with_newer_checks(read: dict[str, TargetState], kept: dict[str, TargetState]) -> dict[str, TargetState]:
    """States read from the file, with the later checks (their last events and rate figures) kept in memory."""
    for key, state in kept.items():
        found = read.get(key)
        newer = state.last_checked
        if found is not None and newer is not None and (found.last_checked is None or found.last_checked < newer):
            read[key] = replace(found, **{name: getattr(state, name) for name in _STATE_KEPT_IN_MEMORY})
    return read


_KEYS_PER_QUERY = 2500  # target keys per query: one slice's
# The keys as one JSON array parameter (json_each): no SQL text made from values, and no bound on parameters.
_NORMS_SQL = (
    "SELECT target_key, counts FROM event_hours WHERE day >= ? AND day < ? "
    "AND target_key IN (SELECT value FROM json_each(?))"
)
_PROFILES_SQL = (
    "SELECT target_key, day, counts FROM event_hours WHERE day >= ? AND day < ? "
    "AND target_key IN (SELECT value FROM json_each(?))"
)
_DAYS_KEPT = HISTORY_DAYS + 1  # the baseline's days and the current one


def _hour_counts(blob: bytes) -> array[int]:
    """A day's 24 hourly counts as stored: unsigned 32-bit, little-endian."""
    counts = array("I")
    counts.frombytes(blob[: 24 * counts.itemsize])
    if sys.byteorder != "little":
        counts.byteswap()
    counts.extend([0] * (24 - len(counts)))
    return counts


def _day_blob(counts: array[int]) -> bytes:
    if sys.byteorder != "little":
        counts = array("I", counts)
        counts.byteswap()
    return counts.tobytes()


def _record_hours(db: sqlite3.Connection, hours: Sequence[tuple[str, int, array[int]]]) -> None:
    """Closed hours into each target's day rows (added to what the row holds); days past the baseline's pruned."""
    rows = []
    for key, day, closed in hours:
        found = db.execute("SELECT counts FROM event_hours WHERE target_key = ? AND day = ?", (key, day)).fetchone()
        if found is None:
            rows.append((key, day, _day_blob(closed)))
            continue
        counts = _hour_counts(found[0])
        for slot in range(24):
            counts[slot] = min(0xFFFFFFFF, counts[slot] + closed[slot])
        rows.append((key, day, _day_blob(counts)))
    db.executemany(
        "INSERT INTO event_hours (target_key, day, counts) VALUES (?, ?, ?) "
        "ON CONFLICT (target_key, day) DO UPDATE SET counts = excluded.counts",
        rows,
    )
    newest = max(day for _, day, _ in rows)
    db.execute("DELETE FROM event_hours WHERE day < ?", (newest - _DAYS_KEPT,))


def _hour_text(at: datetime) -> str:
    """The UTC hour's start, as stored (ISO text sorts as time does)."""
    return _aware(at).astimezone(UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def _prune_outbox(db: sqlite3.Connection, now: datetime, keep_s: float, keep: int, batch: int) -> int:
    """Delete delivered rows past either bound (inside the caller's transaction), counting them per channel first."""
    cutoff = _utc_text(now - timedelta(seconds=keep_s))
    # The newest `keep` delivered rows end at this delivery time: older ones go too (ties at it stay).
    row = db.execute(
        "SELECT delivered_at FROM outbox WHERE delivered_at IS NOT NULL ORDER BY delivered_at DESC LIMIT 1 OFFSET ?",
        (max(0, keep - 1),),
    ).fetchone()
    if row is not None:
        cutoff = max(cutoff, str(row[0]))
    # The oldest `batch` of them: a long-unpruned outbox is drained over several commits, none holding the lock long.
    db.execute(
        "INSERT INTO outbox_pruned (channel, delivered) SELECT COALESCE(channel, 'unknown'), COUNT(*) FROM outbox "
        "WHERE rowid IN (SELECT rowid FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ? "
        "ORDER BY delivered_at, rowid LIMIT ?) GROUP BY 1 "
        "ON CONFLICT (channel) DO UPDATE SET delivered = delivered + excluded.delivered",
        (cutoff, batch),
    )
    return db.execute(
        "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox "
        "WHERE delivered_at IS NOT NULL AND delivered_at < ? ORDER BY delivered_at, rowid LIMIT ?)",
        (cutoff, batch),
    ).rowcount


def outbox_row_id(note_id: str, lane: str) -> str:
    """The outbox row of a notification on a lane (the notification's own id on today's chain)."""
    return note_id if not lane else f"{note_id}|{lane}"


def _today_s_chain(note: Notification) -> tuple[str, ...]:
    return ("",)


def _utc_text(at: datetime) -> str:
    """ISO text in UTC, so texts written from any zone compare in time order."""
    return (at if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def _aware(at: datetime) -> datetime:
    """A time from a row: one without a zone (a hand edit) is taken as UTC, as every version writes it."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _now_text(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(
        notification=note_from_json(row[0]),
        attempts=int(row[1]),
        last_error=row[2],
        delivered_at=datetime.fromisoformat(row[3]) if row[3] else None,
        channel=row[4],
        receiver=str(row[6] or "") if len(row) > 6 else "",
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


def _as_is(value: Any) -> Any:
    return value


def _time_or_null(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True)
class _Column:
    """One column of a row table: its name (the row class's field of the same name) and how a value goes in and out."""

    name: str
    encode: Callable[[Any], Any] = _as_is
    decode: Callable[[Any], Any] = _as_is


def _time_column(name: str) -> _Column:
    return _Column(name, _time_or_null, _parse_time)


@dataclass(frozen=True)
class _RowTable(Generic[R]):
    """A table holding one row class: its columns, written once, make the SQL and convert rows both ways."""

    name: str
    key: tuple[str, ...]  # the primary key: a saved row replaces the one with the same key
    row: Callable[..., R]  # takes the decoded columns in order
    columns: tuple[_Column, ...]

    # The names in the SQL are this module's constants, never input: the values all go through "?".
    @property
    def select(self) -> str:
        return f"SELECT {', '.join(column.name for column in self.columns)} FROM {self.name}"  # noqa: S608

    @property
    def upsert(self) -> str:
        names = [column.name for column in self.columns]
        updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in self.key)
        return (
            f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        )

    def decode(self, row: tuple[Any, ...]) -> R:
        return self.row(*(column.decode(value) for column, value in zip(self.columns, row, strict=True)))

    def encode(self, item: R) -> tuple[Any, ...]:
        return tuple(column.encode(getattr(item, column.name)) for column in self.columns)


_FILE_POSITIONS = _RowTable(
    "file_position",
    ("path",),
    FilePosition,
    (
        _Column("path"),
        _Column("inode", decode=int),
        _Column("offset", decode=int),
        _time_column("last_growth"),
        _Column("lines", decode=int),
        _time_column("missing_since"),
        _Column("analysis"),
        _Column("head", decode=bytes),
    ),
)
_LOGCOLLECTOR_COUNTERS = _RowTable(
    "logcollector_counter",
    ("agent_id", "location"),
    LogcollectorCounter,
    (
        _Column("agent_id"),
        _Column("location"),
        _Column("start"),
        _Column("events", decode=int),
        _Column("drops", decode=int),
        _time_column("last_event"),
    ),
)


_UPSERT_STATE = (
    "INSERT INTO target_state (target_key, data, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (target_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
)
_STATE_FIELDS = tuple(f.name for f in fields(TargetState))


def _state_rows(states: Iterable[TargetState]) -> Iterator[tuple[str, str, str]]:
    """target_state rows (key, data, updated_at) of the states, for _UPSERT_STATE."""
    return ((s.target_key, state_to_json(s), _now_text(s.last_checked)) for s in states)


_STATE_TIMES = ("since", "last_event", "last_checked", "last_alert_at", "next_reminder_at", "read_until", "win_from")
_STATE_SEVERITIES = ("severity", "alerted")
_STATE_KEPT_IN_MEMORY = STATE_KEPT_IN_MEMORY


def state_to_json(state: TargetState) -> str:
    # Field by field, not through a generic encoder: every state is written on every pass, by the thousand.
    data: dict[str, object] = {name: getattr(state, name) for name in _STATE_FIELDS}
    for key in _STATE_TIMES:
        when = data[key]
        if isinstance(when, datetime):
            data[key] = when.isoformat()
    for key in _STATE_SEVERITIES:
        data[key] = getattr(state, key).name
    return json.dumps(data)


def state_from_json(text: str) -> TargetState:
    raw = json.loads(text)
    data = {k: v for k, v in raw.items() if k in _STATE_FIELDS}
    for key in _STATE_TIMES:
        data[key] = _aware(datetime.fromisoformat(data[key])) if data.get(key) else None
    for key in _STATE_SEVERITIES:
        data[key] = Severity[data.get(key, "OK")]
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
