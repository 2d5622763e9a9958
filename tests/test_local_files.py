"""Local log files with real files: growth counted, rotation and truncation followed, missing files reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from log_monitor.models import Target, TargetKind
from log_monitor.sources.local_files import LocalFilesSource
from log_monitor.state import StateStore

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite3") as made:
        yield made


def target(path: Path) -> Target:
    return Target(
        key=Target.file_key(str(path)),
        kind=TargetKind.LOCAL_FILE,
        label="nginx",
        interval_s=60,
        threshold_s=300,
        path=str(path),
    )


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def observe(store: StateStore, path: Path) -> tuple[int | None, datetime | None, str | None]:
    found = LocalFilesSource(store).observe([target(path)], NOW)[Target.file_key(str(path))]
    assert not found.unknown
    return found.events_in_window, found.last_event, found.agent_status


def test_first_sight_counts_nothing_then_new_lines_are_counted(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old\n" * 100)
    assert observe(store, log)[0] == 0
    append(log, b"new\n" * 7)
    count, last, _ = observe(store, log)
    assert count == 7
    assert last is not None
    assert observe(store, log)[0] == 0  # nothing new since


def test_rotation_by_rename_is_not_silence(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n" * 10)
    observe(store, log)
    log.rename(tmp_path / "access.log.1")
    log.write_bytes(b"b\n" * 3)
    assert observe(store, log)[0] == 3


def test_copytruncate_is_followed_from_the_start(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n" * 50)
    observe(store, log)
    with log.open("r+b") as handle:
        handle.truncate(0)
    append(log, b"b\n" * 4)
    assert observe(store, log)[0] == 4


def test_deletion_then_recreation_counts_the_new_file(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    observe(store, log)
    log.unlink()
    assert observe(store, log)[2] == "file missing"
    log.write_bytes(b"c\n" * 2)
    assert observe(store, log)[0] == 2


def test_a_missing_file_is_reported_not_skipped(store: StateStore, tmp_path: Path) -> None:
    count, last, status = observe(store, tmp_path / "never.log")
    assert (count, last, status) == (0, None, "file missing")


def test_invalid_utf8_and_a_one_megabyte_line_are_counted(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "weird.log"
    log.write_bytes(b"")
    observe(store, log)
    append(log, b"\xff\xfe broken \xc3\x28\n" + b"x" * (1 << 20) + b"\n")
    assert observe(store, log)[0] == 2


def test_positions_survive_a_new_process(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n")
    with StateStore(tmp_path / "s.sqlite3") as first:
        observe(first, log)
    append(log, b"b\n" * 5)
    with StateStore(tmp_path / "s.sqlite3") as second:
        assert observe(second, log)[0] == 5


def test_an_unreadable_path_says_why(store: StateStore, tmp_path: Path) -> None:
    # A directory where the file should be cannot be read, even by root.
    odd = tmp_path / "dir.log"
    odd.mkdir()
    count, _, status = observe(store, odd)
    assert count == 0
    assert status
