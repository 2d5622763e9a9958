"""Wazuh as it runs in production (REALITY.md §8-§9): restarts, stopped and refused agents, clusters, re-enrolment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from log_monitor.clock import FakeClock
from log_monitor.models import Condition, NotificationKind, Severity, Target
from log_monitor.monitor import PassResult
from log_monitor.simulator.fleet import Fleet
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
