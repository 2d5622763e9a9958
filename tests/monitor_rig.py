"""The wired-up monitor (app.build) against the simulator with a fake clock, for in-process pass tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from log_monitor.app import App, Tuning, build
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.demo import simulator_settings
from log_monitor.models import MaintenanceWindow, Target
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INTERVAL = 300.0


def agent(agent_id: str, label: str, maintenance: tuple[MaintenanceWindow, ...] = ()) -> Target:
    return Target.agent(agent_id, label, INTERVAL, maintenance=maintenance)


def settings_for(sim: SimulatorServer, folder: Path, **changes: object) -> Settings:
    options: dict[str, object] = {"default_check_interval_s": INTERVAL, **changes}
    return simulator_settings(sim.api_url, sim.indexer_url, folder, **options)


class Rig:
    def __init__(self, clock: FakeClock, folder: Path, fleet: Fleet, **sim_options: object) -> None:
        self.clock = clock
        self.folder = folder
        self.fleet = fleet
        self.sim = SimulatorServer(fleet, clock=clock, **sim_options)  # type: ignore[arg-type]
        self.out = io.StringIO()
        self.tuning = Tuning()  # fault tests shorten the clients' timeouts here

    def app(self, targets: list[Target], **changes: object) -> App:
        settings = settings_for(self.sim, self.folder, **changes)
        return build(
            settings,
            targets,
            clock=self.clock,
            sleep=self.clock.advance,
            channels=[ConsoleNotifier(self.out)],
            host="monitor-1",
            tuning=self.tuning,
        )
