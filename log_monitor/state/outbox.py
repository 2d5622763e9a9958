"""The notification outbox: one row per notification and lane, due in order, marked delivered or failed, pruned."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from log_monitor.models import Notification
from log_monitor.state.codec import note_from_json, note_to_json, utc_text
from log_monitor.state.database import Database

# Delivered notifications are kept for the status page's history, within both bounds; undelivered ones always stay.
OUTBOX_DELIVERED_KEPT_S = 30 * 86400.0
OUTBOX_DELIVERED_KEPT = 10_000
OUTBOX_PRUNE_EVERY_S = 600.0  # a commit prunes at most this often (the first commit after opening always does)
OUTBOX_PRUNE_BATCH = 20_000  # rows one commit deletes at most


@dataclass(frozen=True)
class OutboxEntry:
    """A queued notification and what delivery has made of it so far."""

    notification: Notification
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    channel: str | None
    receiver: str = ""  # the lane (routes.py): a receiver, a `first:` chain, or '' for today's chain


class Outbox:
    """The outbox table: a commit adds to it, the delivery worker takes from it, the status page reads it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pruned_mono: float | None = None  # when a commit last pruned the outbox (monotonic)

    def add(
        self,
        db: sqlite3.Connection,
        notifications: Iterable[Notification],
        lanes_of: Callable[[Notification], Iterable[str]],
    ) -> None:
        """Queue each notification once per lane, inside the caller's transaction (an id already there is kept)."""
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

    def prune_now_and_then(self, db: sqlite3.Connection, now: datetime | None) -> None:
        """Delete old delivered rows inside the caller's transaction, at most once every OUTBOX_PRUNE_EVERY_S."""
        if self._pruned_mono is None or time.monotonic() - self._pruned_mono >= OUTBOX_PRUNE_EVERY_S:
            pruned = _prune_outbox(
                db, now or datetime.now(UTC), OUTBOX_DELIVERED_KEPT_S, OUTBOX_DELIVERED_KEPT, OUTBOX_PRUNE_BATCH
            )
            # A full batch means more is waiting: the next commit goes on with it.
            self._pruned_mono = None if pruned >= OUTBOX_PRUNE_BATCH else time.monotonic()

    def pending(self, limit: int = 100, *, due: datetime | None = None) -> list[OutboxEntry]:
        """Undelivered notifications, oldest first; with `due`, only those whose retry time has come.

        With `due`, a notification also waits while an older one of the same target is in backoff: a
        target's notifications are never delivered out of order (a recovery before its alert would leave
        CRITICAL as the channel's last word about a healthy agent). Other targets are not held up.
        """
        if due is None:
            rows = self._db.query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "WHERE delivered_at IS NULL ORDER BY created_at, rowid LIMIT ?",
                (limit,),
            )
        else:
            # ISO texts of UTC datetimes compare in time order, so SQLite can compare them as strings.
            rows = self._db.query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox AS o "
                "WHERE delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox AS p "
                "WHERE p.target_key = o.target_key AND p.receiver = o.receiver AND p.delivered_at IS NULL "
                "AND p.next_attempt_at > ? "
                "AND (p.created_at, p.rowid) <= (o.created_at, o.rowid)) "
                "ORDER BY created_at, rowid LIMIT ?",
                (utc_text(due), limit),
            )
        return self._db.readable(rows, _entry, "outbox", "left in the outbox, not delivered", key=5)

    def next_attempt_at(self) -> datetime | None:
        """The earliest time a queued notification is due again (None: nothing queued).

        Only each target's oldest queued notification counts: the ones behind it wait for it.
        """
        row = self._db.query(
            "SELECT MIN(COALESCE(next_attempt_at, created_at)) FROM outbox AS o WHERE delivered_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.target_key = o.target_key AND p.receiver = o.receiver "
            "AND p.delivered_at IS NULL AND (p.created_at, p.rowid) < (o.created_at, o.rowid))"
        )[0]
        try:
            return datetime.fromisoformat(row[0]) if row[0] else None
        except ValueError:
            # A time no version writes: the row is reported by pending(); the rest are due at once, not never.
            return datetime.now(UTC)

    def recent(self, limit: int = 50, *, target_key: str | None = None) -> list[OutboxEntry]:
        """The newest notifications, delivered or not (of one target when given); read through an index."""
        if target_key is None:
            rows = self._db.query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._db.query(
                "SELECT payload, attempts, last_error, delivered_at, channel, id, receiver FROM outbox "
                "WHERE target_key = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (target_key, limit),
            )
        return self._db.readable(rows, _entry, "outbox", "left in the outbox, not delivered", key=5)

    def prune(
        self, now: datetime, *, keep_s: float = OUTBOX_DELIVERED_KEPT_S, keep: int = OUTBOX_DELIVERED_KEPT
    ) -> int:
        """Delete delivered notifications older than `keep_s` or beyond the newest `keep`; returns how many went.

        One transaction per batch, so the checks sharing the lock wait for one batch at most.
        """
        total = 0
        while True:
            with self._db.transaction() as db:
                pruned = _prune_outbox(db, now, keep_s, keep, OUTBOX_PRUNE_BATCH)
            total += pruned
            if pruned < OUTBOX_PRUNE_BATCH:
                return total

    def mark_all_delivered(self, note_ids: Iterable[str], channel: str, at: datetime, *, receiver: str = "") -> None:
        """Mark a group delivered on one lane in one transaction: one message carried them all."""
        with self._db.transaction() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at = ?, channel = ?, attempts = attempts + 1 "
                "WHERE id = ? AND delivered_at IS NULL",
                [(utc_text(at), channel, outbox_row_id(note_id, receiver)) for note_id in note_ids],
            )

    def mark_all_failed(
        self, note_ids: Iterable[str], error: str, at: datetime, *, retry_at: datetime, receiver: str = ""
    ) -> None:
        """No channel of the lane took a group: count the attempt on each and keep them queued until `retry_at`."""
        with self._db.transaction() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [(error, utc_text(retry_at), outbox_row_id(note_id, receiver)) for note_id in note_ids],
            )

    def depth(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")[0][0])

    def delivered_by_channel(self) -> dict[str, int]:
        """Notifications each channel ever delivered, pruned ones included, so the metric never goes down."""
        rows = self._db.query(
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
        return int(self._db.query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND attempts > 0")[0][0])


def _prune_outbox(db: sqlite3.Connection, now: datetime, keep_s: float, keep: int, batch: int) -> int:
    """Delete delivered rows past either bound (inside the caller's transaction), counting them per channel first."""
    cutoff = utc_text(now - timedelta(seconds=keep_s))
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


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(
        notification=note_from_json(row[0]),
        attempts=int(row[1]),
        last_error=row[2],
        delivered_at=datetime.fromisoformat(row[3]) if row[3] else None,
        channel=row[4],
        receiver=str(row[6] or "") if len(row) > 6 else "",
    )
