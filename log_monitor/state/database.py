"""One SQLite connection shared by the state's tables: opening it (a corrupt file moved aside), transactions, reads."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from log_monitor.errors import StateError
from log_monitor.state.schema import migrate

# The package's name, as before the split: log lines keep naming it (log_monitor.state).
log = logging.getLogger("log_monitor.state")
# What decoding a row written by another version (or by hand) raises; json.JSONDecodeError is a ValueError.
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError)
T = TypeVar("T")


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


class Database:
    """The state file's one connection (WAL) and the lock around it, shared by the store's tables and threads."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        # Where a corrupt DB found at open was moved (a fresh one took its place); app.build tells the team.
        self.quarantined: Path | None = None
        self.lock = threading.Lock()
        self._reported: set[tuple[str, str]] = set()  # unreadable rows already logged: (table, key)
        # The file this connection has open, as (st_dev, st_ino): a different one at the path means it was deleted
        # or replaced under us.
        self._identity: tuple[int, int] | None = None
        try:
            _private_file(path)
            try:
                self.connection = self._open()
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
                self.connection = self._open()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(_describe(path, exc, timeout)) from exc

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL, migrate and check the file's structure (quick_check) before any use."""
        db = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            migrate(db, self.path)
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(3)").fetchall()]
            if problems != ["ok"]:
                raise _CorruptError("; ".join(problems))
            self._identity = identity(self.path)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            try:
                self.connection.execute("BEGIN IMMEDIATE")
                try:
                    yield self.connection
                    self.connection.execute("COMMIT")
                except BaseException:
                    # SQLite rolls back by itself after some errors (a full disk): a second ROLLBACK would fail
                    # and hide the real error. A failed COMMIT leaves the transaction open: end it, or every
                    # later BEGIN on this connection fails too.
                    if self.connection.in_transaction:
                        self.connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StateError(_describe(self.path, exc, self.timeout)) from exc

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.rows(sql, args)

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A query's rows, with the lock already held by the caller."""
        try:
            return list(self.connection.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise StateError(_describe(self.path, exc, self.timeout)) from exc

    def same_file(self) -> bool:
        """Whether the path still names the file this connection has open (not deleted, nor another put there)."""
        try:
            return identity(self.path) == self._identity
        except OSError:
            return False

    def reopen_if_replaced(self, forget: Callable[[], None]) -> bool:
        """Whether the file at the path is no longer the one open (deleted, or another put there); then open that.

        Writing on into a deleted file would lose every later state and alert without a word. `forget` (what the
        caller kept of the old file) is called with the new one open and the lock held.
        """
        try:
            found = identity(self.path)
        except OSError:
            return False  # the folder cannot be read for a moment: the commit itself says what is wrong
        if found == self._identity:
            return False
        with self.lock:
            self.connection.close()  # the last connection to the deleted file: SQLite checkpoints and removes its WAL
            if found is None:
                for suffix in ("-wal", "-shm"):  # what is left belongs to the deleted file: never replay it
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            try:
                self.connection = self._open()
            except (sqlite3.Error, OSError) as exc:
                raise StateError(_describe(self.path, exc, self.timeout)) from exc
            forget()
        log.warning(
            "state DB %s was %s while the monitor ran: opened a fresh one there; the history, silences and queued "
            "notifications in the old file are gone",
            self.path,
            "deleted" if found is None else "replaced by another file",
        )
        return True

    def readable(
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


def identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path`, None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_dev, found.st_ino)


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
