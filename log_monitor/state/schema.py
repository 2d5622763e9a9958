"""The state DB's tables: the append-only migrations, the schema version they make, and applying them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from log_monitor.errors import StateError

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


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring a file written by this or any older version to SCHEMA_VERSION; refuse one a newer version wrote."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state DB {path} was written by a newer log_monitor (schema {version}, "
            f"this one knows {SCHEMA_VERSION}); upgrade log_monitor or point STATE_DB elsewhere"
        )
    for number in range(version, SCHEMA_VERSION):
        db.executescript(f"BEGIN; {_MIGRATIONS[number]} PRAGMA user_version = {number + 1}; COMMIT;")
