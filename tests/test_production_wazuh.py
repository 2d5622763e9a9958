"""Wazuh as it runs in production (REALITY.md §8-§9): restarts, stopped and refused agents, clusters, re-enrolment."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import ConfigError
from log_monitor.models import Condition, Notification, NotificationKind, Severity, Target
from log_monitor.monitor import PassResult
from log_monitor.notifiers.render import fields, plain_text, title
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.targets import load_targets
from tests.monitor_rig import INTERVAL, NOW, Rig, agent

FLEET = [f"{n:03d}" for n in range(1, 7)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    for agent_id in FLEET:
        fleet.add_agent(agent_id, f"web-{agent_id}", started=NOW - timedelta(hours=2))
    made = Rig(clock, tmp_path, fleet)
    with made.sim:
        yield made


def api_only(rig: Rig, targets: list[Target], **changes: Any) -> Any:
    return rig.app(targets, wazuh_indexer_url=None, wazuh_indexer_user=None, wazuh_indexer_password=None, **changes)


def sent(result: PassResult) -> list[tuple[NotificationKind, str]]:
    return [(n.kind, n.target_key) for n in result.notifications]


ALERT = Notification(
    id="n1",
    created_at=NOW,
    kind=NotificationKind.ALERT,
    severity=Severity.CRITICAL,
    target_key="agent:005",
    label="",
    condition=Condition.SILENT,
    host="monitor-1",
    silent_for_s=3600.0,
)
TARGETS = [agent(agent_id, f"web-{agent_id}") for agent_id in FLEET]


# -- item 2: status_code ---------------------------------------------------------------------------------


def test_a_manager_restart_alerts_no_agent_within_restart_grace_api_only(rig: Rig) -> None:
    with api_only(rig, TARGETS) as app:
        assert sent(app.monitor.run_once()) == []
        rig.clock.advance(INTERVAL)
        rig.fleet.restart_manager()  # every agent: disconnected, status_code 5, until its next keepalive
        rig.clock.advance(60)
        during = app.monitor.run_once()
        assert sent(during) == []
        assert {row.state.severity for row in during.rows} == {Severity.UNKNOWN}
        assert "manager restart" in during.rows[0].observation.detail
        rig.fleet.reconnect()
        rig.clock.advance(60)
        after = app.monitor.run_once()
    assert sent(after) == []
    assert after.exit_code == 0


def test_an_agent_still_reset_after_restart_grace_is_alerted_as_disconnected(rig: Rig) -> None:
    with api_only(rig, TARGETS[:1], restart_grace_s=600.0) as app:
        app.monitor.run_once()
        rig.fleet.restart_manager()
        rig.clock.advance(601)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:001")]
    assert result.notifications[0].condition is Condition.DISCONNECTED
    assert "reset by a manager restart" in result.notifications[0].detail


@pytest.mark.parametrize(
    ("code", "words"),
    [(3, "stopped on purpose"), (1, "version is newer than the manager's")],
)
def test_a_stopped_or_refused_agent_is_named_so_in_its_alert(rig: Rig, code: int, words: str) -> None:
    with rig.app(TARGETS[:2]) as app:
        app.monitor.run_once()
        rig.fleet.set_status("002", "disconnected", code=code)
        rig.fleet.silence("002")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:002")]
    assert words in result.notifications[0].detail
    assert words in rig.out.getvalue()


# -- item 8: honest words without the API or the indexer ----------------------------------------------------


def write_env(folder: Path, **values: str) -> Path:
    path = folder / "test.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def test_api_only_once_status_and_check_config_tell_one_truth_keepalive_only(tmp_path: Path) -> None:
    # `once` runs on this host's clock: the fleet starts at it, or the clock check would (rightly) refuse.
    clock = FakeClock(datetime.now(UTC))
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web-1", started=clock.now() - timedelta(hours=1))
    (tmp_path / "agents.csv").write_text("001,web-1\n")
    with SimulatorServer(fleet, clock=clock) as sim:
        env = write_env(
            tmp_path,
            WAZUH_URL=sim.api_url,  # a legacy API URL, as a new user copies it
            USERNAME="wazuh",
            PASSWORD="wazuh",
            AGENT_LIST_FILE=str(tmp_path / "agents.csv"),
            STATE_DB=str(tmp_path / "s.db"),
        )
        once, status, check = io.StringIO(), io.StringIO(), io.StringIO()
        code = main(["once", "--env-file", str(env)], stdout=once, stderr=io.StringIO())
        main(["status", "--env-file", str(env)], stdout=status, stderr=io.StringIO())
        main(["check-config", "--env-file", str(env)], stdout=check, stderr=check)
    assert code == 0, once.getvalue()
    for text in (once.getvalue(), status.getvalue()):
        row = next(line for line in text.splitlines() if line.startswith("agent:001"))
        assert "keepalive only" in row and "not counted" in row and "never" not in row, text
    assert "keepalive alone" in once.getvalue()
    assert "keepalive alone" in check.getvalue() and "UNKNOWN" not in check.getvalue()


def test_indexer_only_a_silence_says_no_events_and_claims_no_connection(rig: Rig) -> None:
    with rig.app(TARGETS[:1], wazuh_api_url=None, wazuh_api_user=None, wazuh_api_password=None) as app:
        app.monitor.run_once()
        rig.fleet.silence("001")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:001")]
    text = plain_text(result.notifications[0])
    assert "State: SILENT: no events" in text
    assert "connected" not in text


def test_with_the_api_a_silence_of_a_connected_agent_says_connected(rig: Rig) -> None:
    with rig.app(TARGETS[:1]) as app:
        app.monitor.run_once()
        rig.fleet.silence("001")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert "State: SILENT: connected, but no events" in plain_text(result.notifications[0])


def test_a_row_without_a_label_is_not_named_twice(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("005,\n")
    (target,) = load_targets(settings_for_files(tmp_path))
    note = replace(ALERT, label=target.label, agent_id="005", target_key=target.key)
    assert "agent 005 agent 005" not in plain_text(note)
    assert title(note).startswith("CRITICAL: agent 005 is ")
    assert ("Agent", "005") in fields(note)


def settings_for_files(folder: Path) -> Settings:
    return Settings(env_file=folder / "t.env", base_dir=folder, agent_list_file=folder / "agents.csv")


def test_agent_000_in_the_agents_file_is_a_configuration_error_that_says_why(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("# the manager\n000,manager\n001,web-1\n")
    with pytest.raises(ConfigError) as caught:
        load_targets(settings_for_files(tmp_path))
    (problem,) = caught.value.problems
    assert f"{tmp_path / 'agents.csv'}:2" in problem
    assert "agent 000 is the Wazuh manager" in problem and "syslog" in problem


def test_check_config_exits_78_for_agent_000(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("0,manager\n")
    env = write_env(tmp_path, AGENT_LIST_FILE=str(tmp_path / "agents.csv"))
    err = io.StringIO()
    assert main(["check-config", "--env-file", str(env)], stdout=io.StringIO(), stderr=err) == 78
    assert "agent 000 is the Wazuh manager" in err.getvalue()


def test_a_never_seen_agent_says_no_event_in_lookback_not_silent_for_7d(rig: Rig) -> None:
    # A location that sends nothing: no event in the whole LOOKBACK.
    quiet = Target.agent("001", "web-001", INTERVAL, location="/var/log/never.log")
    with rig.app([quiet]) as app:
        result = app.monitor.run_once()
    text = plain_text(result.notifications[0])
    assert "no event in the last 7d (LOOKBACK)" in text
    assert "Silent for" not in text


def test_an_agent_wazuh_does_not_know_says_not_registered_in_the_alert_and_in_status(rig: Rig) -> None:
    with rig.app([agent("042", "ghost")]) as app:
        result = app.monitor.run_once()
    text = plain_text(result.notifications[0])
    assert "NOT REGISTERED" in text and "does not know agent id 042" in text
    status = io.StringIO()
    env = write_env(rig.folder, STATE_DB=str(rig.folder / "state.sqlite3"), AGENT_LIST_FILE=str(rig.folder / "a.csv"))
    (rig.folder / "a.csv").write_text("042,ghost\n")
    main(["status", "--env-file", str(env)], stdout=status, stderr=io.StringIO())
    assert "not registered in Wazuh" in status.getvalue()


def test_api_only_an_agent_wazuh_does_not_know_alerts_not_registered(rig: Rig) -> None:
    with api_only(rig, [agent("042", "ghost")]) as app:
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:042")]
    assert "NOT REGISTERED" in title(result.notifications[0])
