"""Each event read once: a steady pass reads the span since the last one, a first sight reads LOOKBACK once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from log_monitor.app import App
from log_monitor.clock import FakeClock
from log_monitor.models import Condition, NotificationKind, Severity, Target
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.monitor_rig import NOW, Rig, agent

DELAY = timedelta(seconds=30)  # INDEXING_DELAY's default
LOOKBACK = timedelta(days=7)


def counted(app: App, key: str) -> int:
    """The events a target's ledger holds: its closed hours and the unfinished one."""
    return sum(app.store.hour_counts(key).values()) + app.store.kept_states()[key].hour_events


def busy_fleet(clock: FakeClock, agents: int = 3, started: timedelta = timedelta(days=2)) -> Fleet:
    fleet = Fleet(now=clock.now)
    for number in range(1, agents + 1):
        fleet.add_agent(f"{number:03d}", f"host-{number}", rate_per_min=60, started=NOW - started)
    return fleet


def targets_of(fleet: Fleet) -> list[Target]:
    return [agent(agent_id, f"host-{agent_id}") for agent_id in fleet.agent_ids() if agent_id != "000"]


def visited(sim: SimulatorServer) -> int:
    return sim.stats.indexer_docs_visited


def test_an_event_indexed_up_to_indexing_delay_late_is_counted_once(clock: FakeClock, tmp_path: Path) -> None:
    fleet = busy_fleet(clock, agents=1, started=timedelta(hours=2))
    fleet.indexing_lag = timedelta(seconds=20)  # every event searchable 20 s after its time: within the delay
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim, rig.app(targets_of(fleet), default_check_interval_s=60.0) as app:
        for _ in range(75):  # 75 passes a minute apart: across an hour's end, each read ending 30 s ago
            app.monitor.run_once()
            clock.advance(60)
        last_settled = clock.now() - timedelta(seconds=60) - DELAY
        # Every event before the last read's settled end, each once: none lost to the lag, none read twice.
        truth = fleet.count("001", None, NOW - timedelta(hours=2), last_settled - timedelta(milliseconds=1))
        assert counted(app, "agent:001") == truth


def test_a_three_interval_indexer_outage_leaves_no_gap_and_sends_no_false_alert(
    clock: FakeClock, tmp_path: Path
) -> None:
    fleet = busy_fleet(clock)
    rig = Rig(clock, tmp_path, fleet)
    interval = 300.0
    notes = []
    with rig.sim, rig.app(targets_of(fleet), default_check_interval_s=interval) as app:
        for turn in range(8):
            rig.sim.faults.indexer_mode = "down" if 2 <= turn <= 4 else "ok"
            before, mark = visited(rig.sim), app.store.kept_states().get("agent:001")
            result = app.monitor.run_once()
            notes += result.notifications
            if turn == 5:  # back: the whole gap since the last read (four intervals and the delay), once
                assert mark is not None and mark.read_until is not None
                assert visited(rig.sim) - before == 3 * fleet.count("001", None, mark.read_until, clock.now())
            clock.advance(interval)
        settled = app.store.kept_states()["agent:001"].read_until
        assert settled is not None
        truth = fleet.count("001", None, NOW - timedelta(days=2), settled - timedelta(milliseconds=1))
        assert counted(app, "agent:001") == truth
    kinds = sorted((n.kind, n.target_key) for n in notes)
    assert kinds == [
        (NotificationKind.BACKEND_DOWN, "backend:indexer"),
        (NotificationKind.BACKEND_RESTORED, "backend:indexer"),
    ]


def test_a_lost_state_db_costs_exactly_one_backfill_then_steady_reads(clock: FakeClock, tmp_path: Path) -> None:
    fleet = busy_fleet(clock)
    rig = Rig(clock, tmp_path, fleet)
    week = 3 * fleet.count("001", None, NOW - LOOKBACK, NOW)  # every agent's LOOKBACK
    with rig.sim:
        with rig.app(targets_of(fleet)) as app:
            app.monitor.run_once()
            path = app.store.path
        assert visited(rig.sim) == week
        path.unlink()
        clock.advance(60)
        with rig.app(targets_of(fleet)) as app:
            before = visited(rig.sim)
            app.monitor.run_once()
            assert visited(rig.sim) - before == 3 * fleet.count("001", None, clock.now() - LOOKBACK, clock.now())
            before = visited(rig.sim)
            clock.advance(60)
            app.monitor.run_once()
            assert visited(rig.sim) - before == 3 * 91  # [mark, now]: a minute and the delay, both ends in


def test_a_new_agent_mid_run_costs_a_backfill_of_that_agent_alone(clock: FakeClock, tmp_path: Path) -> None:
    fleet = busy_fleet(clock)
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim, rig.app(targets_of(fleet)) as app:
        app.monitor.run_once()
        clock.advance(60)
        fleet.add_agent("004", "host-004", rate_per_min=60, started=NOW - timedelta(days=3))
        app.monitor.reload_targets([*app.monitor.targets, agent("004", "host-004")])
        before = visited(rig.sim)
        app.monitor.run_once()
        backfill = fleet.count("004", None, clock.now() - LOOKBACK, clock.now())
        assert visited(rig.sim) - before == 3 * 91 + backfill
        body = rig.sim.stats.last_search_body
        assert body is not None
        # The new agent's read asks for it alone (terms on its id), from LOOKBACK.
        assert {"terms": {"agent.id": ["004"]}} in body["query"]["bool"]["filter"]
        assert counted(app, "agent:004") == fleet.count("004", None, NOW - timedelta(days=3), clock.now() - DELAY) - 1


def test_a_silent_agent_is_alerted_at_once_on_first_sight(clock: FakeClock, tmp_path: Path) -> None:
    fleet = busy_fleet(clock)
    fleet.silence("002", since=NOW - timedelta(days=1))
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim, rig.app(targets_of(fleet)) as app:
        rows = {row.target.key: row for row in app.monitor.run_once().rows}
    assert rows["agent:002"].state.severity is Severity.CRITICAL
    assert rows["agent:002"].state.condition is Condition.SILENT
    assert {row.state.severity for key, row in rows.items() if key != "agent:002"} == {Severity.OK}


def test_a_quiet_target_keeps_its_last_event_and_it_only_moves_forward(clock: FakeClock, tmp_path: Path) -> None:
    fleet = busy_fleet(clock)
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim, rig.app(targets_of(fleet)) as app:
        app.monitor.run_once()
        seen = app.store.kept_states()["agent:002"].last_event
        fleet.silence("002", since=clock.now() - timedelta(seconds=1))
        for _ in range(3):
            clock.advance(60)
            app.monitor.run_once()
        # No event in the later reads: the last event is the one the first read found, not "never".
        assert app.store.kept_states()["agent:002"].last_event == seen


def test_a_restart_learns_files_star_from_the_state_and_reads_only_what_came_since(
    clock: FakeClock, tmp_path: Path
) -> None:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web", rate_per_min=60, started=NOW - timedelta(days=2), locations=["/a.log", "/b.log"])
    learner = Target.agent("001", "web", 300.0, location="*")
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim:
        with rig.app([learner]) as app:
            assert sorted(t.key for t in app.monitor.targets) == ["agent:001:/a.log", "agent:001:/b.log"]
            app.monitor.run_once()
        learned_once = visited(rig.sim)
        clock.advance(60)
        fleet.add_agent("001", "web", rate_per_min=60, started=clock.now(), locations=["/c.log"])
        before = visited(rig.sim)
        with rig.app([learner]) as app:  # the hourly re-exec, a reload or a restart: the same state
            keys = sorted(t.key for t in app.monitor.targets)
        # The state's locations, and the new one found in the minute since the last read: not LOOKBACK again.
        assert keys == ["agent:001:/a.log", "agent:001:/b.log", "agent:001:/c.log"]
        assert visited(rig.sim) - before < learned_once / 100
