"""The fault suites' monitor: six agents, one really silent, clients with a short timeout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from log_monitor.app import Tuning
from log_monitor.clock import FakeClock
from log_monitor.simulator.fleet import Fleet
from tests.monitor_rig import NOW, Rig, agent

TIMEOUT = 0.2  # the clients' timeout here: a hang costs attempts x this, not the production 10-30 s
SILENT = "agent:002"
TARGETS = [agent(f"00{n}", f"host-{n}") for n in range(1, 7)]


def make_rig(tmp_path: Path, **sim_options: object) -> Rig:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    for number in range(1, 7):
        fleet.add_agent(f"00{number}", f"host-{number}", rate_per_min=6, started=NOW - timedelta(hours=3))
    # Really silent, past the 5 min threshold but short of CRITICAL: exactly one alert is right.
    fleet.silence("002", since=NOW - timedelta(seconds=400))
    rig = Rig(clock, tmp_path, fleet, **sim_options)
    rig.sim.faults.hang_s = 0.5
    rig.tuning = Tuning(backend_timeout_s=TIMEOUT)  # a hanging backend fails fast
    return rig
