"""A week of history and one judged day of 1,000 agents: every rate drop below the ratio alerts, and nothing else."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import build
from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon
from log_monitor.demo import simulator_settings
from log_monitor.models import Condition, Notification, NotificationKind, Target, TargetKind
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.helpers import drive

# A week of history and a judged day in accelerated time: the slow tier (`make slow`).
pytestmark = pytest.mark.slow

MIDNIGHT = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # the judged day; the 8 days before it are history
INTERVAL = 900.0  # check period, silence threshold and rate window
DELAY = 30.0  # INDEXING_DELAY: the rate window ends this long ago
AGENTS = 1000
RHYTHMIC = range(1, 101)  # busy 07:00-19:00 UTC, 5% of that at night
RHYTHMIC_DROPS = range(91, 101)  # of those, down to 5% 13:00-17:00
DROPS = range(101, 121)  # down to 5% from 09:00; 111-120 back to normal at 15:00
PARTIAL = range(121, 141)  # down to 60% from 09:00: still above the ratio
SILENT = range(141, 151)  # silent from 10:07
NEW = range(151, 156)  # two days of history only, down to 5% from 09:00


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return MIDNIGHT + timedelta(hours=int(hours), minutes=int(minutes))


def key(number: int) -> str:
    return f"agent:{number:03d}"


def fleet_of(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    history = MIDNIGHT - timedelta(days=8)
    for number in range(1, AGENTS + 1):
        agent_id = f"{number:03d}"
        started = MIDNIGHT - timedelta(days=2) if number in NEW else history
        rhythm = (7, 19) if number in RHYTHMIC else None
        fleet.add_agent(agent_id, f"agent-{agent_id}", started=started, rate_per_min=6, day_hours=rhythm)
    for number in [*DROPS, *NEW]:
        fleet.set_rate(f"{number:03d}", 0.05, since=at("09:00"))
    for number in RHYTHMIC_DROPS:
        fleet.set_rate(f"{number:03d}", 0.05, since=at("13:00"))
        fleet.set_rate(f"{number:03d}", 20.0, since=at("17:00"))
    for number in range(111, 121):
        fleet.set_rate(f"{number:03d}", 20.0, since=at("15:00"))
    for number in PARTIAL:
        fleet.set_rate(f"{number:03d}", 0.6, since=at("09:00"))
    for number in SILENT:
        fleet.silence(f"{number:03d}", since=at("10:07"))
    return fleet


def run_day(tmp_path: Path) -> list[Notification]:
    clock = FakeClock(MIDNIGHT)
    fleet = fleet_of(clock)
    targets = [
        Target(
            key=Target.agent_key(a.id),
            kind=TargetKind.AGENT,
            label=a.name,
            interval_s=INTERVAL,
            threshold_s=INTERVAL,
            agent_id=a.id,
        )
        for a in fleet.agents()
        if a.id != "000"
    ]
    sent: list[Notification] = []
    with SimulatorServer(fleet, clock=clock, max_rpm=100_000) as sim:
        settings = simulator_settings(
            sim.api_url,
            sim.indexer_url,
            tmp_path,
            default_check_interval_s=INTERVAL,
            indexing_delay_s=DELAY,
            reminder_initial_s=3600.0,
            reminder_max_s=4 * 3600.0,
        )
        app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(io.StringIO())])
        daemon = Daemon(app.monitor)
        daemon.set_targets(targets)
        try:
            # Ticks at the check interval only: the history is what the indexer computes, not something we replay.
            sent.extend(drive(clock, at("23:50"), lambda: daemon))
        finally:
            app.close()
    return sent


def test_a_judged_day_after_a_week_alerts_every_drop_below_the_ratio_and_nothing_else(tmp_path: Path) -> None:
    sent = run_day(tmp_path)
    alerts = {n.target_key: n for n in sent if n.kind is NotificationKind.ALERT}
    dropped = {key(n) for n in [*DROPS, *RHYTHMIC_DROPS]}
    silent = {key(n) for n in SILENT}
    # No alert for the rhythmic agents' quiet nights, the 60% ones, or the ones with too little history.
    assert set(alerts) == dropped | silent

    # Each drop alerted within one interval of the window holding only the lower rate.
    allowed = timedelta(seconds=INTERVAL + DELAY + INTERVAL)
    for number in [*DROPS, *RHYTHMIC_DROPS]:
        alert = alerts[key(number)]
        began = at("13:00") if number in RHYTHMIC_DROPS else at("09:00")
        assert alert.condition is Condition.RATE_DROP, alert
        assert began < alert.created_at <= began + allowed, (alert.target_key, alert.created_at)

    # Silence is alerted as silence, never as a drop.
    for number in SILENT:
        assert alerts[key(number)].condition is Condition.SILENT
    assert not [n for n in sent if n.target_key in silent and n.condition is Condition.RATE_DROP]

    # Back to at least half the baseline: one recovery each; the ones still down get none.
    recoveries = {n.target_key: n.created_at for n in sent if n.kind is NotificationKind.RECOVERY}
    for number in [*range(111, 121), *RHYTHMIC_DROPS]:
        back = at("17:00") if number in RHYTHMIC_DROPS else at("15:00")
        assert back < recoveries[key(number)] <= back + allowed, key(number)
    assert not {key(n) for n in range(101, 111)} & set(recoveries)
    assert not [n for n in sent if n.kind is NotificationKind.PIPELINE_SILENT]

    # The message says the numbers: 6 a minute is 90 in 15 minutes, and 5% of it arrives.
    words = re.fullmatch(
        r"agent-101: (\d+) events in the last 15m, normally 90 "
        r"\(median of the same 15 minutes on the last 7 days\), (\d+\.\d)%",
        alerts[key(101)].detail,
    )
    assert words is not None, alerts[key(101)].detail
    assert int(words.group(1)) < 9
