"""The monitor against a simulator that answers as real Wazuh 4.14 and OpenSearch do (shared/wazuh/REALITY.md)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from log_monitor.app import App, build, policy_settings
from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.config.keys import DEFAULT_NON_LOG_LOCATIONS
from log_monitor.demo import simulator_settings
from log_monitor.models import Condition, NotificationKind, Observation, Severity, Target, TargetKind
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.policy import assess
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INTERVAL = 300.0
SYSLOG = "/var/log/syslog"


def agent(agent_id: str, label: str) -> Target:
    return Target.agent(agent_id, label, INTERVAL)


def location(agent_id: str, label: str, where: str) -> Target:
    return Target.agent(agent_id, label, INTERVAL, location=where)


def write_env(folder: Path, **values: str) -> Path:
    path = folder / "test.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


class World:
    """A fleet on a fake clock, the simulator in front of it, and monitors built against it."""

    def __init__(self, folder: Path, start: datetime = NOW) -> None:
        self.clock = FakeClock(start)
        self.fleet = Fleet(now=self.clock.now)
        self.folder = folder
        self.out = io.StringIO()
        self.sim = SimulatorServer(self.fleet, clock=self.clock)

    def app(self, targets: list[Target], **changes: Any) -> App:
        settings = simulator_settings(
            self.sim.api_url, self.sim.indexer_url, self.folder, default_check_interval_s=INTERVAL, **changes
        )
        channels: list[Notifier] = [ConsoleNotifier(self.out)]
        return build(settings, targets, clock=self.clock, sleep=self.clock.advance, channels=channels, host="m")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    with made.sim:
        yield made


def alerts(result: Any) -> list[tuple[str, Condition]]:
    return [(n.target_key, n.condition) for n in result.notifications if n.kind is NotificationKind.ALERT]


# -- §2: alerts that carry an agent's id but are not its logs --------------------------------------------


def test_fim_and_sca_alerts_do_not_keep_an_agent_whose_logs_stopped_looking_alive(world: World) -> None:
    begin = NOW - timedelta(hours=6)
    world.fleet.add_agent("001", "web-1", started=begin, non_log=("syscheck", "sca", "wazuh-monitord"))
    world.fleet.add_agent("002", "db-1", started=begin, non_log=("syscheck",))
    world.fleet.silence("001", since=NOW - timedelta(hours=2))  # its logs stop; FIM and SCA go on
    targets = [agent("001", "web-1"), agent("002", "db-1")]
    with world.app(targets) as app:
        result = app.monitor.run_once()
    rows = {row.target.key: row for row in result.rows}
    # The newest non-log alert is minutes old: counted, it would have called the agent OK.
    assert world.fleet.last_event("001", "syscheck", begin, NOW) is not None
    assert rows["agent:001"].state.severity is Severity.CRITICAL
    assert rows["agent:001"].observation.last_event == world.fleet.last_event("001", SYSLOG, begin, NOW)
    assert rows["agent:002"].state.severity is Severity.OK
    assert alerts(result) == [("agent:001", Condition.SILENT)]
    searched = world.sim.stats.last_search_body
    assert searched is not None
    must_not = searched["query"]["bool"]["must_not"]
    assert {"prefix": {"location": "command_"}} in must_not


def test_an_empty_non_log_locations_counts_every_alert_as_a_sign_of_life(world: World) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=6), non_log=("syscheck",))
    world.fleet.silence("001", since=NOW - timedelta(hours=2))
    with world.app([agent("001", "web-1")], non_log_locations=()) as app:
        result = app.monitor.run_once()
    assert [row.state.severity for row in result.rows] == [Severity.OK]  # what "any alert of this agent" says


def test_files_star_learns_log_locations_only(world: World) -> None:
    world.fleet.add_agent(
        "001", "web-1", locations=(SYSLOG, "/var/log/auth.log"), non_log=("syscheck", "sca", "rootcheck")
    )
    world.clock.advance(60)
    with world.app([agent("001", "web-1"), location("001", "web-1", "*")]) as app:
        learned = sorted(t.location or "" for t in app.monitor.targets if t.kind is TargetKind.LOCATION)
    assert learned == ["/var/log/auth.log", SYSLOG]
    assert set(DEFAULT_NON_LOG_LOCATIONS) >= {"syscheck", "sca", "rootcheck", "wazuh-monitord", "wazuh-remoted"}


# -- §3: Windows event channels ------------------------------------------------------------------------------


def test_a_silent_security_channel_next_to_a_live_system_channel_alerts_for_security_alone(world: World) -> None:
    world.fleet.add_agent(
        "010", "dc-1", locations=("Security", "System"), os_name="Windows", started=NOW - timedelta(hours=6)
    )
    world.fleet.silence("010", "Security", since=NOW - timedelta(hours=1))
    targets = [agent("010", "dc-1"), location("010", "dc-1", "Security"), location("010", "dc-1", "System")]
    with world.app(targets) as app:
        first = app.monitor.run_once()
        world.clock.advance(INTERVAL)
        second = app.monitor.run_once()
    assert alerts(first) == [("agent:010:Security", Condition.SILENT)]
    shown = {row.target.key: row.state.severity for row in second.rows}
    assert shown == {"agent:010": Severity.OK, "agent:010:Security": Severity.CRITICAL, "agent:010:System": Severity.OK}
    # Logcollector names the channel as configured: no "does not read EventChannel" anywhere.
    assert "EventChannel" not in world.out.getvalue()
    assert all("does not read" not in row.observation.detail for row in second.rows)


def test_the_index_holds_windows_events_under_eventchannel_with_the_channel_in_its_own_field(world: World) -> None:
    world.fleet.add_agent("010", "dc-1", locations=("Security",), os_name="Windows", started=NOW - timedelta(hours=1))
    body = {
        "size": 0,
        "aggs": {
            "a": {
                "composite": {
                    "sources": [
                        {"location": {"terms": {"field": "location"}}},
                        {"channel": {"terms": {"field": "data.win.system.channel", "missing_bucket": True}}},
                    ]
                }
            }
        },
    }
    answer = httpx.post(f"{world.sim.indexer_url}/wazuh-alerts-4.x-*/_search", json=body, auth=("admin", "admin"))
    keys = [bucket["key"] for bucket in answer.json()["aggregations"]["a"]["buckets"]]
    assert keys == [{"location": "EventChannel", "channel": "Security"}]
    stats = world.fleet.logcollector_stats("010")["global"]
    assert isinstance(stats, dict) and [f["location"] for f in stats["files"]] == ["Security"]


def test_files_star_on_a_windows_agent_learns_its_channels_not_eventchannel(world: World) -> None:
    world.fleet.add_agent("010", "dc-1", locations=("Security", "System"), os_name="Windows")
    world.clock.advance(60)
    with world.app([location("010", "dc-1", "*")]) as app:
        learned = sorted(t.location or "" for t in app.monitor.targets)
    assert learned == ["Security", "System"]


# -- §4: an index pattern that matches no index --------------------------------------------------------------


def test_a_pattern_matching_no_index_is_one_backend_alert_naming_it_not_a_silence(world: World) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=1))
    with world.app([agent("001", "web-1")], wazuh_index_pattern="wazuh-archives-4.x-*") as app:
        result = app.monitor.run_once()
    assert result.exit_code == 3
    problem = result.backend_errors["indexer"]
    assert "'wazuh-archives-4.x-*' matches no index" in problem and "logall_json" in problem
    assert "aggregation" not in problem
    assert [(n.kind, n.target_key) for n in result.notifications] == [
        (NotificationKind.BACKEND_DOWN, "backend:indexer")
    ]
    assert [row.state.severity for row in result.rows] == [Severity.UNKNOWN]


def test_check_config_connect_says_the_pattern_matches_no_index(world: World, tmp_path: Path) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=1))
    agents_csv = tmp_path / "agents.csv"
    agents_csv.write_text("001,web-1\n")
    env = write_env(
        tmp_path,
        WAZUH_API_URL=world.sim.api_url,
        WAZUH_API_USER="wazuh",
        WAZUH_API_PASSWORD="wazuh",
        WAZUH_INDEXER_URL=world.sim.indexer_url,
        WAZUH_INDEXER_USER="admin",
        WAZUH_INDEXER_PASSWORD="admin",
        WAZUH_INDEX_PATTERN="wazuh-archives-4.x-*",
        AGENT_LIST_FILE=str(agents_csv),
        STATE_DB=str(tmp_path / "s.db"),
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["check-config", "--connect", "--env-file", str(env)], stdout=out, stderr=err)
    assert code == 3
    assert "matches no index" in out.getvalue() and "logall_json" in out.getvalue()


# -- §5: whose clock says the time ---------------------------------------------------------------------------


def test_the_api_sends_a_date_and_the_indexer_does_not(world: World) -> None:
    api = httpx.get(f"{world.sim.api_url}/", headers={})
    indexer = httpx.get(f"{world.sim.indexer_url}/", auth=("admin", "admin"))
    assert api.headers.get("date") == "Sun, 22 Nov 2026 10:00:00 GMT"
    assert "date" not in indexer.headers


class Skewed(FakeClock):
    """The monitor's wall clock, `offset` off the fleet's; its sleeps pass for the fleet too."""

    def __init__(self, fleet_clock: FakeClock, offset: timedelta) -> None:
        super().__init__(NOW + offset)
        self.fleet_clock = fleet_clock

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.fleet_clock.advance(seconds)


def test_a_host_clock_ten_minutes_ahead_judges_nothing_and_says_so_once(world: World) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=1))
    world.fleet.add_agent("002", "db-1", started=NOW - timedelta(hours=1))
    world.clock = Skewed(world.clock, timedelta(minutes=10))
    with world.app([agent("001", "web-1"), agent("002", "db-1")]) as app:
        first = app.monitor.run_once()
        world.clock.advance(60)
        second = app.monitor.run_once()
    assert first.exit_code == 3
    assert "clock is 600 s ahead of the Wazuh manager's" in first.backend_errors["clock"]
    assert [(n.kind, n.target_key) for n in first.notifications] == [(NotificationKind.BACKEND_DOWN, "backend:clock")]
    assert "this host's clock" in world.out.getvalue()
    assert second.notifications == []
    assert {row.state.severity for row in first.rows} == {Severity.UNKNOWN}


# -- INDEXING_DELAY is for indexed events only ---------------------------------------------------------------


def test_indexing_delay_does_not_postpone_a_local_files_silence() -> None:
    written = NOW - timedelta(seconds=5)
    path = "/var/log/app.log"
    target = Target(Target.file_key(path), TargetKind.LOCAL_FILE, "app", 1.0, 2.0, path=path)
    # The table's defaults but for the delay: PolicySettings has none of its own.
    settings = policy_settings(Settings(env_file=Path("x.env"), base_dir=Path("."), indexing_delay_s=30.0), "soc")
    found = assess(target, Observation(target.key, NOW, last_event=written), NOW, settings)
    assert found.severity is Severity.CRITICAL  # 5 s silent >= 2 x a 2 s threshold: the 30 s delay is not subtracted
    assert found.silent_for_s == 5.0
    indexed = Target.agent("001", target.label, target.interval_s, target.threshold_s)
    assert assess(indexed, Observation(indexed.key, NOW, last_event=written), NOW, settings).severity is Severity.OK


def test_a_local_file_silent_for_five_seconds_against_two_alerts_despite_the_indexing_delay(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("one line\n")
    stale = datetime.now(UTC).timestamp() - 5  # last written 5 s ago: its mtime is the file's last event
    os.utime(log, (stale, stale))
    files = tmp_path / "files.csv"
    files.write_text(f"{log},app,2s\n")
    agents_csv = tmp_path / "agents.csv"
    agents_csv.write_text("# no agents: this monitor watches a local file only\n")
    env = write_env(
        tmp_path,
        LOCAL_FILES_LIST=str(files),
        AGENT_LIST_FILE=str(agents_csv),
        INDEXING_DELAY="30s",
        STATE_DB=str(tmp_path / "s.db"),
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["once", "--env-file", str(env)], stdout=out, stderr=err)
    assert code == 2, out.getvalue() + err.getvalue()  # 5 s >= 2 x 2 s: CRITICAL, no 30 s added


# -- the API alone: keepalives are judged ----------------------------------------------------------------------


def test_with_the_api_alone_a_disconnected_agent_alerts_as_disconnected_and_the_pass_says_events_are_not_counted(
    world: World,
) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=1))
    world.fleet.add_agent("002", "db-1", started=NOW - timedelta(hours=1))
    world.fleet.set_status("002", "disconnected", last_keepalive=NOW - timedelta(minutes=20))
    targets = [agent("001", "web-1"), agent("002", "db-1")]
    with world.app(targets, wazuh_indexer_url=None) as app:
        result = app.monitor.run_once()
    shown = {row.target.key: (row.state.severity, row.state.condition) for row in result.rows}
    assert shown == {
        "agent:001": (Severity.OK, Condition.OK),
        "agent:002": (Severity.CRITICAL, Condition.DISCONNECTED),  # 20 min >= 2 x 5 min since its keepalive
    }
    assert alerts(result) == [("agent:002", Condition.DISCONNECTED)]
    assert result.exit_code == 2
    assert any("events are not counted" in note for note in result.notes)


def test_once_with_the_api_alone_prints_that_events_are_not_counted(tmp_path: Path) -> None:
    # `once` runs on this host's clock: the fleet's starts at it, or the clock check would (rightly) refuse.
    world = World(tmp_path, start=datetime.now(UTC))
    world.fleet.add_agent("001", "web-1", started=world.clock.now() - timedelta(hours=1))
    agents_csv = tmp_path / "agents.csv"
    agents_csv.write_text("001,web-1\n")
    out, err = io.StringIO(), io.StringIO()
    with world.sim:
        env = write_env(
            tmp_path,
            WAZUH_API_URL=world.sim.api_url,
            WAZUH_API_USER="wazuh",
            WAZUH_API_PASSWORD="wazuh",
            AGENT_LIST_FILE=str(agents_csv),
            STATE_DB=str(tmp_path / "s.db"),
        )
        code = main(["once", "--env-file", str(env)], stdout=out, stderr=err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert "events are not counted" in out.getvalue()


# -- a source that fails is its backend's alert, never a silent UNKNOWN ------------------------------------


def test_an_api_user_denied_logcollector_statistics_is_one_api_alert_not_a_quiet_unknown(world: World) -> None:
    world.fleet.add_agent("001", "web-1", started=NOW - timedelta(hours=1))
    world.sim.faults.api_stats_denied = True  # RBAC: agent listing allowed, statistics refused (403, error 4000)
    targets = [agent("001", "web-1"), location("001", "web-1", SYSLOG)]
    with world.app(targets, wazuh_indexer_url=None) as app:
        result = app.monitor.run_once()
    assert "logcollector statistics of agent 001" in result.backend_errors["api"]
    assert [(n.kind, n.target_key) for n in result.notifications] == [(NotificationKind.BACKEND_DOWN, "backend:api")]
    rows = {row.target.key: row.state.severity for row in result.rows}
    assert rows == {"agent:001": Severity.OK, "agent:001:/var/log/syslog": Severity.UNKNOWN}
    assert result.exit_code == 3
