"""What delivery keeps per channel besides the outbox: each channel's health and Slack's open incident threads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from log_monitor.state.codec import aware, parse_time, utc_text
from log_monitor.state.database import Database


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


class Channels:
    """The channel_health and slack_threads tables, which the delivery worker writes and the status page reads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- Slack threads ------------------------------------------------------------------

    def thread(self, receiver: str, target_key: str) -> tuple[str, str, datetime] | None:
        """The open incident's thread on a Slack receiver: (channel id, parent ts, when it was opened)."""
        rows = self._db.query(
            "SELECT channel, ts, opened_at FROM slack_threads WHERE receiver = ? AND target_key = ?",
            (receiver, target_key),
        )
        if not rows:
            return None
        try:
            return str(rows[0][0]), str(rows[0][1]), aware(datetime.fromisoformat(rows[0][2]))
        except ValueError:
            return None  # a row no version writes: the next alert opens a new thread

    def save_thread(self, receiver: str, target_key: str, channel: str, ts: str, opened_at: datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO slack_threads (receiver, target_key, channel, ts, opened_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (receiver, target_key, channel, ts, utc_text(opened_at)),
            )

    def drop_thread(self, receiver: str, target_key: str) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM slack_threads WHERE receiver = ? AND target_key = ?", (receiver, target_key))

    # -- channel health ------------------------------------------------------------------

    def record_attempt(self, channel: str, at: datetime, *, error: str | None = None, permanent: bool = False) -> bool:
        """Record one delivery attempt's result on a channel.

        Returns True exactly once per failure episode: on the first permanent failure since the channel
        last worked, so the caller raises one "channel failed" alert, not one per notification.
        """
        when = utc_text(at)
        with self._db.transaction() as db:
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

    def health(self) -> list[ChannelHealth]:
        """Every channel that has been tried, by name."""
        rows = self._db.query(
            "SELECT channel, last_attempt_at, last_ok_at, last_error, permanent, failing_since, attempts, failures, "
            "alerted_at FROM channel_health ORDER BY channel"
        )
        return self._db.readable(
            rows,
            lambda row: ChannelHealth(
                channel=row[0],
                last_attempt_at=datetime.fromisoformat(row[1]),
                last_ok_at=parse_time(row[2]),
                last_error=row[3],
                permanent=bool(row[4]),
                failing_since=parse_time(row[5]),
                attempts=int(row[6]),
                failures=int(row[7]),
                alerted_at=parse_time(row[8]),
            ),
            "channel_health",
            "not shown",
        )
