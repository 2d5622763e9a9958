"""What the process environment says besides the env file: systemd's notify socket and watchdog, who runs a command."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping


def service_manager(environ: Mapping[str, str] | None = None) -> tuple[str | None, float | None]:
    """systemd's NOTIFY_SOCKET and watchdog interval in seconds (WATCHDOG_USEC), each None when not meant for us."""
    environ = os.environ if environ is None else environ
    socket_path = environ.get("NOTIFY_SOCKET") or None
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process the watchdog is for; a child that inherited the variables is not it.
    mine = not pid or pid == str(os.getpid())
    watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
    return socket_path, watchdog_s


def invoking_user(environ: Mapping[str, str] | None = None) -> str:
    """Who runs a command, for the record (`silences` lists it): the sudo caller, else the login; "" if unknown."""
    env = os.environ if environ is None else environ
    if env.get("SUDO_USER"):
        return env["SUDO_USER"]  # under sudo the login is root: the person is who called sudo
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container's random uid)
        return ""
