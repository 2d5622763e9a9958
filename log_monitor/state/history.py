"""What happened to each target over time: severity transitions, hourly rate points, hourly counts (event_hours)."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from log_monitor.ledger import HISTORY_DAYS, median_norm
from log_monitor.models import Condition, RatePoint, Severity, Transition
from log_monitor.rhythm import Profile, profile
from log_monitor.state.codec import added_days, aware, day_blob, day_counts, hour_text
from log_monitor.state.database import Database

TRANSITIONS_KEPT = 100_000  # the history is for people looking back, not an archive: the oldest rows go

# Rate points older than this are deleted: the page shows the last 24 hours.
RATE_KEPT_S = 48 * 3600.0

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


class History:
    """The history tables: written inside the store's commit, read by the baselines, the rhythm and the pages."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pruned_hour: str | None = None  # the hour old rate points were last deleted in

    def record_rates(self, db: sqlite3.Connection, points: Iterable[RatePoint]) -> None:
        """The rate points given into their hours (the page's 24-hour chart); old hours pruned once an hour."""
        rows = [(p.target_key, hour_text(p.hour), p.events, p.baseline, p.window_s) for p in points]
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
        """A target's hourly rate points from `since` on, oldest first, as the file holds them."""
        rows = self._db.query(
            "SELECT hour, events, baseline, window_s FROM rate_hourly WHERE target_key = ? AND hour >= ? ORDER BY hour",
            (target_key, hour_text(since)),
        )
        return [
            RatePoint(target_key, aware(datetime.fromisoformat(hour)), int(events), float(baseline), float(window))
            for hour, events, baseline, window in rows
        ]

    def norms(self, keys: Iterable[str], hour: int) -> dict[str, tuple[float, int]]:
        """Each target's norm for `hour`: (median events in that hour of the day on the previous days the history
        holds, days of those with events); a target with no history has none."""
        day, slot = divmod(hour, 24)
        values: dict[str, list[int]] = {}
        keys = list(keys)
        with self._db.lock:
            for first in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = json.dumps(keys[first : first + _KEYS_PER_QUERY])
                rows = self._db.rows(_NORMS_SQL, (day - HISTORY_DAYS, day, chunk))
                for key, counts in rows:
                    hours = day_counts(counts)
                    values.setdefault(key, []).append(hours[slot])
        return {key: median_norm(found) for key, found in values.items()}

    def profiles(self, keys: Iterable[str], day: int) -> dict[str, Profile]:
        """Each target's hourly rhythm (log_monitor.rhythm) over the days before `day` that the history holds; a
        target with no history has none."""
        found: dict[str, dict[int, array[int]]] = {}
        keys = list(keys)
        with self._db.lock:
            for first in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = json.dumps(keys[first : first + _KEYS_PER_QUERY])
                for key, held, counts in self._db.rows(_PROFILES_SQL, (day - HISTORY_DAYS, day, chunk)):
                    found.setdefault(key, {})[int(held)] = day_counts(counts)
        made = {key: profile(days) for key, days in found.items()}
        return {key: made_one for key, made_one in made.items() if made_one is not None}

    def hour_counts(self, target_key: str) -> dict[int, int]:
        """A target's counted events by hour index (the history the baselines are made of), for people and tests."""
        rows = self._db.query("SELECT day, counts FROM event_hours WHERE target_key = ?", (target_key,))
        return {day * 24 + slot: n for day, counts in rows for slot, n in enumerate(day_counts(counts))}

    def transitions(self, target_key: str, limit: int = 100) -> list[Transition]:
        """A target's severity changes, newest first."""
        rows = self._db.query(
            "SELECT target_key, at, from_severity, to_severity, condition FROM transitions "
            "WHERE target_key = ? ORDER BY id DESC LIMIT ?",
            (target_key, limit),
        )
        return self._db.readable(
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


def record_transitions(db: sqlite3.Connection, transitions: Iterable[Transition]) -> None:
    """The transitions given, appended (inside commit's transaction); the oldest beyond TRANSITIONS_KEPT go."""
    for change in transitions:
        before = change.from_severity.name if change.from_severity is not None else None
        cursor = db.execute(
            "INSERT INTO transitions (target_key, at, from_severity, to_severity, condition) VALUES (?, ?, ?, ?, ?)",
            (change.target_key, change.at.isoformat(), before, change.to_severity.name, change.condition.value),
        )
        if cursor.lastrowid is not None and cursor.lastrowid % 1000 == 0:
            db.execute("DELETE FROM transitions WHERE id <= ?", (cursor.lastrowid - TRANSITIONS_KEPT,))


def record_hours(db: sqlite3.Connection, hours: Sequence[tuple[str, int, array[int]]]) -> None:
    """Closed hours into each target's day rows (added to what the row holds); days past the baseline's pruned.

    One statement for them all: SQLite adds a day's closed hours to the row it holds (`add_hours`), where a read
    of each row first cost a query per target at every hour's end.
    """
    db.create_function("add_hours", 2, added_days, deterministic=True)
    rows = [(key, day, day_blob(closed)) for key, day, closed in hours]
    db.executemany(
        "INSERT INTO event_hours (target_key, day, counts) VALUES (?, ?, ?) "
        "ON CONFLICT (target_key, day) DO UPDATE SET counts = add_hours(event_hours.counts, excluded.counts)",
        rows,
    )
    newest = max(day for _, day, _ in rows)
    db.execute("DELETE FROM event_hours WHERE day < ?", (newest - _DAYS_KEPT,))
