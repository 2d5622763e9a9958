"""Where the sources left off: a local file's offset and analysis, an agent location's logcollector counters."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from log_monitor.state.codec import Column, RowTable, time_column
from log_monitor.state.database import Database


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


_FILE_POSITIONS = RowTable(
    "file_position",
    ("path",),
    FilePosition,
    (
        Column("path"),
        Column("inode", decode=int),
        Column("offset", decode=int),
        time_column("last_growth"),
        Column("lines", decode=int),
        time_column("missing_since"),
        Column("analysis"),
        Column("head", decode=bytes),
    ),
)
_LOGCOLLECTOR_COUNTERS = RowTable(
    "logcollector_counter",
    ("agent_id", "location"),
    LogcollectorCounter,
    (
        Column("agent_id"),
        Column("location"),
        Column("start"),
        Column("events", decode=int),
        Column("drops", decode=int),
        time_column("last_event"),
    ),
)

R = TypeVar("R")


class Positions:
    """The file_position and logcollector_counter tables, one row class each, read and saved whole by their source."""

    def __init__(self, db: Database) -> None:
        self._db = db

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

    def _load(self, table: RowTable[R]) -> list[R]:
        return [table.decode(row) for row in self._db.query(table.select)]

    def _save(self, table: RowTable[R], items: Iterable[R]) -> None:
        with self._db.transaction() as db:
            db.executemany(table.upsert, [table.encode(item) for item in items])
