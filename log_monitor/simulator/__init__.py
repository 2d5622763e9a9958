"""A Wazuh server API and indexer simulator on loopback, for the demo, the tests and the benchmarks."""

from __future__ import annotations

from log_monitor.simulator.faults import Faults
from log_monitor.simulator.fleet import Fleet, SimAgent
from log_monitor.simulator.server import SimulatorServer
from log_monitor.simulator.stats import SimStats

__all__ = ["Faults", "Fleet", "SimAgent", "SimStats", "SimulatorServer"]
