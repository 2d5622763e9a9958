"""Per-location silence and drops from logcollector statistics, against the simulator with a fake clock."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import App, build
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import AgentError, BackendError
from log_monitor.models import Condition, NotificationKind, Secret, Severity, Target, TargetKind
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.sources.logcollector import (
    FileCounters,
    LogcollectorSource,
    Stats,
    parse_stats,
    plan_polls,
    step_counter,
)
from log_monitor.state.positions import LogcollectorCounter
from log_monitor.wazuh.api import AgentInfo

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INTERVAL = 300.0
AUTH = "/var/log/auth.log"
SYSLOG = "/var/log/syslog"


def location(agent_id: str, where: str, interval: float = INTERVAL) -> Target:
    return Target.agent(agent_id, "web-1", interval, location=where)


def agent(agent_id: str) -> Target:
    return Target.agent(agent_id, "web-1", INTERVAL)


class Rig:
    def __init__(self, clock: FakeClock, folder: Path, fleet: Fleet, sim: SimulatorServer) -> None:
        self.clock, self.folder, self.fleet, self.sim = clock, folder, fleet, sim
        self.out = io.StringIO()

    def app(self, targets: list[Target], *, indexer: bool = False) -> App:
        settings = Settings(
            env_file=self.folder / "test.env",
            base_dir=self.folder,
            wazuh_api_url=self.sim.api_url,
            wazuh_api_user="wazuh",
            wazuh_api_password=Secret("wazuh"),
            wazuh_indexer_url=self.sim.indexer_url if indexer else None,
            wazuh_indexer_user="admin" if indexer else None,
            wazuh_indexer_password=Secret("admin") if indexer else None,
            default_check_interval_s=INTERVAL,
            indexing_delay_s=0,
            state_db=self.folder / "state.sqlite3",
        )
        channels: list[Notifier] = [ConsoleNotifier(self.out)]
        return build(settings, targets, clock=self.clock, sleep=self.clock.advance, channels=channels, host="m")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web-1", locations=(SYSLOG, AUTH), rate_per_min=12, started=NOW - timedelta(hours=2))
    with SimulatorServer(fleet, clock=clock) as sim:
        yield Rig(clock, tmp_path, fleet, sim)


TARGETS = [agent("001"), location("001", SYSLOG), location("001", AUTH)]


def test_one_silent_location_on_a_living_agent_is_alerted_by_agent_and_location(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        assert app.monitor.run_once().notifications == []
        rig.fleet.silence("001", AUTH, since=rig.clock.now())
        rig.clock.advance(INTERVAL / 2)
        assert app.monitor.run_once().notifications == []  # silent, but not for long enough yet
        rig.clock.advance(INTERVAL / 2 + 1)
        result = app.monitor.run_once()
    alerts = [n for n in result.notifications if n.kind is NotificationKind.ALERT]
    assert [n.target_key for n in alerts] == [Target.location_key("001", AUTH)]
    assert alerts[0].condition is Condition.SILENT
    text = rig.out.getvalue()
    assert "001" in text and AUTH in text and "web-1" in text
    assert SYSLOG not in text


def test_a_logcollector_restart_is_no_false_alert(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        for _ in range(6):
            rig.clock.advance(INTERVAL / 2)
            rig.fleet.restart_logcollector("001", at=rig.clock.now() - timedelta(seconds=10))
            rig.clock.advance(INTERVAL / 2)
            result = app.monitor.run_once()
            assert result.notifications == [], rig.out.getvalue()
            locations = [r.state.severity for r in result.rows if r.target.kind is TargetKind.LOCATION]
            assert locations == [Severity.OK, Severity.OK]


def test_drops_raise_a_dropping_events_alert_and_a_recovery(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.clock.advance(30)
        rig.fleet.add_drops("001", AUTH, 42)
        rig.clock.advance(40)  # past the agent's next regeneration of its statistics (every 60 s)
        first = app.monitor.run_once()
        assert [(n.kind, n.condition, n.target_key) for n in first.notifications] == [
            (NotificationKind.ALERT, Condition.DROPPING, Target.location_key("001", AUTH))
        ]
        assert first.exit_code == 1
        assert "dropping events" in rig.out.getvalue().lower()
        assert "42" in rig.out.getvalue()
        rig.clock.advance(INTERVAL)
        second = app.monitor.run_once()
        assert [n.kind for n in second.notifications] == [NotificationKind.RECOVERY]


def test_with_the_indexer_too_a_silent_location_is_still_found(rig: Rig) -> None:
    with rig.app(TARGETS, indexer=True) as app:
        app.monitor.run_once()
        rig.fleet.silence("001", AUTH, since=rig.clock.now())
        rig.clock.advance(INTERVAL + 60)
        result = app.monitor.run_once()
    assert [n.target_key for n in result.notifications] == [Target.location_key("001", AUTH)]


def test_files_star_learns_the_locations_that_sent_events(rig: Rig) -> None:
    learner = location("001", "*")
    with rig.app([agent("001"), learner], indexer=True) as app:
        watched = sorted(t.location or "" for t in app.monitor.targets if t.kind is TargetKind.LOCATION)
        assert watched == [AUTH, SYSLOG]
        rig.fleet.silence("001", SYSLOG, since=rig.clock.now())
        app.monitor.run_once()
        rig.clock.advance(INTERVAL + 60)
        result = app.monitor.run_once()
    assert [n.target_key for n in result.notifications] == [Target.location_key("001", SYSLOG)]


def test_one_poll_per_agent_per_check_whatever_its_locations(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        assert app.api is not None
        app.monitor.run_once()
        before = app.api.requests_made
        app.monitor.run_once()
        assert app.api.requests_made - before == 2  # the agent listing and one logcollector poll


def test_a_budget_too_small_stretches_location_intervals_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    targets = [location(f"{n:03d}", SYSLOG, interval=60) for n in range(1, 201)]
    same, warning = plan_polls(targets, 300)
    assert warning is None and same == targets
    with caplog.at_level(logging.WARNING):
        stretched, warning = plan_polls(targets, 100)
    assert warning is not None and "less often" in warning
    assert all(t.interval_s == 150 for t in stretched)  # 200 polls/min into 80 requests/min


def test_a_location_counter_going_backwards_is_a_restart_not_a_negative_count() -> None:
    target = location("001", SYSLOG)
    before = LogcollectorCounter("001", SYSLOG, "2026-11-22T09:00:00Z", 500, 0, NOW - timedelta(minutes=1))
    stats = Stats(
        "2026-11-22T09:00:00Z", {SYSLOG: FileCounters(events=20, drops=0, interval_events=0, interval_drops=0)}
    )
    observation, counter = step_counter(target, before, stats, NOW)
    assert observation.events_in_window == 0
    assert observation.last_event == before.last_event
    assert counter is not None and counter.events == 20


def test_an_agent_that_is_not_active_gives_no_statistics() -> None:
    assert parse_stats({}) is None
    parsed = parse_stats({"global": {"start": "2026-11-22T09:00:00Z", "files": [{"location": SYSLOG, "events": 3}]}})
    assert parsed is not None and parsed.files[SYSLOG].events == 3


def test_the_first_poll_never_claims_an_event_newer_than_the_counters_prove() -> None:
    target = location("001", "/var/log/auth.log")
    # Events in the total, none in the last interval: when the last one was is not known, so nothing is claimed.
    quiet = Stats("2026-11-01 08:00:00", {"/var/log/auth.log": FileCounters(500, 0, 0, 0)}, 60.0)
    observation, _ = step_counter(target, None, quiet, NOW)
    assert observation.last_event is None
    # Events in the last completed interval: at most two intervals old (it ended at the last regeneration).
    busy = Stats("2026-11-01 08:00:00", {"/var/log/auth.log": FileCounters(500, 0, 3, 0)}, 60.0)
    observation, _ = step_counter(target, None, busy, NOW)
    assert observation.last_event == NOW - timedelta(seconds=120)


def test_counter_growth_between_polls_is_timed_by_our_clock_not_the_agents() -> None:
    target = location("001", SYSLOG)
    # The agent's times are 8 hours ahead (UTC+8 labelled UTC): only the growth matters.
    before = LogcollectorCounter("001", SYSLOG, "2026-11-22T17:00:00Z", 500, 0, NOW - timedelta(minutes=5))
    grown = Stats("2026-11-22T17:00:00Z", {SYSLOG: FileCounters(510, 0, 0, 0)}, 60.0)
    observation, _ = step_counter(target, before, grown, NOW)
    assert observation.last_event == NOW and observation.events_in_window == 10
    still = Stats("2026-11-22T17:00:00Z", {SYSLOG: FileCounters(510, 0, 4, 0)}, 60.0)
    later = NOW + timedelta(minutes=5)
    observation, _ = step_counter(target, LogcollectorCounter("001", SYSLOG, still.start, 510, 0, NOW), still, later)
    # A stale interval count (a hung logcollector keeps its last interval) proves nothing new.
    assert observation.last_event == NOW and observation.events_in_window == 0


def test_the_simulator_writes_logcollector_times_in_the_agents_zone_at_its_last_regeneration(rig: Rig) -> None:
    rig.fleet.add_agent("009", "east", started=NOW - timedelta(hours=1), utc_offset_h=8)
    rig.clock.advance(90)
    stats = rig.fleet.logcollector_stats("009")
    overall = stats["global"]
    assert isinstance(overall, dict)
    # 10:01:30 UTC on the monitor's clock: regenerated at 10:01:00, written as 18:01:00 labelled Z.
    assert overall["end"] == "2026-11-22T18:01:00Z"


@pytest.mark.parametrize("offset_h", [8, -5])
def test_a_location_silent_for_two_hours_alerts_at_once_whatever_the_agents_zone(
    tmp_path: Path, offset_h: float
) -> None:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    fleet.add_agent(
        "001",
        "web-1",
        locations=(SYSLOG, AUTH),
        rate_per_min=12,
        started=NOW - timedelta(hours=6),
        utc_offset_h=offset_h,
    )
    fleet.silence("001", AUTH, since=NOW - timedelta(hours=2))
    with SimulatorServer(fleet, clock=clock) as sim:
        rig = Rig(clock, tmp_path, fleet, sim)
        with rig.app(TARGETS, indexer=True) as app:
            first = app.monitor.run_once()
            rows = {row.target.key: row for row in first.rows}
            auth = rows[Target.location_key("001", AUTH)]
            # The indexer proves 2 hours of silence; the first logcollector poll proves nothing newer.
            assert auth.state.severity is Severity.CRITICAL
            assert auth.observation.last_event is not None
            assert NOW - auth.observation.last_event >= timedelta(hours=2)
            assert rows[Target.location_key("001", SYSLOG)].state.severity is Severity.OK
            alerts = [n for n in first.notifications if n.kind is NotificationKind.ALERT]
            assert [n.target_key for n in alerts] == [Target.location_key("001", AUTH)]
            assert alerts[0].silent_for_s is not None and alerts[0].silent_for_s >= 7000
            for _ in range(3):
                clock.advance(INTERVAL)
                later = app.monitor.run_once()
                assert all(n.kind is not NotificationKind.RECOVERY for n in later.notifications)
                assert {r.target.key: r.state.severity for r in later.rows}[
                    Target.location_key("001", SYSLOG)
                ] is Severity.OK


def test_an_indexer_only_pass_then_one_with_the_api_sends_no_false_recovery(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web-1", locations=(SYSLOG, AUTH), rate_per_min=12, started=NOW - timedelta(hours=6))
    fleet.silence("001", AUTH, since=NOW - timedelta(hours=2))
    with SimulatorServer(fleet, clock=clock) as sim:
        rig = Rig(clock, tmp_path, fleet, sim)
        settings = rig.app(TARGETS, indexer=True).settings
        only_indexer = replace(settings, wazuh_api_url=None)
        channels: list[Notifier] = [ConsoleNotifier(rig.out)]
        with build(only_indexer, TARGETS, clock=clock, channels=channels, host="m") as app:
            first = app.monitor.run_once()
        assert [n.kind for n in first.notifications] == [NotificationKind.ALERT]
        clock.advance(60)
        with rig.app(TARGETS, indexer=True) as app:
            second = app.monitor.run_once()
    assert [n.kind for n in second.notifications if n.target_key.endswith(AUTH)] == []


# -- an error about one agent is that agent's (REALITY.md §8) -----------------------------------------------


def _cluster_rig(rig: Rig) -> list[Target]:
    """001 on worker-2, 002 and 003 on the master; each with its syslog watched."""
    rig.fleet.remove_agent("001")
    start = NOW - timedelta(hours=2)
    rig.fleet.add_agent("001", "laptop", locations=(SYSLOG,), rate_per_min=12, started=start, node="worker-2")
    rig.fleet.add_agent("002", "db-1", locations=(SYSLOG,), rate_per_min=12, started=start)
    rig.fleet.add_agent("003", "mail-1", locations=(SYSLOG,), rate_per_min=12, started=start)
    return [location(agent_id, SYSLOG) for agent_id in ("001", "002", "003")]


def test_an_agent_on_a_worker_that_left_is_its_own_unknown_and_blinds_no_later_agent(rig: Rig) -> None:
    targets = _cluster_rig(rig)
    with rig.app(targets) as app:
        app.monitor.run_once()
        rig.fleet.leave_cluster("worker-2")  # the master still lists 001 active: its statistics answer 400/3022
        rig.fleet.silence("003", SYSLOG, since=rig.clock.now())
        rig.clock.advance(INTERVAL + 1)
        result = app.monitor.run_once()
    rows = {row.target.key: row for row in result.rows}
    lost = rows[Target.location_key("001", SYSLOG)]
    assert lost.state.severity is Severity.UNKNOWN
    assert "cluster node is not in the cluster" in (lost.observation.error or "")
    assert rows[Target.location_key("002", SYSLOG)].state.severity is Severity.OK
    # The agent after it by id is still judged: its real silence is found.
    assert rows[Target.location_key("003", SYSLOG)].state.severity is Severity.WARNING
    assert [(n.kind, n.target_key) for n in result.notifications] == [
        (NotificationKind.ALERT, Target.location_key("003", SYSLOG))
    ]
    assert "api" not in result.backend_errors


def test_a_disconnected_agent_is_not_asked_for_statistics_and_blinds_nothing(rig: Rig) -> None:
    targets = _cluster_rig(rig)
    with rig.app(targets) as app:
        app.monitor.run_once()
        rig.fleet.set_status("001", "disconnected")
        rig.fleet.silence("001", SYSLOG, since=rig.clock.now())
        rig.fleet.silence("003", SYSLOG, since=rig.clock.now())
        rig.clock.advance(INTERVAL + 1)
        result = app.monitor.run_once()
    assert rig.sim.stats.api_500 == 0  # never asked, so no 3036 answer
    severities = {row.target.key: (row.state.severity, row.state.condition) for row in result.rows}
    assert severities[Target.location_key("001", SYSLOG)] == (Severity.WARNING, Condition.DISCONNECTED)
    assert severities[Target.location_key("003", SYSLOG)] == (Severity.WARNING, Condition.SILENT)
    assert "api" not in result.backend_errors


def test_an_agent_that_disconnects_between_listing_and_poll_is_its_own_unknown(rig: Rig) -> None:
    targets = _cluster_rig(rig)
    # The listing said every agent active; by the time 001's statistics are asked remoted cannot reach it.
    stale = {a: AgentInfo(a, a, "active") for a in ("001", "002", "003")}
    rig.fleet.set_status("001", "disconnected")
    with rig.app(targets) as app:
        assert app.api is not None
        source = LogcollectorSource(app.api, app.store, lambda now: stale)
        found = source.observe(targets, rig.clock.now())
    assert "could not reach it (Wazuh error 3036)" in (found[Target.location_key("001", SYSLOG)].error or "")
    assert found[Target.location_key("003", SYSLOG)].error is None
    assert rig.sim.stats.api_500 == 1  # not retried: it would fail again at once


def test_unreachable_for_every_agent_asked_is_the_apis_failure(rig: Rig) -> None:
    targets = _cluster_rig(rig)
    stale = {a: AgentInfo(a, a, "active") for a in ("001", "002", "003")}
    for agent_id in ("001", "002", "003"):
        rig.fleet.set_status(agent_id, "disconnected")
    with rig.app(targets) as app:
        assert app.api is not None
        source = LogcollectorSource(app.api, app.store, lambda now: stale)
        with pytest.raises(BackendError, match="every agent's logcollector statistics refused"):
            source.observe(targets, rig.clock.now())


def test_never_connected_agents_give_their_own_words(rig: Rig) -> None:
    targets = _cluster_rig(rig)
    rig.fleet.add_agent("004", "new-1", status="never_connected")
    with rig.app([*targets, location("004", SYSLOG)]) as app:
        api = app.api
        assert api is not None
        with pytest.raises(AgentError, match="never connected") as caught:
            api.logcollector_stats("004")
        assert caught.value.code == 1015
