"""A pass in slices of agents: each observed, judged and committed alone; the pipeline still judged over all."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from log_monitor.app import Tuning
from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon, Outcome, Signals
from log_monitor.models import Notification, NotificationKind, Severity, Target, TargetState
from log_monitor.monitor import slices
from log_monitor.simulator.fleet import Fleet
from tests.monitor_rig import NOW, Rig, agent

SLICE = 3


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    fleet = Fleet.generate(8, now=clock.now, started=NOW - timedelta(hours=3))
    made = Rig(clock, tmp_path, fleet)
    made.tuning = Tuning(indexer_page_size=SLICE)
    with made.sim:
        yield made


def _targets() -> list[Target]:
    return [agent(f"00{n}", f"agent-00{n}") for n in range(1, 9)]


def test_a_pass_commits_one_slice_of_agents_at_a_time_then_the_shared_states(rig: Rig) -> None:
    rig.fleet.silence("005", since=NOW - timedelta(hours=1))
    with rig.app(_targets()) as app:
        commits: list[list[str]] = []
        commit = app.store.commit

        def recorded(
            states: Iterable[TargetState], notifications: Iterable[Notification], *args: Any, **kw: Any
        ) -> None:
            states = list(states)
            commits.append([s.target_key for s in states])
            commit(states, notifications, *args, **kw)

        app.store.commit = recorded  # type: ignore[method-assign]
        result = app.monitor.run_once()
    # 8 agents in slices of 3: each slice's states land alone; the silent agent waits for the pipeline's verdict.
    assert commits[:3] == [
        ["agent:001", "agent:002", "agent:003"],
        ["agent:004", "agent:006"],
        ["agent:007", "agent:008"],
    ]
    assert commits[3] == ["agent:005", "backend:api", "backend:indexer", "backend:clock"]
    # One aggregation page per slice: a slice asks the indexer for its own agents only.
    assert rig.sim.stats.indexer_searches == 3
    assert [n.kind for n in result.notifications] == [NotificationKind.ALERT]
    assert result.exit_code == 2


def test_most_agents_silent_across_slices_is_still_one_pipeline_alert(rig: Rig) -> None:
    for number in range(1, 7):
        rig.fleet.silence(f"00{number}", since=NOW - timedelta(hours=1))
    with rig.app(_targets()) as app:
        result = app.monitor.run_once()
    assert [n.kind for n in result.notifications] == [NotificationKind.PIPELINE_SILENT]
    assert len(result.notifications[0].related) == 6


def test_an_indexer_down_in_the_first_slice_is_not_asked_again_for_the_others(rig: Rig) -> None:
    rig.sim.faults.indexer_mode = "down"
    with rig.app(_targets()) as app:
        asked = rig.sim.stats.indexer_requests  # the field check at start (app.build)
        result = app.monitor.run_once()
    # One request and its two retries (wazuh/retry.py), not three of them for each of the three slices.
    assert rig.sim.stats.indexer_requests - asked == 3
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]


def test_the_daemons_pass_keeps_its_tallies_and_no_rows(rig: Rig) -> None:
    rig.fleet.silence("002", since=NOW - timedelta(hours=1))
    with rig.app(_targets()) as app:
        result = app.monitor.check(app.monitor.targets, keep_rows=False)
    assert result.rows == []
    assert result.severities == {Severity.OK: 7, Severity.CRITICAL: 1}
    assert result.checked == 8
    assert result.exit_code == 2
    assert app.monitor.health_snapshot().checks == 8


def test_a_stop_asked_during_a_pass_ends_it_before_the_next_slice(rig: Rig) -> None:
    with rig.app(_targets()) as app:
        daemon = Daemon(app.monitor)
        signals = Signals()
        signals.request_stop()
        assert daemon.run(signals, restart_at=rig.clock.monotonic() + 600) is Outcome.STOP
        assert app.monitor.stop_asked()  # the pass hears the daemon's SIGTERM
        # The daemon's SIGTERM, as it reaches the pass: here it comes while the first slice is being read.
        searches = rig.sim.stats.indexer_searches
        app.monitor.stop_when(lambda: rig.sim.stats.indexer_searches > searches)
        result = app.monitor.check(app.monitor.targets)
        stored = set(app.store.load_states())
    assert rig.sim.stats.indexer_searches == searches + 1  # the later slices were not asked for
    assert {r.target.key for r in result.rows} == {"agent:001", "agent:002", "agent:003"}
    assert {"agent:004", "agent:008"}.isdisjoint(stored)  # not reached: checked at the next start


_agent_ids = st.one_of(st.none(), st.sampled_from(["001", "002", "003", "004", "005", "006"]))


@given(st.lists(st.tuples(_agent_ids, st.integers(0, 3)), max_size=40), st.integers(1, 4))
def test_slices_hold_every_target_once_in_order_with_at_most_n_agents_each(
    rows: list[tuple[str | None, int]], most: int
) -> None:
    base = Target.agent("001", "x", 60.0)
    batch = [
        replace(base, key=f"t{i}", agent_id=agent_id, path=None if agent_id else f"/var/log/{i}")
        for i, (agent_id, _) in enumerate(rows)
    ]
    parts = list(slices(batch, most))
    assert all(parts)
    local = [t for t in batch if t.agent_id is None]
    flat = [t for part in parts for t in part]
    # Local files (no agent) first, together; the agents' targets after them in their own order.
    assert flat == local + [t for t in batch if t.agent_id is not None]
    for part in parts:
        agents = {t.agent_id for t in part}
        assert None not in agents or agents == {None}
        assert len(agents) <= most or agents == {None}
