"""24 hours of a 400-agent fleet in accelerated time: the daemon's notifications are exactly the expected ones."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import App, build
from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon
from log_monitor.demo import simulator_settings
from log_monitor.models import Notification, NotificationKind, Target
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.helpers import drive

# 24 hours in accelerated time: the slow tier (`make slow`).
pytestmark = pytest.mark.slow

MIDNIGHT = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
INTERVAL = 900.0  # 15 min: check period and threshold
AGENTS = 400
A, R, W, E, B, U = (
    NotificationKind.ALERT,
    NotificationKind.REMINDER,
    NotificationKind.RECOVERY,
    NotificationKind.ESCALATION,
    NotificationKind.BACKEND_DOWN,
    NotificationKind.BACKEND_RESTORED,
)


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return MIDNIGHT + timedelta(hours=int(hours), minutes=int(minutes))


def expected() -> list[tuple[str, NotificationKind, datetime]]:
    """Worked out by hand from the script below and the policy's rules (threshold 15 min, reminders 1 h x2 <= 4 h)."""
    rows: list[tuple[str, NotificationKind, datetime]] = []
    for number in range(10, 20):  # silent 02:05-05:05
        key = f"agent:{number:03d}"
        rows += [(key, A, at("02:30")), (key, E, at("02:45")), (key, R, at("03:45")), (key, W, at("05:15"))]
    # Silent from 08:05 for good; reminders back off 1 h, 2 h, 4 h, 4 h ...; the outage and the re-exec change nothing.
    key = "agent:100"
    rows += [(key, A, at("08:30")), (key, E, at("08:45")), (key, R, at("09:45")), (key, R, at("11:45"))]
    rows += [(key, R, at("15:45")), (key, R, at("19:45")), (key, R, at("23:45"))]
    # The indexer is down 12:00-12:20: one backend alert, one notice, nothing per agent.
    rows += [("backend:indexer", B, at("12:00")), ("backend:indexer", U, at("12:30"))]
    # Fell silent during the outage: alerted normally once the indexer is back.
    key = "agent:200"
    rows += [(key, A, at("12:30")), (key, E, at("12:45")), (key, R, at("13:45")), (key, W, at("14:00"))]
    return rows


def script(fleet: Fleet) -> None:
    for number in range(10, 20):
        fleet.silence(f"{number:03d}", since=at("02:05"))
        fleet.resume(f"{number:03d}", at=at("05:05"))
    fleet.silence("100", since=at("08:05"))
    fleet.silence("200", since=at("12:05"))
    fleet.resume("200", at=at("13:50"))


def make_app(sim: SimulatorServer, clock: FakeClock, folder: Path, targets: list[Target]) -> tuple[App, Daemon]:
    settings = simulator_settings(
        sim.api_url,
        sim.indexer_url,
        folder,
        default_check_interval_s=INTERVAL,
        reminder_initial_s=3600.0,
        reminder_factor=2.0,
        reminder_max_s=4 * 3600.0,
    )
    app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(io.StringIO())])
    daemon = Daemon(app.monitor)
    daemon.set_targets(targets)
    return app, daemon


def test_a_day_of_silences_an_outage_and_a_re_exec_yields_exactly_the_expected_notifications(tmp_path: Path) -> None:
    clock = FakeClock(MIDNIGHT)
    fleet = Fleet.generate(AGENTS, now=clock.now, started=MIDNIGHT - timedelta(hours=6), rate_per_min=2)
    script(fleet)
    targets = [Target.agent(a.id, a.name, INTERVAL) for a in fleet.agents() if a.id != "000"]
    sent: list[Notification] = []
    with SimulatorServer(fleet, clock=clock, max_rpm=100_000) as sim:
        running = [make_app(sim, clock, tmp_path, targets)]

        def turn() -> Daemon:
            if at("18:00") <= clock.now() < at("18:01"):
                # The hourly re-exec: a new process with nothing but the state DB.
                running[0][0].close()
                running[0] = make_app(sim, clock, tmp_path, targets)
            sim.faults.indexer_mode = "down" if at("12:00") <= clock.now() < at("12:20") else "ok"
            return running[0][1]

        try:
            sent.extend(drive(clock, at("23:50"), turn))
        finally:
            running[0][0].close()

    want = sorted(expected(), key=lambda row: (row[0], row[2]))
    got = sorted(((n.target_key, n.kind, n.created_at) for n in sent), key=lambda row: (row[0], row[2]))
    assert [(key, kind) for key, kind, _ in got] == [(key, kind) for key, kind, _ in want]
    for (key, kind, when), (_, _, expected_at) in zip(got, want, strict=True):
        assert abs((when - expected_at).total_seconds()) <= INTERVAL, (key, kind, when, expected_at)
