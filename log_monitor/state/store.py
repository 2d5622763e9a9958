"""The state store: one object over the state file's tables; it keeps the target states and commits a pass."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from log_monitor.models import STATE_KEPT_IN_MEMORY, Notification, RatePoint, Silence, TargetState, Transition
from log_monitor.rhythm import Profile
from log_monitor.state.channels import ChannelHealth, Channels
from log_monitor.state.codec import aware, hour_text, state_from_json, state_rows
from log_monitor.state.database import Database
from log_monitor.state.history import History, record_hours, record_transitions
from log_monitor.state.outbox import OUTBOX_DELIVERED_KEPT, OUTBOX_DELIVERED_KEPT_S, Outbox, OutboxEntry
from log_monitor.state.positions import FilePosition, LogcollectorCounter, Positions
from log_monitor.state.silences import Silences

_UPSERT_STATE = (
    "INSERT INTO target_state (target_key, data, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (target_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
)
_STATE_KEPT_IN_MEMORY = STATE_KEPT_IN_MEMORY


class StateStore:
    """One SQLite file (WAL) shared by the checking loop and the delivery worker: the tables' one front."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._db = Database(path, timeout)
        self._lock = self._db.lock  # one lock for the connection and the kept states
        # The states as this connection last read or wrote them, and the DB's data_version then: decoding every
        # state on every pass is the largest fixed cost at 100,000 targets, and only other connections (a CLI
        # command, another process) can make the copy stale, which data_version tells.
        self._states: dict[str, TargetState] | None = None
        self._states_version = -1
        self._fresh = False  # the file was replaced and no pass has read its states since: commits write all given
        # `on_reset` makes the notice that tells the team the file was deleted or replaced (app.build sets it).
        self.on_reset: Callable[[], Notification] | None = None
        # The outbox lanes (routes.py) a notification is queued on, one row each; app.build sets a Router's.
        self.lanes_of: Callable[[Notification], Iterable[str]] = _today_s_chain
        self._history = History(self._db)
        self._outbox = Outbox(self._db)
        self._channels = Channels(self._db)
        self._silences = Silences(self._db)
        self._positions = Positions(self._db)

    @property
    def quarantined(self) -> Path | None:
        """Where a corrupt DB found at open was moved (a fresh one took its place); app.build tells the team."""
        return self._db.quarantined

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        version = int(self._db.rows("PRAGMA data_version")[0][0])
        if self._states is None or version != self._states_version:
            rows = self._db.rows("SELECT target_key, data FROM target_state")
            decoded = self._db.readable(rows, lambda row: state_from_json(row[1]), "target_state", "a fresh state")
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
        if self._db.reopen_if_replaced(self._forget_states) and self.on_reset is not None:
            notifications = [*notifications, self.on_reset()]
        if self._fresh:
            # A fresh file: the pass under way judged against states it no longer holds, so all it gives is written.
            written = states
        with self._db.transaction() as db:
            if written:
                db.executemany(_UPSERT_STATE, state_rows(written))
            record_transitions(db, transitions)
            self._history.record_rates(db, rate_points)
            if hours:
                record_hours(db, hours)
            self._outbox.add(db, notifications, self.lanes_of)
            self._outbox.prune_now_and_then(db, now)
        # Only once committed: a failed commit raised above and left the copy as the DB is, rolled back.
        if states:
            with self._lock:
                self._current_states().update((s.target_key, s) for s in states)

    def save_kept(self) -> None:
        """Write every kept state whole, with what it kept in memory (check time, last event, rate figures).

        Called as the daemon stops or re-executes: the next process, and `status`, start from the latest
        figures, not from the file's, up to an hour old. One upsert of every state (about 1 s at 100,000).
        """
        if not self._db.same_file() or self._states is None:
            return  # nothing kept, or the file was replaced: the next commit (or process) starts it afresh
        with self._db.transaction() as db:
            states = list(self._current_states().values())
            db.executemany(_UPSERT_STATE, state_rows(states))

    def _forget_states(self) -> None:
        """The file was replaced: its states are read afresh, and the pass under way writes all it gives."""
        self._states = None
        self._fresh = True

    def rate_points(self, target_key: str, since: datetime) -> list[RatePoint]:
        """A target's hourly rate points from `since` on, oldest first; the latest hour as of its last check."""
        points = self._history.rate_points(target_key, since)
        with self._lock:
            kept = (self._states or {}).get(target_key)
        if kept is None or kept.recent is None or kept.baseline is None or kept.last_checked is None:
            return points
        text = hour_text(kept.last_checked)
        if text < hour_text(since):
            return points
        hour = aware(datetime.fromisoformat(text))
        latest = RatePoint(target_key, hour, kept.recent, kept.baseline, kept.rate_window_s or 0.0)
        return sorted([p for p in points if p.hour != hour] + [latest], key=lambda p: p.hour)

    def queue(self, notifications: Iterable[Notification]) -> None:
        """Add notifications to the outbox (an id already there is kept, not doubled)."""
        self.commit([], notifications)

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
            with self._db.transaction() as db:
                db.executemany("DELETE FROM target_state WHERE target_key = ?", [(k,) for k in gone])
                self._states = None
        return sorted(gone)

    # -- the tables', through the store (its callers' one object) ----------------------------------------------

    def norms(self, keys: Iterable[str], hour: int) -> dict[str, tuple[float, int]]:
        return self._history.norms(keys, hour)

    def profiles(self, keys: Iterable[str], day: int) -> dict[str, Profile]:
        return self._history.profiles(keys, day)

    def hour_counts(self, target_key: str) -> dict[int, int]:
        return self._history.hour_counts(target_key)

    def transitions(self, target_key: str, limit: int = 100) -> list[Transition]:
        return self._history.transitions(target_key, limit)

    def pending(self, limit: int = 100, *, due: datetime | None = None) -> list[OutboxEntry]:
        return self._outbox.pending(limit, due=due)

    def next_attempt_at(self) -> datetime | None:
        return self._outbox.next_attempt_at()

    def recent(self, limit: int = 50, *, target_key: str | None = None) -> list[OutboxEntry]:
        return self._outbox.recent(limit, target_key=target_key)

    def prune_outbox(
        self, now: datetime, *, keep_s: float = OUTBOX_DELIVERED_KEPT_S, keep: int = OUTBOX_DELIVERED_KEPT
    ) -> int:
        return self._outbox.prune(now, keep_s=keep_s, keep=keep)

    def mark_all_delivered(self, note_ids: Iterable[str], channel: str, at: datetime, *, receiver: str = "") -> None:
        self._outbox.mark_all_delivered(note_ids, channel, at, receiver=receiver)

    def mark_all_failed(
        self, note_ids: Iterable[str], error: str, at: datetime, *, retry_at: datetime, receiver: str = ""
    ) -> None:
        self._outbox.mark_all_failed(note_ids, error, at, retry_at=retry_at, receiver=receiver)

    def outbox_depth(self) -> int:
        return self._outbox.depth()

    def delivered_by_channel(self) -> dict[str, int]:
        return self._outbox.delivered_by_channel()

    def undeliverable(self) -> int:
        return self._outbox.undeliverable()

    def thread(self, receiver: str, target_key: str) -> tuple[str, str, datetime] | None:
        return self._channels.thread(receiver, target_key)

    def save_thread(self, receiver: str, target_key: str, channel: str, ts: str, opened_at: datetime) -> None:
        self._channels.save_thread(receiver, target_key, channel, ts, opened_at)

    def drop_thread(self, receiver: str, target_key: str) -> None:
        self._channels.drop_thread(receiver, target_key)

    def record_channel_attempt(
        self, channel: str, at: datetime, *, error: str | None = None, permanent: bool = False
    ) -> bool:
        return self._channels.record_attempt(channel, at, error=error, permanent=permanent)

    def channel_health(self) -> list[ChannelHealth]:
        return self._channels.health()

    def file_positions(self) -> dict[str, FilePosition]:
        return self._positions.file_positions()

    def save_file_positions(self, positions: Iterable[FilePosition]) -> None:
        self._positions.save_file_positions(positions)

    def logcollector_counters(self) -> dict[tuple[str, str], LogcollectorCounter]:
        return self._positions.logcollector_counters()

    def save_logcollector_counters(self, counters: Iterable[LogcollectorCounter]) -> None:
        self._positions.save_logcollector_counters(counters)

    def add_silence(self, silence: Silence) -> None:
        self._silences.add(silence)

    def remove_silence(self, target_key: str) -> bool:
        return self._silences.remove(target_key)

    def silences(self, now: datetime) -> dict[str, Silence]:
        return self._silences.active(now)


def _with_newer_checks(read: dict[str, TargetState], kept: dict[str, TargetState]) -> dict[str, TargetState]:
    """States read from the file, with the later checks (their last events and rate figures) kept in memory."""
    for key, state in kept.items():
        found = read.get(key)
        newer = state.last_checked
        if found is not None and newer is not None and (found.last_checked is None or found.last_checked < newer):
            read[key] = replace(found, **{name: getattr(state, name) for name in _STATE_KEPT_IN_MEMORY})
    return read


def _today_s_chain(note: Notification) -> tuple[str, ...]:
    return ("",)
