"""The one-off CLI in-process against the simulator and a fake Slack on loopback (the `rig` fixture)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import Tuning
from log_monitor.cli import main
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.slack_server import SlackServer

API_PASSWORD = "api-Pa55word-xyz"
INDEXER_PASSWORD = "idx-Pa55word-xyz"
SLACK_TOKEN = "xoxb-1111-2222-secrettoken"
AGENTS = "agent_id,label,interval\n001,web-frontend,5m\n002,db-primary,5m\n003,mail-relay,5m\n"


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Rig:
    """A simulator, a fake Slack and an env file pointing at them."""

    folder: Path
    fleet: Fleet
    sim: SimulatorServer
    slack: SlackServer
    now: datetime

    def env(self, **extra: str) -> Path:
        options = {
            "WAZUH_API_PASSWORD": API_PASSWORD,
            "WAZUH_INDEXER_PASSWORD": INDEXER_PASSWORD,
            "LOGGING_LEVEL": "DEBUG",
        }
        return write_env(self.folder, self.sim, self.slack, SLACK_TOKEN, **(options | extra))

    def run(self, *args: str, env: Path | None = None, tuning: Tuning | None = None) -> Run:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env or self.env()), *args], stdout=out, stderr=err, tuning=tuning)
        return Run(code, out.getvalue(), err.getvalue())


def fleet_of_three(now: datetime) -> Fleet:
    fleet = Fleet()
    started = now - timedelta(hours=2)
    fleet.add_agent("001", "web-frontend", rate_per_min=12, started=started)
    fleet.add_agent("002", "db-primary", rate_per_min=12, started=started)
    fleet.add_agent("003", "mail-relay", rate_per_min=12, started=started)
    return fleet


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    now = datetime.now(UTC)
    fleet = fleet_of_three(now)
    (tmp_path / "agents.csv").write_text(AGENTS)
    with (
        SimulatorServer(fleet, api_users={"wazuh": API_PASSWORD}, indexer_users={"admin": INDEXER_PASSWORD}) as sim,
        SlackServer(token=SLACK_TOKEN, channels=("#soc",)) as slack,
    ):
        yield Rig(tmp_path, fleet, sim, slack, now)
