"""Small test helpers shared by many test files: a notification, waiting for a condition, a free loopback port."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from log_monitor.app import policy_settings
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.daemon import Daemon
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.policy import PolicySettings
from log_monitor.wazuh.client import Connection

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # the fake clock's start (the `clock` fixture)

_ALERT = Notification(
    id="n1",
    created_at=datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
    kind=NotificationKind.ALERT,
    severity=Severity.CRITICAL,
    target_key="agent:002",
    label="db-primary",
    condition=Condition.DISCONNECTED,
    host="soc-monitor",
    agent_id="002",
    last_event=datetime(2026, 11, 22, 9, 59, 30, tzinfo=UTC),
    silent_for_s=3900.0,
)


def notification(**changes: Any) -> Notification:
    """An ALERT: agent 002 db-primary, CRITICAL, disconnected for 65 min; `changes` replace any field."""
    return replace(_ALERT, **changes)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def free_port() -> int:
    """A loopback port nothing listens on now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def connection(url: str, user: str, password: Secret, options: dict[str, Any]) -> tuple[Connection, dict[str, Any]]:
    """A backend client's Connection from the options that are its fields; the others are the client's own."""
    linked = {f.name: options.pop(f.name) for f in fields(Connection) if f.name in options}
    return Connection(url, user, password, **linked), options


def default_policy(**changes: Any) -> PolicySettings:
    """The policy of a configuration that sets nothing (the key table's defaults), with `changes`."""
    base = policy_settings(Settings(env_file=Path("test.env"), base_dir=Path(".")), host="soc-monitor")
    return replace(base, **changes)


def drive(clock: FakeClock, end: datetime, turn: Callable[[], Daemon]) -> list[Notification]:
    """The daemon's loop on a fake clock until `end`: each turn may script the world, then gives the daemon to tick.

    Returns every notification the ticks queued. The clock jumps to the next due target (at least 1 s).
    """
    sent: list[Notification] = []
    while clock.now() < end:
        daemon = turn()
        result = daemon.tick()
        if result is not None:
            sent.extend(result.notifications)
        wait = (daemon.scheduler.next_due() or 0.0) - clock.monotonic()
        clock.advance(max(wait, 1.0))
    return sent
