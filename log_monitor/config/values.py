"""One value's text parsed or checked: durations, agent ids, addresses, host names, log levels, URLs, zones, paths."""

from __future__ import annotations

import contextlib
import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from log_monitor.models import MAX_DURATION_S

# LOGGING_LEVEL 0-3, the original tool's scale: 0 most verbose.
LOGGING_LEVELS_BY_NUMBER = {0: 10, 1: 20, 2: 30, 3: 40}  # DEBUG, INFO, WARNING, ERROR
LOGGING_LEVELS_BY_NAME = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
LOGGING_LEVEL_NAMES = {level: name for name, level in LOGGING_LEVELS_BY_NAME.items() if name != "WARN"}

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)$", re.IGNORECASE)
_UNIT_SECONDS = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `30s`, `15m`, `1h`, `1d`, or a bare number of minutes (`10`, `1.5`), at most 365 days.

    ValueError (with a message fit for a person) otherwise: every caller turns it into a ConfigError or a usage error.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"expected a duration like 30s, 15m, 1h, 1d or a number of minutes, got {_clip(text)!r}")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most 365d, got {_clip(text)!r}")
    return seconds


def _clip(text: str, limit: int = 40) -> str:
    """A value shown in a message, cut short: 400 nines say nothing more than 40."""
    return text if len(text) <= limit else text[:limit] + "..."


def normalize_agent_id(text: str) -> str:
    """A Wazuh agent id, zero-padded to three digits (`1` -> `001`, `1234` stays); ValueError otherwise."""
    stripped = text.strip()
    if not stripped or not stripped.isascii() or not stripped.isdigit() or len(stripped) > 12:
        raise ValueError(f"expected an agent id of digits like 001, got {text!r}")
    return str(int(stripped)).zfill(3)


def parse_host_port(text: str) -> tuple[str, int]:
    if text.strip().startswith(":"):
        text = "127.0.0.1" + text.strip()  # `:PORT` stays on loopback: exposing the status is a choice to write out
    host, sep, port_text = text.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.strip().isdigit():
        raise ValueError(text)
    port = int(port_text)
    if port > 65535:
        raise ValueError(text)
    return host, port


_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def parse_host_names(text: str) -> tuple[str, ...]:
    """`monitor.example.org, monitor`: host names, lower case, without a port."""
    names = tuple(name.strip().lower().rstrip(".") for name in text.split(",") if name.strip())
    if not all(_HOST_NAME.match(name) and len(name) <= 253 for name in names):
        raise ValueError(text)
    return names


def parse_logging_level(text: str) -> int:
    if text.isdigit():
        return LOGGING_LEVELS_BY_NUMBER[int(text)] if int(text) in LOGGING_LEVELS_BY_NUMBER else _bad(text)
    level = LOGGING_LEVELS_BY_NAME.get(text.upper())
    return level if level is not None else _bad(text)


def _bad(text: str) -> int:
    raise ValueError(text)


def parse_syslog_addr(text: str) -> tuple[str, str, int]:
    """`udp://host:514` -> ("udp", "host", 514); ValueError when it is not one."""
    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme.lower() not in ("udp", "tcp"):
        raise ValueError(text)
    host, port = parse_host_port(rest.rstrip("/"))
    return scheme.lower(), host, port


def valid_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def resolve_path(folder: Path, text: str) -> Path:
    """`text` made absolute against `folder`, with `~` expanded where the user exists."""
    path = Path(text)
    # `~nobody` (no such user) is taken literally, and reported where the file must exist.
    with contextlib.suppress(RuntimeError):
        path = path.expanduser()
    return Path(os.path.abspath(folder / path))
