"""The single-instance lock: an flock on `<STATE_DB>.lock`, kept across the daemon's re-exec."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from log_monitor.errors import InstanceLockedError, StateError
from log_monitor.state.database import PRIVATE_FILE, PRIVATE_FOLDER, identity

# The package's name, as before the split: log lines keep naming it (log_monitor.state).
log = logging.getLogger("log_monitor.state")


class InstanceLock:
    """An exclusive flock on `<STATE_DB>.lock`, held for the process's life: two monitors on one DB would both alert.

    The daemon keeps it across its periodic re-exec: the descriptor is made inheritable just before `execv`, and
    the new program finds it again (same file, no close-on-exec) instead of leaving a moment where a cron `once`
    could take the lock and make the re-executed daemon exit.
    """

    def __init__(self, state_db: Path) -> None:
        self.state_db = state_db
        self.path = state_db.with_name(state_db.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise InstanceLockedError (another holds it) or StateError (cannot create the file)."""
        try:
            self.path.parent.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise StateError(f"cannot create the instance lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            inherited = _inherited_lock(fd)
            if inherited is None:
                holder = _lock_holder(fd)
                os.close(fd)
                raise InstanceLockedError(
                    f"another instance{holder} holds the lock {self.path}: a daemon or another `once` already "
                    f"uses STATE_DB {self.state_db}; two monitors on one state DB would both alert"
                ) from None
            os.close(fd)
            fd = inherited
            os.set_inheritable(fd, False)
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        with contextlib.suppress(OSError):  # the pid is for people reading the file, not for the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def verify(self) -> None:
        """Take the lock again when its path no longer names the locked file (deleted, or another put there).

        A lock on a deleted file locks nothing: a second monitor would create the file afresh, lock it and
        send every alert again. Raises InstanceLockedError when another instance took the new file first
        (then this one must stop).
        """
        if self._fd is None:
            return
        try:
            held = os.fstat(self._fd)
            found = identity(self.path)
        except OSError:
            return  # the folder cannot be read for a moment: asked again at the next turn
        if found == (held.st_dev, held.st_ino):
            return
        old, self._fd = self._fd, None
        try:
            self.acquire()
        finally:
            os.close(old)
        log.warning(
            "instance lock %s was %s while the monitor ran: taken again",
            self.path,
            "deleted" if found is None else "replaced by another file",
        )

    def keep_across_exec(self) -> None:
        """Let the descriptor (and so the lock) survive the daemon's `execv`."""
        if self._fd is not None:
            os.set_inheritable(self._fd, True)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _inherited_lock(fd: int) -> int | None:
    """A descriptor of the same lock file this program inherited through `execv`, already holding the lock."""
    mine = os.fstat(fd)
    try:
        candidates = sorted(int(name) for name in os.listdir("/proc/self/fd"))
    except OSError:
        candidates = list(range(3, 1024))
    for other in candidates:
        if other == fd:
            continue
        try:
            if not os.get_inheritable(other):
                continue  # opened by this program (close-on-exec), not handed over by the one before
            found = os.fstat(other)
            if (found.st_dev, found.st_ino) != (mine.st_dev, mine.st_ino):
                continue
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # succeeds only if this descriptor holds it
        except OSError:
            continue
        return other
    return None


def _lock_holder(fd: int) -> str:
    """` (pid N)` from the lock file, when the holder wrote it."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
