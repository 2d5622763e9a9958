"""A setting's value as check-config and the messages show it: durations in their largest unit, URLs masked."""

from __future__ import annotations

from typing import Any

from log_monitor.config.values import LOGGING_LEVEL_NAMES


def plain(value: Any) -> str:
    """A setting's value as check-config shows it; a URL with its `user:password@` masked."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, str) and "://" in value:
        return shown_url(value)
    return str(value)


def show_duration(seconds: Any) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def show_intervals(intervals: Any) -> str:
    return ",".join(f"{agent}:{show_duration(seconds)}" for agent, seconds in intervals.items())


def show_addr(addr: Any) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def show_syslog_addr(addr: Any) -> str:
    scheme, host, port = addr
    return f"{scheme}://{show_addr((host, port))}"


def shown_url(url: str) -> str:
    """A URL fit for a message: any `user:password@` part masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def show_logging_level(level: Any) -> str:
    return LOGGING_LEVEL_NAMES.get(level, str(level))
