"""The demo and `simulate`: the bundled simulator with a scripted fleet, and the demo's daemon run against it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from log_monitor.clock import SystemClock
from log_monitor.config import Settings
from log_monitor.models import Secret, Target
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.simulator.sinks import Printer, SlackSink, SmtpSink

INTERVAL_S = 5.0
THRESHOLD_S = 15.0
AUTH_LOG = "/var/log/auth.log"
DEMO_TOKEN = "xoxb-demo-token"  # noqa: S105 - the demo's own loopback Slack takes any token
# Two teams: the Linux servers' alerts go to their Slack channel; the domain controllers' to theirs and, as an
# audit trail, by email too. The other agents take the default route (the console).
GROUPS_CSV = "group,interval,threshold,files,maintenance,drop_ratio,route\nlinux-servers,,,,,,linux\ndc,,,,,,identity\n"
ROUTES_CSV = (
    "route,mode,receivers\nlinux,first,slack:#soc-linux\nidentity,all,slack:#soc-identity|email:identity@example.org\n"
)
WORKER = "worker-2"
WORKER_AGENTS = (("011", "app-1"), ("012", "app-2"), ("013", "app-3"))


def _fleet(start: datetime) -> Fleet:
    fleet = Fleet(now=SystemClock().now)
    older = start - timedelta(hours=1)
    fleet.add_agent("001", "web-frontend", locations=("/var/log/syslog", AUTH_LOG), rate_per_min=30, started=older)
    # db-primary's file integrity monitoring and SCA scans keep raising alerts under its id (every 3 s here).
    fleet.add_agent(
        "002",
        "db-primary",
        locations=("/var/log/syslog",),
        rate_per_min=30,
        started=older,
        non_log=("syscheck", "sca"),
        non_log_every_s=3.0,
    )
    # mail-relay is at UTC+8: its logcollector statistics are written in its local time (REALITY.md §1).
    fleet.add_agent(
        "003", "mail-relay", locations=("/var/log/maillog",), rate_per_min=30, started=older, utc_offset_h=8
    )
    fleet.add_agent("004", "fw-edge", locations=("/var/log/syslog",), rate_per_min=30, started=older)
    # A domain controller: its Security and System event channels, indexed as EventChannel (REALITY.md §3).
    fleet.add_agent("005", "dc-01", locations=("Security", "System"), rate_per_min=30, started=older, os_name="Windows")
    # The Wazuh agent groups the teams own (groups.csv and routes.csv send their alerts to them).
    for agent_id, group in (("001", "linux-servers"), ("003", "linux-servers"), ("005", "dc")):
        fleet.set_groups(agent_id, ["default", group])
    # db-primary stays connected but its logs stop, while FIM and SCA go on: still the blind spot.
    fleet.silence("002", since=start)
    # dc-01's Security channel stops (a stuck channel) while System goes on, and comes back: its thread ends RECOVERED.
    fleet.silence("005", "Security", since=start - timedelta(seconds=5))
    fleet.resume("005", "Security", at=start + timedelta(seconds=45))
    # web-frontend keeps sending syslog while its auth.log goes quiet.
    fleet.silence("001", AUTH_LOG, since=start - timedelta(seconds=5))
    # mail-relay was already quiet and comes back half-way through.
    fleet.silence("003", since=start - timedelta(seconds=40))
    fleet.resume("003", at=start + timedelta(seconds=35))
    # fw-edge loses its connection to the manager altogether.
    fleet.silence("004", since=start - timedelta(seconds=10))
    fleet.set_status("004", "disconnected")
    # A worker node of the cluster with three agents dies: one alert names the node, not three.
    for agent_id, name in WORKER_AGENTS:
        fleet.add_agent(agent_id, name, rate_per_min=30, started=older, node=WORKER)
    fleet.leave_cluster(WORKER, at=start - timedelta(seconds=20))
    return fleet


def simulated_fleet(agents: int, silent: int, start: datetime) -> Fleet:
    """`agents` agents sending syslog for an hour already; the last `silent` of them quiet for 40 minutes.

    Forty minutes is past the default threshold x multiplier (15m x 2), so a first `once` shows CRITICAL.
    """
    fleet = Fleet(now=SystemClock().now)
    older = start - timedelta(hours=1)
    for number in range(1, agents + 1):
        agent_id = f"{number:03d}"
        fleet.add_agent(agent_id, f"sim-{agent_id}", locations=("/var/log/syslog",), rate_per_min=30, started=older)
        if number > agents - silent:
            fleet.silence(agent_id, since=start - timedelta(minutes=40))
    return fleet


def _targets() -> list[Target]:
    def agent(agent_id: str, label: str) -> Target:
        return Target.agent(agent_id, label, INTERVAL_S, THRESHOLD_S, origin="demo")

    def location(agent_id: str, label: str, where: str) -> Target:
        return Target.agent(agent_id, label, INTERVAL_S, THRESHOLD_S, location=where, origin="demo")

    return [
        agent("001", "web-frontend"),
        location("001", "web-frontend", AUTH_LOG),
        agent("002", "db-primary"),
        agent("003", "mail-relay"),
        location("003", "mail-relay", "/var/log/maillog"),
        agent("004", "fw-edge"),
        # fw-edge is disconnected: its statistics are not asked, and dc-01's checks after it go on.
        location("004", "fw-edge", "/var/log/syslog"),
        agent("005", "dc-01"),
        location("005", "dc-01", "Security"),
        location("005", "dc-01", "System"),
        *(agent(agent_id, name) for agent_id, name in WORKER_AGENTS),
    ]


def simulator_settings(api_url: str, indexer_url: str, folder: Path, **changes: Any) -> Settings:
    """Settings pointing at a simulator's API and indexer with its default users; state kept in `folder`."""
    options: dict[str, Any] = {
        "env_file": folder / "simulator.env",
        "base_dir": folder,
        "wazuh_api_url": api_url,
        "wazuh_api_user": "wazuh",
        "wazuh_api_password": Secret("wazuh"),
        "wazuh_indexer_url": indexer_url,
        "wazuh_indexer_user": "admin",
        "wazuh_indexer_password": Secret("admin"),
        "state_db": folder / "state.sqlite3",
    }
    options.update(changes)
    return Settings(**options)


def _teams(folder: Path, show: Printer, stack: ExitStack) -> dict[str, Any]:
    """The two teams' routes, with a loopback Slack and SMTP server that print what they receive."""
    slack = stack.enter_context(SlackSink(show))
    mail = stack.enter_context(SmtpSink(show))
    (folder / "groups.csv").write_text(GROUPS_CSV)
    (folder / "routes.csv").write_text(ROUTES_CSV)
    return {
        "groups_file": folder / "groups.csv",
        "routes_file": folder / "routes.csv",
        "slack_bot_token": Secret(DEMO_TOKEN),
        "slack_channel": "#soc",
        "slack_api_url": slack.api_url,
        "smtp_host": "127.0.0.1",
        "smtp_port": mail.port,
        "smtp_security": "none",
        "smtp_from": "log_monitor@example.org",
        "smtp_to": ("soc@example.org",),
    }


@contextmanager
def demo_setup(state_dir: Path | None = None, show: Printer | None = None) -> Iterator[tuple[Settings, list[Target]]]:
    """A running simulator with the scripted fleet, and Settings and Targets pointing at it.

    With `show`, the two teams' routes too: their Slack and email go to loopback servers that print through it.
    """
    start = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="log_monitor-demo-") as tmp, ExitStack() as stack:
        folder = state_dir or Path(tmp)
        teams = _teams(folder, show, stack) if show is not None else {}
        with SimulatorServer(_fleet(start)) as sim:
            yield (
                simulator_settings(
                    sim.api_url,
                    sim.indexer_url,
                    folder,
                    env_file=folder / "demo.env",
                    default_check_interval_s=INTERVAL_S,
                    indexing_delay_s=1.0,
                    reminder_initial_s=20.0,
                    reminder_factor=2.0,
                    reminder_max_s=60.0,
                    state_db=folder / "demo.sqlite3",
                    **teams,
                ),
                _targets(),
            )
