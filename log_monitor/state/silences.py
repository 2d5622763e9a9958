"""Ad-hoc silences: a target's alerts held back until a time, set and lifted by people (the CLI, the page)."""

from __future__ import annotations

from datetime import datetime

from log_monitor.models import Silence
from log_monitor.state.codec import aware, utc_text
from log_monitor.state.database import Database


class Silences:
    """The silences table: an ended silence stays in it but is never returned."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, silence: Silence) -> None:
        """Set (or replace) the silence on its target."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO silences (target_key, until, reason, created_at, created_by) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target_key) DO UPDATE SET until = excluded.until, reason = excluded.reason, "
                "created_at = excluded.created_at, created_by = excluded.created_by",
                (
                    silence.target_key,
                    utc_text(silence.until),
                    silence.reason,
                    utc_text(silence.created_at),
                    silence.created_by,
                ),
            )

    def remove(self, target_key: str) -> bool:
        with self._db.transaction() as db:
            return db.execute("DELETE FROM silences WHERE target_key = ?", (target_key,)).rowcount > 0

    def active(self, now: datetime) -> dict[str, Silence]:
        """Active silences by target key (an ended one is kept in the table but never returned)."""
        rows = self._db.query("SELECT target_key, until, reason, created_at, created_by FROM silences")
        found = self._db.readable(
            rows,
            lambda row: Silence(
                row[0], aware(datetime.fromisoformat(row[1])), row[2], aware(datetime.fromisoformat(row[3])), row[4]
            ),
            "silences",
            "ignored",
        )
        return {s.target_key: s for s in found if s.until > now}
