"""The wired-up monitor (app.build) against the simulator with a fake clock: passes, tokens, 429, pipeline, scale."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon, Outcome, Signals
from log_monitor.models import MaintenanceWindow, NotificationKind, Severity
from log_monitor.simulator.fleet import Fleet
from tests.monitor_rig import INTERVAL, NOW, Rig, agent


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    fleet = Fleet(now=clock.now)
    for number in range(1, 4):
        fleet.add_agent(f"00{number}", f"host-{number}", rate_per_min=6, started=NOW - timedelta(hours=3))
    made = Rig(clock, tmp_path, fleet)
    with made.sim:
        yield made


TARGETS = [agent("001", "host-1"), agent("002", "host-2"), agent("003", "host-3")]


def test_a_silent_agent_goes_warning_then_critical_then_recovers(rig: Rig) -> None:
    rig.fleet.silence("002", since=NOW)
    with rig.app(TARGETS) as app:
        assert app.monitor.run_once().exit_code == 0
        rig.clock.advance(INTERVAL + 60)
        first = app.monitor.run_once()
        assert first.exit_code == 1
        assert [n.kind for n in first.notifications] == [NotificationKind.ALERT]
        rig.clock.advance(INTERVAL)
        second = app.monitor.run_once()
        assert second.exit_code == 2
        assert [n.kind for n in second.notifications] == [NotificationKind.ESCALATION]
        rig.fleet.resume("002", at=rig.clock.now())
        rig.clock.advance(60)
        third = app.monitor.run_once()
        assert third.exit_code == 0
        assert [n.kind for n in third.notifications] == [NotificationKind.RECOVERY]
    assert "host-2" in rig.out.getvalue()


def test_token_expiry_between_passes_means_a_new_login_not_a_failure(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.clock.advance(1000)
        result = app.monitor.run_once()
        assert result.backend_errors == {}
        assert app.api is not None
        assert app.api.logins == 2


def test_a_revoked_token_mid_run_is_renewed(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.sim.expire_tokens()
        assert app.monitor.run_once().backend_errors == {}


def test_a_429_makes_the_pass_wait_and_finish(clock: FakeClock, tmp_path: Path) -> None:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "host-1", started=NOW - timedelta(hours=1))
    made = Rig(clock, tmp_path, fleet, max_rpm=2)
    with made.sim, made.app([agent("001", "host-1")], wazuh_api_max_rpm=300) as app:
        app.monitor.run_once()  # login + one page: the simulator's whole budget
        result = app.monitor.run_once()  # the next request gets 429, waits for the minute, finishes
        assert result.backend_errors == {}
        assert made.sim.stats.api_429 >= 1


def test_indexer_down_makes_every_agent_unknown_and_sends_one_backend_alert(rig: Rig) -> None:
    rig.sim.faults.indexer_mode = "down"
    with rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    assert result.exit_code == 3
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]


def test_most_agents_silent_at_once_is_one_pipeline_alert(clock: FakeClock, tmp_path: Path) -> None:
    fleet = Fleet.generate(8, now=clock.now, started=NOW - timedelta(hours=3))
    for number in range(1, 7):
        fleet.silence(f"00{number}", since=NOW - timedelta(hours=1))
    targets = [agent(f"00{n}", f"agent-00{n}") for n in range(1, 9)]
    made = Rig(clock, tmp_path, fleet)
    with made.sim, made.app(targets) as app:
        result = app.monitor.run_once()
    kinds = [n.kind for n in result.notifications]
    assert kinds == [NotificationKind.PIPELINE_SILENT]
    assert len(result.notifications[0].related) == 6


def test_a_maintenance_window_holds_back_the_alert(rig: Rig) -> None:
    rig.fleet.silence("002", since=NOW - timedelta(hours=1))
    window = MaintenanceWindow(days=frozenset(range(7)), start_minute=9 * 60, end_minute=11 * 60, text="09:00-11:00")
    targets = [agent("001", "host-1"), agent("002", "host-2", maintenance=(window,)), agent("003", "host-3")]
    with rig.app(targets, maintenance_tz="UTC") as app:
        result = app.monitor.run_once()
    assert result.notifications == []
    assert result.exit_code == 0


@pytest.mark.slow  # 5,000 agents
def test_five_thousand_agents_cost_a_handful_of_indexer_requests_per_pass(clock: FakeClock, tmp_path: Path) -> None:
    fleet = Fleet.generate(5000, now=clock.now, started=NOW - timedelta(hours=1), silent_every=1000)
    targets = [agent(a.id, a.name) for a in fleet.agents() if a.id != "000"]
    made = Rig(clock, tmp_path, fleet)
    with made.sim, made.app(targets) as app:
        result = app.monitor.run_once()
        # The first sight reads LOOKBACK once, in queries of one page each (a week of hourly counts per agent
        # keeps a page within search.max_buckets): about 14 requests for 2 slices of 2,500 agents.
        first = made.sim.stats.indexer_requests
        assert first <= 16
        clock.advance(60)
        app.monitor.run_once()
        assert made.sim.stats.indexer_requests - first <= 2  # then one page per slice of 2,500 agents
    assert len(result.rows) == 5000
    assert sum(1 for row in result.rows if row.state.severity is not Severity.OK) == 5


def test_discovery_adds_every_active_agent_the_api_lists(rig: Rig) -> None:
    with rig.app([agent("001", "host-1")], agent_discovery=True) as app:
        result = app.monitor.run_once()
    assert {row.target.key for row in result.rows} == {"agent:001", "agent:002", "agent:003"}


def test_an_unexpected_error_in_a_pass_is_logged_with_its_traceback_once_and_the_loop_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = Signals()
    calls: list[int] = []

    def broken_tick() -> None:
        calls.append(1)
        if len(calls) == 4:
            signals.request_stop()
            return
        raise (KeyError("DISASTER") if len(calls) < 3 else RuntimeError("another bug"))

    with rig.app(TARGETS) as app, caplog.at_level(logging.ERROR, logger="log_monitor.daemon"):
        daemon = Daemon(app.monitor)
        monkeypatch.setattr(daemon, "tick", broken_tick)
        outcome = daemon.run(signals, restart_at=rig.clock.monotonic() + 3600)
    assert outcome is Outcome.STOP and len(calls) == 4
    # The log's redacting filter may already have turned exc_info into exc_text: either carries the traceback.
    tracebacks = [
        r.exc_text or (logging.Formatter().formatException(r.exc_info) if r.exc_info else "") for r in caplog.records
    ]
    tracebacks = [t for t in tracebacks if t]
    assert len(tracebacks) == 2 and "KeyError" in tracebacks[0] and "RuntimeError: another bug" in tracebacks[1]
    assert any("again" in r.getMessage() and "DISASTER" in r.getMessage() for r in caplog.records)


def test_the_metrics_snapshot_has_each_channel_and_each_backends_requests_and_answers(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        metrics = app.metrics()
    assert metrics.channels == ["console"]
    assert metrics.delivery_failures == {}
    assert set(metrics.backends) == {"api", "indexer"}
    assert metrics.backends["indexer"].requests >= 1
    assert metrics.backends["api"].responses_by_status.get(200, 0) >= 1
    assert sum(metrics.backends["api"].responses_by_status.values()) == metrics.backends["api"].requests
