"""A monitor loop on a thread with its status server and the simulator it checks (the `start` fixture)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from log_monitor.app import App, build
from log_monitor.clock import SystemClock
from log_monitor.daemon import Daemon as DaemonLoop
from log_monitor.daemon import Signals
from log_monitor.demo import simulator_settings
from log_monitor.httpserve import ServerLimits
from log_monitor.models import Secret, Target
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.status.documents import HEALTH_GRACE_S
from log_monitor.status.http import StatusServer
from tests.helpers import wait_for

TOKEN = "status-token-for-tests"


def agent(agent_id: str, label: str) -> Target:
    return Target.agent(agent_id, label, 1.0, 60.0)


class ShiftedClock(SystemClock):
    """The real clock moved on by `shift_s` seconds: a test ages the latest pass without waiting for it."""

    shift_s = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.shift_s)

    def monotonic(self) -> float:
        return super().monotonic() + self.shift_s


@dataclass
class Running:
    """A monitor loop on a thread, its status server and the simulator it checks."""

    app: App
    server: StatusServer
    sim: SimulatorServer
    signals: Signals
    loop: threading.Thread
    clock: ShiftedClock

    def get(self, path: str, token: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.server.url + path, headers=sent | (headers or {}), timeout=10)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.add_agent("002", "db", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.silence("002", since=now - timedelta(hours=1))
    stops: list[Callable[[], None]] = []

    def factory(
        token: str | None = None,
        channels: list[Notifier] | None = None,
        *,
        limits: ServerLimits | None = None,
        health_grace_s: float = HEALTH_GRACE_S,
    ) -> Running:
        sim = SimulatorServer(fleet).__enter__()
        stops.append(lambda: sim.__exit__(None, None, None))
        settings = simulator_settings(
            sim.api_url,
            sim.indexer_url,
            tmp_path,
            default_check_interval_s=1.0,
            indexing_delay_s=0.0,
            status_addr=("127.0.0.1", 0),
            status_token=Secret(token) if token else None,
        )
        # Retries wait a few milliseconds, not seconds: the "backend down" test stays quick.
        clock = ShiftedClock()
        app = build(
            settings,
            [agent("001", "web"), agent("002", "db")],
            clock=clock,
            channels=channels or [ConsoleNotifier(io.StringIO())],
            sleep=lambda s: time.sleep(min(s, 0.01)),
        )
        assert settings.status_addr is not None
        server = StatusServer(
            app, settings.status_addr, settings.status_token, limits=limits, health_grace_s=health_grace_s
        ).start()
        signals = Signals()
        loop = threading.Thread(
            target=DaemonLoop(app.monitor).run,
            args=(signals,),
            kwargs={"restart_at": time.monotonic() + 600},
            daemon=True,
        )
        loop.start()

        def stop() -> None:
            signals.request_stop()
            loop.join(timeout=10)
            server.close()
            app.close()

        stops.append(stop)
        assert wait_for(lambda: app.monitor.health_snapshot().passes >= 1)
        return Running(app, server, sim, signals, loop, clock)

    yield factory
    for stop in reversed(stops):
        stop()
