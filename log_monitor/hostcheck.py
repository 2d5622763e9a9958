"""What this user may do with the files and folders it needs, said in words (`check-config`, the env file)."""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
import tempfile
from pathlib import Path


def user_name(uid: int | None = None) -> str:
    """The name of a user id (this process's by default), else the number."""
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _owner_and_mode(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return ""
    return f" (owner {user_name(info.st_uid)}, mode {stat.S_IMODE(info.st_mode):04o})"


def unreadable(path: Path) -> str | None:
    """Why this user cannot read a file, naming the missing permission; None when it can (or it does not exist)."""
    me = user_name()
    for folder in reversed(path.absolute().parents):
        if folder.is_dir() and not os.access(folder, os.X_OK):
            where = f"the folder {folder}{_owner_and_mode(folder)}"
            return f"permission denied: {me} lacks search (x) permission on {where}"
    if path.exists() and not os.access(path, os.R_OK):
        return f"permission denied: {me} lacks read (r) permission on it{_owner_and_mode(path)}"
    return None


def unwritable_folder(folder: Path) -> str | None:
    """Why this user cannot create files in a folder (made on first use if missing); None when it can.

    An existing folder is tried for real (a temporary file, removed at once): a read-only mount or an ACL answers
    that, where the mode bits may not. A missing one must be creatable in its nearest existing parent.
    """
    me = user_name()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if existing != folder:
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"cannot create {folder}: {me} lacks write (w) permission on {existing}{_owner_and_mode(existing)}"
        return None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"{me} cannot create files in {folder}: {reason}{_owner_and_mode(folder)}"
    return None


def unwritable_file(path: Path) -> str | None:
    """Why this user cannot write an existing file or create it in its folder; None when it can."""
    if path.exists():
        with contextlib.suppress(OSError):
            if not os.access(path, os.W_OK):
                return f"{user_name()} lacks write (w) permission on {path}{_owner_and_mode(path)}"
    return unwritable_folder(path.parent)
