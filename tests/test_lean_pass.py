"""A lean pass: only changed states are written, and the API lists only the agents whose status changes a verdict."""

from __future__ import annotations

import gc
import os
import sqlite3
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import App, build
from log_monitor.changes import CHECKED_WRITTEN_EVERY, rate_points, transition, worth_writing
from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon, Outcome, Signals
from log_monitor.demo import simulator_settings
from log_monitor.models import Condition, Severity, Target, TargetKind, TargetState
from log_monitor.monitor import PassResult
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.sources import wazuh_indexer
from log_monitor.state import StateStore
from log_monitor.wazuh.api import AgentInfo

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
FLEET = 10_000


def _rows_written(path: Path) -> dict[str, str]:
    """Each stored state's updated_at, read by a connection of its own (as `status` reads it)."""
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT target_key, updated_at FROM target_state"))


def test_a_state_whose_only_news_is_its_check_time_is_not_worth_writing_but_a_change_is() -> None:
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW, agent_status="active")
    silent = TargetState("agent:002", severity=Severity.WARNING, condition=Condition.SILENT, last_checked=NOW)
    later = NOW + timedelta(minutes=15)
    assert worth_writing(None, ok)  # a new target
    assert not worth_writing(ok, replace(ok, last_checked=later, last_event=later, recent=5, hour_events=9))
    critical = replace(silent, severity=Severity.CRITICAL, last_checked=later)
    assert worth_writing(silent, critical)
    found = transition(silent, critical, later)
    assert found is not None and (found.from_severity, found.to_severity, found.at) == (
        Severity.WARNING,
        Severity.CRITICAL,
        later,
    )
    assert transition(ok, replace(ok, last_checked=later), later) is None
    assert transition(None, ok, NOW) is None  # a first sight that is OK is not a transition


def test_an_unchanged_state_is_worth_writing_at_its_first_check_in_a_new_hour() -> None:
    # The stored check time is at most an hour (and an interval) old, with no stored time kept per target.
    start = NOW + timedelta(minutes=30)
    ok = TargetState("agent:001", last_event=NOW, last_checked=start, agent_status="active")
    for minutes in (15, 29):  # 10:45, 10:59: the same hour
        assert not worth_writing(ok, replace(ok, last_checked=start + timedelta(minutes=minutes)))
    assert worth_writing(ok, replace(ok, last_checked=start + timedelta(minutes=30)))  # 11:00
    eleven = replace(ok, last_checked=start + timedelta(minutes=30))
    assert worth_writing(eleven, replace(ok, last_checked=start + timedelta(minutes=30) + CHECKED_WRITTEN_EVERY))


def test_the_store_writes_the_states_it_is_given_and_keeps_every_one_in_memory(tmp_path: Path) -> None:
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW, agent_status="active")
    silent = TargetState("agent:002", severity=Severity.WARNING, condition=Condition.SILENT, last_checked=NOW)
    later = NOW + timedelta(minutes=15)
    with StateStore(tmp_path / "s.db") as store:
        store.commit([ok, silent], [])  # no `writes`: every state given is written
        moved, critical = (
            replace(ok, last_checked=later),
            replace(silent, severity=Severity.CRITICAL, last_checked=later),
        )
        change = transition(silent, critical, later)
        assert change is not None
        store.commit([moved, critical], [], writes=[critical], transitions=[change])
        assert _rows_written(tmp_path / "s.db") == {"agent:001": NOW.isoformat(), "agent:002": later.isoformat()}
        # The running monitor knows when it last checked; the file learns it with the next change.
        assert store.load_states()["agent:001"].last_checked == later
        assert [t.to_severity for t in store.transitions("agent:002")] == [Severity.CRITICAL]


def test_the_kept_check_time_survives_another_connection_writing(tmp_path: Path) -> None:
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW)
    later = NOW + timedelta(minutes=5)
    with StateStore(tmp_path / "s.db") as store, StateStore(tmp_path / "s.db") as other:
        store.commit([ok], [])
        store.commit([replace(ok, last_checked=later)], [])
        other.commit([TargetState("agent:002", last_checked=NOW)], [])
        states = store.load_states()
        assert states["agent:001"].last_checked == later
        assert set(states) == {"agent:001", "agent:002"}


class Rig:
    """The real monitor (app.build) against a simulator of FLEET agents, on a fake clock."""

    def __init__(self, sim: SimulatorServer, fleet: Fleet, folder: Path, clock: FakeClock, *, indexer: bool) -> None:
        self.sim, self.fleet, self.clock = sim, fleet, clock
        settings = simulator_settings(
            # No rate baselines: the count in a sliding window moves each pass, which is a change of its own.
            sim.api_url,
            sim.indexer_url,
            folder,
            wazuh_api_max_rpm=1000,
            drop_ratio=0.0,
        )
        if not indexer:  # API-only mode: keepalives are all that is judged
            settings = replace(settings, wazuh_indexer_url=None)
        self.targets = [
            Target(
                key=Target.agent_key(agent_id),
                kind=TargetKind.AGENT,
                label=f"agent-{agent_id}",
                interval_s=900.0,
                threshold_s=900.0,
                agent_id=agent_id,
            )
            for agent_id in fleet.agent_ids()
        ]
        self.sink = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
        self.app: App = build(
            settings, self.targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(self.sink)]
        )

    def agent_pages(self) -> int:
        """GET /agents requests the simulator answered so far."""
        return self.sim.stats.api_agents_pages

    def close(self) -> None:
        self.app.close()
        self.sink.close()


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    for number in range(1, FLEET + 1):
        agent_id = f"{number:05d}"
        fleet.add_agent(agent_id, f"agent-{agent_id}", started=NOW - timedelta(hours=2))
    with SimulatorServer(fleet, clock=clock, max_rpm=1_000_000) as sim:
        made = Rig(sim, fleet, tmp_path, clock, indexer=request.param)
        try:
            yield made
        finally:
            made.close()


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [True], indirect=True)
def test_a_pass_over_10000_agents_lists_one_page_of_not_active_agents(rig: Rig) -> None:
    rig.fleet.silence("00007", since=NOW - timedelta(hours=1))
    rig.app.monitor.run_once()
    assert rig.agent_pages() == 20  # the first pass reads everyone: 10,000 agents, 500 a page
    rig.fleet.set_status("00007", "disconnected", last_keepalive=NOW - timedelta(hours=1))
    pages = []
    for _ in range(3):
        rig.clock.advance(300)
        before = rig.agent_pages()
        result = rig.app.monitor.run_once()
        pages.append(rig.agent_pages() - before)
        row = next(r for r in result.rows if r.target.key == "agent:00007")
        assert (row.state.severity, row.state.condition) == (Severity.CRITICAL, Condition.DISCONNECTED)
        assert row.state.agent_status == "disconnected"
        assert {r.state.severity for r in result.rows if r.target.key != "agent:00007"} == {Severity.OK}
    assert pages == [1, 1, 20]  # everyone again once the full listing is FULL_LISTING_EVERY (15 min) old


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [True], indirect=True)
def test_a_pass_where_nothing_changed_writes_no_state_row(rig: Rig) -> None:
    for target in rig.targets:  # no new events, still within the threshold: every verdict stays as it was
        assert target.agent_id is not None
        rig.fleet.silence(target.agent_id, since=NOW - timedelta(seconds=30))
    rig.app.monitor.run_once()
    first = _rows_written(rig.app.store.path)
    rig.clock.advance(60)
    rig.app.monitor.run_once()
    assert _rows_written(rig.app.store.path) == first
    assert rig.app.store.load_states()["agent:00001"].last_checked == NOW + timedelta(seconds=60)


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [True], indirect=True)
def test_a_pass_where_only_the_agents_last_events_moved_writes_no_state_row_until_the_hour_turns(rig: Rig) -> None:
    # A live fleet: every agent's events go on between passes (the simulator's clock is the pass's).
    rig.app.monitor.run_once()
    first = _rows_written(rig.app.store.path)
    rig.clock.advance(60)
    rig.app.monitor.run_once()
    assert _rows_written(rig.app.store.path) == first
    kept = rig.app.store.load_states()["agent:00001"]
    assert kept.last_event is not None and kept.last_event > NOW - timedelta(seconds=60)  # the live one, in memory
    with StateStore(rig.app.store.path) as reader:  # as `status` reads the file: the first pass's
        filed = reader.load_states()["agent:00001"].last_event
    assert filed is not None and filed <= NOW
    rig.clock.advance(3600)  # the first check in a new hour writes every state, with its latest last event
    rig.app.monitor.run_once()
    with StateStore(rig.app.store.path) as reader:
        stored = reader.load_states()["agent:00001"]
    assert stored.last_event == rig.app.store.load_states()["agent:00001"].last_event
    assert stored.last_event is not None and stored.last_event > NOW + timedelta(minutes=60)


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [False], indirect=True)
def test_without_an_indexer_a_disconnected_agent_is_judged_by_its_keepalive(rig: Rig) -> None:
    rig.app.monitor.run_once()
    rig.fleet.set_status("00042", "disconnected", last_keepalive=NOW - timedelta(minutes=20))
    rig.clock.advance(300)
    before = rig.agent_pages()
    result = rig.app.monitor.run_once()
    assert rig.agent_pages() - before == 1
    row = next(r for r in result.rows if r.target.key == "agent:00042")
    assert (row.state.severity, row.state.condition) == (Severity.WARNING, Condition.DISCONNECTED)
    assert row.observation.last_keepalive == NOW - timedelta(minutes=20)  # 25 min before the pass; threshold 15
    assert {r.state.severity for r in result.rows if r.target.key != "agent:00042"} == {Severity.OK}


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [True], indirect=True)
def test_an_agent_id_never_listed_brings_the_full_listing_at_once(rig: Rig) -> None:
    rig.app.monitor.run_once()
    rig.clock.advance(60)
    before = rig.agent_pages()
    newcomer = replace(rig.targets[0], key=Target.agent_key("99999"), label="newcomer", agent_id="99999")
    rows = rig.app.monitor.check([*rig.targets[:10], newcomer]).rows
    assert rig.agent_pages() - before == 20
    assert next(r for r in rows if r.target.key == newcomer.key).state.agent_status == "not registered"
    rig.clock.advance(60)
    before = rig.agent_pages()
    rig.app.monitor.check([*rig.targets[:10], newcomer])
    assert rig.agent_pages() - before == 1  # asked once: it is not registered, not news


def commit_as_judged(store: StateStore, states: list[TargetState]) -> None:
    """The states committed with what the judge decides of them (log_monitor.changes), as a pass commits them."""
    kept = store.kept_states()
    before = {s.target_key: kept.get(s.target_key) for s in states}
    at = [s.last_checked or NOW for s in states]
    store.commit(
        states,
        [],
        writes=[s for s in states if worth_writing(before[s.target_key], s)],
        transitions=[t for s, now in zip(states, at, strict=True) if (t := transition(before[s.target_key], s, now))],
        rate_points=[p for s in states for p in rate_points(before[s.target_key], s)],
    )


def test_a_commit_where_only_the_check_time_and_rate_figures_moved_writes_no_state_row(tmp_path: Path) -> None:
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW, recent=590, baseline=600.0, rate_window_s=900.0)
    later = replace(ok, last_checked=NOW + timedelta(minutes=1), recent=584, baseline=601.5)
    with StateStore(tmp_path / "s.db") as store:
        commit_as_judged(store, [ok])
        commit_as_judged(store, [later])
        assert _rows_written(tmp_path / "s.db") == {"agent:001": NOW.isoformat()}
        # The running monitor shows the latest figures; the file gets them with the next change.
        assert store.load_states()["agent:001"] == later
        assert [(p.events, p.baseline) for p in store.rate_points("agent:001", NOW)] == [(584, 601.5)]
        changed = replace(later, last_checked=NOW + timedelta(minutes=2), agent_name="renamed")  # a change
        commit_as_judged(store, [changed])
        assert _rows_written(tmp_path / "s.db") == {"agent:001": (NOW + timedelta(minutes=2)).isoformat()}
    with StateStore(tmp_path / "s.db") as reopened:
        assert reopened.load_states()["agent:001"] == changed


def test_the_kept_rate_figures_and_last_event_survive_another_connection_writing(tmp_path: Path) -> None:
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW, recent=590, baseline=600.0, rate_window_s=900.0)
    moved = NOW + timedelta(seconds=50)
    later = replace(ok, last_checked=NOW + timedelta(minutes=1), last_event=moved, recent=584, baseline=601.5)
    with StateStore(tmp_path / "s.db") as store, StateStore(tmp_path / "s.db") as other:
        commit_as_judged(store, [ok])
        commit_as_judged(store, [later])
        other.commit([TargetState("agent:002", last_checked=NOW)], [])
        assert store.load_states()["agent:001"] == later


def test_the_kept_check_times_last_events_and_rates_are_written_whole_when_the_daemon_stops(tmp_path: Path) -> None:
    # Else the next process (an hourly re-exec) would start from the file's, up to an hour old: a healthy
    # agent's silence gauge would read an hour until its first check.
    ok = TargetState("agent:001", last_event=NOW, last_checked=NOW, recent=590, baseline=600.0, rate_window_s=900.0)
    later = replace(ok, last_checked=NOW + timedelta(minutes=1), last_event=NOW + timedelta(seconds=50), recent=584)
    with StateStore(tmp_path / "s.db") as store:
        commit_as_judged(store, [ok])
        commit_as_judged(store, [later])
        assert _rows_written(tmp_path / "s.db") == {"agent:001": NOW.isoformat()}
        store.save_kept()
    with StateStore(tmp_path / "s.db") as reopened:
        assert reopened.load_states()["agent:001"] == later


def test_each_hour_of_the_rate_chart_ends_with_its_last_check(tmp_path: Path) -> None:
    first = TargetState("agent:001", last_event=NOW, last_checked=NOW, recent=590, baseline=600.0, rate_window_s=900.0)
    last_of_hour = replace(first, last_checked=NOW + timedelta(minutes=59), recent=500)
    next_hour = replace(first, last_checked=NOW + timedelta(minutes=61), recent=480)
    with StateStore(tmp_path / "s.db") as store:
        for state in (first, last_of_hour, next_hour):
            commit_as_judged(store, [state])
        assert [(p.hour, p.events) for p in store.rate_points("agent:001", NOW)] == [
            (NOW, 500),
            (NOW + timedelta(hours=1), 480),
        ]
    with sqlite3.connect(tmp_path / "s.db") as db:  # the file: the latest hour as of its first check so far
        assert list(db.execute("SELECT hour, events FROM rate_hourly ORDER BY hour")) == [
            (NOW.isoformat(), 500),
            ((NOW + timedelta(hours=1)).isoformat(), 480),
        ]


def test_a_steady_pass_with_rate_baselines_writes_no_state_row(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    fleet = Fleet(now=FakeClock(NOW).now)  # the fleet's events stop at NOW; the pass's rate window moves on
    for number in range(1, 21):
        fleet.add_agent(f"{number:03d}", f"agent-{number:03d}", rate_per_min=60, started=NOW - timedelta(days=9))
    targets = [Target.agent(agent_id, f"agent-{agent_id}", 900.0) for agent_id in fleet.agent_ids()]
    with SimulatorServer(fleet, clock=FakeClock(NOW), max_rpm=1_000_000) as sim, open(os.devnull, "w") as sink:
        settings = simulator_settings(
            sim.api_url,
            sim.indexer_url,
            tmp_path,
            wazuh_api_max_rpm=1000,
            default_check_interval_s=240.0,
            # The fleet's events stop at NOW: by its rhythm, a minute without its 60 is a silence (WARNING).
            silence_mode="fixed",
        )
        assert settings.drop_ratio > 0  # the default: rate baselines on
        with build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)]) as app:
            app.monitor.run_once()
            first = _rows_written(app.store.path)
            clock.advance(60)
            rows = app.monitor.run_once().rows
            assert {row.state.severity for row in rows} == {Severity.OK}
            assert _rows_written(app.store.path) == first
            clock.advance(180)  # the rate window (the 4-minute interval) is read whole: its figures are made
            rows = app.monitor.run_once().rows
            assert {row.state.severity for row in rows} == {Severity.OK}
            assert _rows_written(app.store.path) == first
            after = app.store.load_states()["agent:001"]
            assert after.baseline is not None and after.recent is not None and after.rate_window_s == 240.0


def _agent_filter(body: object) -> list[str] | None:
    """The agent ids a search was limited to (None: every agent)."""
    assert isinstance(body, dict)
    for clause in body["query"]["bool"]["filter"]:
        if "terms" in clause:
            return list(next(iter(clause["terms"].values())))
    return None


def test_a_pass_over_more_agents_than_a_terms_query_should_carry_asks_for_every_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wazuh_indexer, "MAX_FILTERED_AGENTS", 5)
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    for number in range(1, 9):
        fleet.add_agent(f"{number:03d}", f"agent-{number:03d}", started=NOW - timedelta(hours=2))
    fleet.silence("002", since=NOW - timedelta(hours=1))
    watched = [Target.agent(f"{n:03d}", f"agent-{n:03d}", 900.0) for n in range(1, 8)]  # 008 is not watched
    with SimulatorServer(fleet, clock=clock, max_rpm=1_000_000) as sim, open(os.devnull, "w") as sink:
        settings = simulator_settings(sim.api_url, sim.indexer_url, tmp_path, wazuh_api_max_rpm=1000)
        with build(settings, watched, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)]) as app:
            rows = app.monitor.run_once().rows
            assert _agent_filter(sim.stats.last_search_body) is None  # 7 ids: above the (lowered) limit
            assert {r.target.key: r.state.severity for r in rows} == {
                t.key: Severity.CRITICAL if t.agent_id == "002" else Severity.OK for t in watched
            }
            assert "agent:008" not in app.store.load_states()
            app.monitor.check(watched[:3])
            assert _agent_filter(sim.stats.last_search_body) == ["001", "002", "003"]


def test_the_daemon_holds_no_finished_pass_while_the_next_one_runs(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "agent-001", started=NOW - timedelta(hours=2))
    targets = [Target.agent("001", "agent-001", 60.0)]
    with SimulatorServer(fleet, clock=clock, max_rpm=1_000_000) as sim, open(os.devnull, "w") as sink:
        settings = simulator_settings(sim.api_url, sim.indexer_url, tmp_path, wazuh_api_max_rpm=1000)
        with build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)]) as app:
            monitor, signals = app.monitor, Signals()
            passes: list[weakref.ref[PassResult]] = []
            alive_at_start: list[bool] = []
            check = monitor.check

            def counted(batch: Sequence[Target], *, keep_rows: bool = True) -> PassResult:
                alive_at_start.append(any(ref() is not None for ref in passes))
                result = check(batch, keep_rows=keep_rows)
                passes.append(weakref.ref(result))
                clock.advance(60.0)  # the next pass is due at once: the loop does not sleep
                if len(passes) == 3:
                    signals.request_stop()
                return result

            monitor.check = counted  # type: ignore[method-assign]
            assert Daemon(monitor).run(signals, restart_at=clock.monotonic() + 3600.0) is Outcome.STOP
            assert alive_at_start == [False, False, False]


@pytest.mark.slow  # 10,000 agents
@pytest.mark.parametrize("rig", [True], indirect=True)
def test_between_passes_the_api_source_keeps_names_and_only_the_not_active_agents_whole(rig: Rig) -> None:
    rig.fleet.set_status("00007", "disconnected", last_keepalive=NOW - timedelta(hours=1))
    rig.app.monitor.run_once()  # the full listing: 10,000 agents
    gc.collect()
    # Of the full listing only the disconnected agent is kept as an AgentInfo; the others are their names.
    assert sum(isinstance(o, AgentInfo) for o in gc.get_objects()) <= 1
    rig.fleet.set_status("00007", "active")
    rig.clock.advance(300)
    row = next(r for r in rig.app.monitor.run_once().rows if r.target.key == "agent:00007")
    assert (row.state.agent_status, row.observation.agent_name) == ("active", "agent-00007")
    assert row.state.severity is Severity.OK
