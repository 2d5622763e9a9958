"""`check-config`: where alerts will go, Teams probed without a message, agent ids Wazuh does not know."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from log_monitor.cli import main
from log_monitor.models import Secret
from log_monitor.notifiers.base import Checkable
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.notifiers.teams import TeamsNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.slack_server import SlackServer

TOKEN = "xoxb-check-config-token"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke?sig=TEAMSSECRETSIG"


@dataclass
class Run:
    code: int
    out: str
    err: str


class TeamsHook:
    """A loopback Teams host that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                hook.requests.append((self.command, self.path))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{TEAMS_PATH}"


@dataclass
class Rig:
    folder: Path
    sim: SimulatorServer
    slack: SlackServer
    teams: TeamsHook

    def run(self, *args: str, **env: str) -> Run:
        env_file = write_env(self.folder, self.sim, self.slack, TOKEN, **env)
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), "check-config", *args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=12, started=now - timedelta(hours=2))
    fleet.add_agent("002", "db", rate_per_min=12, started=now - timedelta(hours=2))
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n002,db\n")
    teams = TeamsHook()
    teams.thread.start()
    try:
        with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
            yield Rig(tmp_path, sim, slack, teams)
    finally:
        teams.server.shutdown()
        teams.server.server_close()


def test_check_config_lists_every_channel_alerts_go_to_in_order(rig: Rig) -> None:
    result = rig.run(
        SMTP_HOST="mail.example.org",
        SMTP_FROM="monitor@example.org",
        SMTP_TO="soc@example.org",
        TEAMS_WEBHOOK_URL=rig.teams.url,
    )
    assert result.code == 0, result.out + result.err
    line = next(line for line in result.out.splitlines() if "alerts go to:" in line)
    assert "slack (bot, channel #soc) -> email (SMTP mail.example.org:587, to soc@example.org) -> teams" in line
    assert "TEAMSSECRETSIG" not in result.out
    assert TOKEN not in result.out
    assert "only alert channel" not in result.out


def test_check_config_warns_when_the_console_is_the_only_channel(rig: Rig) -> None:
    result = rig.run(SLACK_BOT_TOKEN="", SLACK_CHANNEL="", SLACK_API_URL="")
    assert result.code == 0, result.out + result.err
    assert "alerts go to: console (stdout)" in result.out
    warning = next(line for line in result.out.splitlines() if "only alert channel" in line)
    assert "/dev/null" in warning
    assert "recorded as delivered" in warning


def test_connect_probes_teams_without_posting_a_message(rig: Rig) -> None:
    result = rig.run("--connect", TEAMS_WEBHOOK_URL=rig.teams.url)
    assert result.code == 0, result.out + result.err
    assert "channel teams: ok" in result.out
    assert "not called" in result.out
    assert rig.teams.requests == [("HEAD", "/")]
    assert "TEAMSSECRETSIG" not in result.out + result.err


def test_connect_names_the_agent_ids_wazuh_does_not_know_and_fails(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text("agent_id,label\n001,web\n002,db\n# a typo below\n0042,ghost\n")
    result = rig.run("--connect")
    assert result.code == 3
    warning = next(line for line in result.out.splitlines() if "not known to the Wazuh API" in line)
    assert "042" in warning
    assert "agents.csv:5" in warning  # the physical line, comment counted
    assert "001" not in warning
    assert "failed" in result.err


def test_connect_accepts_every_listed_agent_that_wazuh_knows(rig: Rig) -> None:
    result = rig.run("--connect")
    assert result.code == 0, result.out + result.err
    assert "not known to the Wazuh API" not in result.out


def test_the_channels_that_can_check_their_connection_say_so_through_one_protocol() -> None:
    slack = SlackNotifier(webhook_url=Secret("https://hooks.slack.com/services/T/B/secret"))
    teams = TeamsNotifier(webhook_url=Secret("https://example.invalid/hook"))
    email = SmtpNotifier(host="127.0.0.1", sender="monitor@example.org", recipients=["soc@example.org"])
    assert all(isinstance(channel, Checkable) for channel in (slack, teams, email))
    assert not isinstance(ConsoleNotifier(), Checkable)  # `check-config --connect` skips it
    teams.close()
