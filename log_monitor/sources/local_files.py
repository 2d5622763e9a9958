"""Log files on the monitor's own host: silence by growth, rotation-aware, offsets kept in the state DB."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from log_monitor.models import Observation, Target, TargetKind
from log_monitor.state import FilePosition, StateStore

CHUNK = 1 << 20


class LocalFilesSource:
    """Counts the lines appended since the last check; a rotated or truncated file is read from its start."""

    name = "files"

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def handles(self, target: Target) -> bool:
        return target.kind is TargetKind.LOCAL_FILE and target.path is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        mine = [t for t in targets if self.handles(t)]
        if not mine:
            return {}
        known = self._store.file_positions()
        observations: dict[str, Observation] = {}
        updated: list[FilePosition] = []
        for target in mine:
            assert target.path is not None
            observation, position = _observe_file(target, known.get(target.path), now)
            observations[target.key] = observation
            if position is not None:
                updated.append(position)
        self._store.save_file_positions(updated)
        return observations


def _observe_file(
    target: Target, before: FilePosition | None, now: datetime
) -> tuple[Observation, FilePosition | None]:
    assert target.path is not None
    last = before.last_growth if before else None
    try:
        stat = os.stat(target.path)
        with open(target.path, "rb") as handle:
            if before is None:
                # First sight: the file's history is not news; its mtime tells when it last grew.
                grown = datetime.fromtimestamp(stat.st_mtime, UTC) if stat.st_size else None
                position = FilePosition(target.path, stat.st_ino, stat.st_size, grown, 0)
                return Observation(target.key, now, last_event=grown, events_in_window=0), position
            start = before.offset
            # A new inode (rename rotation, re-creation) or a shorter file (copytruncate) starts over at 0.
            if stat.st_ino != before.inode or stat.st_size < before.offset:
                start = 0
            handle.seek(start)
            lines, offset = _count_lines(handle, start)
    except FileNotFoundError:
        # Missing is not "nothing to say": the file is reported silent since it last grew.
        # Inode -1: whatever appears at this path next is new, even if the file system reuses the inode.
        gone = FilePosition(target.path, -1, 0, last, before.lines if before else 0)
        return Observation(target.key, now, last_event=last, events_in_window=0, agent_status="file missing"), gone
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Observation(target.key, now, last_event=last, events_in_window=0, agent_status=reason), before
    if offset > start or (stat.st_ino != before.inode and offset > 0):
        grown = datetime.fromtimestamp(stat.st_mtime, UTC)
        last = max(grown, last) if last else grown
    position = FilePosition(target.path, stat.st_ino, offset, last, before.lines + lines)
    return Observation(target.key, now, last_event=last, events_in_window=lines), position


def _count_lines(handle: BinaryIO, start: int) -> tuple[int, int]:
    """Newlines from `start` to the end, in binary chunks: any bytes, any line length."""
    lines = 0
    offset = start
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            return lines, offset
        lines += chunk.count(b"\n")
        offset += len(chunk)
