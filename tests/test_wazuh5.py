"""Wazuh 5.0 end to end against the 5.x simulator: its data streams and fields, logs told by queue, fields checked."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.errors import ConfigError
from log_monitor.models import Severity, Target
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.monitor_rig import NOW, Rig, agent
from tests.slack_server import SlackServer
from tests.test_config import load

TARGETS = [agent("001", "web"), agent("002", "db")]


def five_fleet(now: datetime) -> Fleet:
    fleet = Fleet(now=lambda: now)
    fleet.add_agent("001", "web", rate_per_min=6, started=now - timedelta(hours=3))
    # 002's logs fell silent; its FIM and SCA alerts (not logs: queue 56, 112) go on under its id.
    fleet.add_agent("002", "db", rate_per_min=6, started=now - timedelta(hours=3), non_log=("syscheck", "sca"))
    fleet.silence("002", "/var/log/syslog", since=now - timedelta(minutes=40))
    return fleet


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(clock, tmp_path, five_fleet(NOW), schema="5.x")
    with made.sim:
        yield made


def test_auto_reads_a_50_indexer_with_its_fields_and_calls_only_the_silent_agent_silent(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        result = app.monitor.run_once()
        assert app.settings.wazuh_schema == "5.x"
    severities = {row.target.key: row.state.severity for row in result.rows}
    assert severities["agent:001"] is Severity.OK
    assert severities["agent:002"] in (Severity.WARNING, Severity.CRITICAL)  # FIM and SCA are no sign of life
    assert result.backend_errors == {}
    query = str(rig.sim.stats.last_search_body)
    assert "wazuh.agent.id" in query and "@timestamp" in query and "'wazuh.protocol.queue': [49, 102]" in query


def test_4x_field_names_on_a_50_indexer_are_a_configuration_error_naming_the_5x_names(rig: Rig) -> None:
    with pytest.raises(ConfigError) as caught:
        rig.app(TARGETS, wazuh_schema="4.x", wazuh_index_pattern="wazuh-events-v5*")
    problem = caught.value.problems[0]
    assert "maps no field agent.id, timestamp, location" in problem
    assert "set WAZUH_SCHEMA=5.x" in problem and "wazuh.agent.id, @timestamp, wazuh.protocol.location" in problem


def test_once_with_wazuh_schema_5x_against_the_50_simulator(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n002,db\n")
    with (
        SimulatorServer(five_fleet(now), schema="5.x") as sim,
        SlackServer(token="xoxb-t", channels=("#soc",)) as slack,
    ):
        env_file = write_env(tmp_path, sim, slack, "xoxb-t", WAZUH_SCHEMA="5.x", DEFAULT_CHECK_INTERVAL="5m")
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), "once"], stdout=out, stderr=err)
        wrong = write_env(tmp_path, sim, slack, "xoxb-t", WAZUH_SCHEMA="4.x", WAZUH_INDEX_PATTERN="wazuh-events-v5*")
        config_code = main(
            ["--env-file", str(wrong), "once"], stdout=io.StringIO(), stderr=(config_err := io.StringIO())
        )
    assert code == 2, out.getvalue() + err.getvalue()  # 002 CRITICAL (40 min, threshold 5 min), 001 OK
    table = out.getvalue()
    assert "agent:001" in table and "agent:002" in table
    assert config_code == 78
    assert "WAZUH_SCHEMA=5.x" in config_err.getvalue()


def test_with_an_hour_of_retention_a_never_seen_agent_says_since_when_events_are_kept(rig: Rig) -> None:
    rig.sim.retention_s = 2400  # the 5.0 streams' backing indices deleted an hour after rollover: 40 min left
    with rig.app([*TARGETS, agent("003", "new")]) as app:
        result = app.monitor.run_once()
    alert = next(n for n in result.notifications if n.target_key == "agent:003")
    assert "no event since the oldest kept event (40 min ago)" in alert.detail
    row = next(row for row in result.rows if row.target.key == "agent:001")
    assert row.state.severity is Severity.OK


def test_fields_unmapped_after_the_start_make_the_agents_unknown_not_silent(clock: FakeClock, tmp_path: Path) -> None:
    made = Rig(clock, tmp_path, five_fleet(NOW))  # a 4.x indexer at start
    with made.sim, made.app(TARGETS, wazuh_schema="4.x") as app:
        assert app.monitor.run_once().backend_errors == {}
        made.sim.schema = "5.x"  # upgraded under the running monitor: the 4.x names now map nothing
        clock.advance(3601)  # the hourly field check
        result = app.monitor.run_once()
    assert "maps no field" in result.backend_errors["indexer"]
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}


def test_wazuh_schema_5x_presets_the_pattern_and_fields_it_is_not_given(tmp_path: Path) -> None:
    settings = load(tmp_path, "WAZUH_SCHEMA=5.x\nWAZUH_TIMESTAMP_FIELD=event.ingested\n")
    assert settings.wazuh_index_pattern == "wazuh-events-v5*"
    assert (settings.agent_id_field, settings.location_field) == ("wazuh.agent.id", "wazuh.protocol.location")
    assert settings.timestamp_field == "event.ingested"  # a key set wins over the preset


def test_a_windows_channel_row_on_50_is_watched_as_the_agents_windows_events_and_says_why(
    clock: FakeClock, tmp_path: Path
) -> None:
    fleet = five_fleet(NOW)
    fleet.add_agent("004", "dc", windows=True, locations=("Security",), started=NOW - timedelta(hours=3))
    made = Rig(clock, tmp_path, fleet, schema="5.x")
    security = Target.agent("004", "dc", 300.0, location="Security")
    with made.sim, made.app([*TARGETS, security]) as app:
        result = app.monitor.run_once()
    row = next(row for row in result.rows if row.target.key == security.key)
    assert row.state.severity is Severity.OK  # its events are there, indexed as EventChannel
    assert "channels cannot be told apart" in row.observation.detail
