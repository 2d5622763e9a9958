"""Shared by the fault suite: how often randomised faults repeat (FAULT_REPEATS; `make faults` sets 50), a fleet."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from log_monitor.simulator.fleet import Fleet

# The fast form runs in `make test`; `make faults` repeats the randomised faults (kill -9, fuzzing) more.
REPEATS = max(1, int(os.environ.get("FAULT_REPEATS") or "5"))
FULL = REPEATS >= 20


def three_hosts_one_silent(folder: Path) -> Fleet:
    """host-001..003 sending for two hours, host-002 silent for the last 40 min, listed in folder/agents.csv."""
    now = datetime.now(UTC)
    fleet = Fleet()
    for agent_id in ("001", "002", "003"):
        fleet.add_agent(agent_id, f"host-{agent_id}", rate_per_min=12, started=now - timedelta(hours=2))
    fleet.silence("002", since=now - timedelta(minutes=40))
    (folder / "agents.csv").write_text("agent_id,label,interval\n001,host-001,5m\n002,host-002,5m\n003,host-003,5m\n")
    return fleet
