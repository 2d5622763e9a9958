"""The indexer as it runs in production: a partial answer, several nodes, permissions and load (REALITY.md §10)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from log_monitor.clock import FakeClock
from log_monitor.models import NotificationKind, Secret, Severity
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.helpers import connection
from tests.monitor_rig import NOW, Rig, agent

HOUR_AGO = NOW - timedelta(hours=1)
TARGETS = [agent("001", "web"), agent("002", "db"), agent("003", "mail")]


@pytest.fixture
def fleet(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    for number, label in (("001", "web"), ("002", "db"), ("003", "mail")):
        fleet.add_agent(number, label, rate_per_min=6, started=NOW - timedelta(hours=3))
    fleet.silence("003", since=NOW - timedelta(minutes=30))  # really silent, as far as the answer shows
    return fleet


def indexer(sim: SimulatorServer, clock: FakeClock, **kwargs: object) -> WazuhIndexer:
    options: dict[str, object] = {"sleep": clock.advance}
    options.update(kwargs)
    linked, own = connection(sim.indexer_url, "admin", Secret("admin"), options)
    return WazuhIndexer(linked, **own)


# -- 3. partial answers ----------------------------------------------------------------------------------------


def test_a_lost_shard_without_failures_is_a_partial_answer_not_a_silence(
    sim: SimulatorServer, clock: FakeClock
) -> None:
    sim.faults.lost_shard_agents = frozenset({"002"})
    with indexer(sim, clock) as client:
        stats = client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert ("002",) not in stats  # its documents were on the lost shard
    assert client.partial == "1 of 6 shards failed"


def test_a_partial_answer_keeps_live_agents_ok_and_makes_the_others_unknown_with_one_backend_alert(
    clock: FakeClock, tmp_path: Path, fleet: Fleet
) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.faults.lost_shard_agents = frozenset({"002"})
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    severities = {row.target.key: row.state.severity for row in result.rows}
    assert severities == {"agent:001": Severity.OK, "agent:002": Severity.UNKNOWN, "agent:003": Severity.UNKNOWN}
    assert result.exit_code == 3
    assert "1 of 6 shards failed" in result.backend_errors["indexer"]
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]
    unknown = next(row for row in result.rows if row.target.key == "agent:002")
    assert "1 of 6 shards failed" in (unknown.observation.incomplete or "")
