"""Rate drop: a target far below the median of the same window on the last 7 days is a WARNING of its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from log_monitor.clock import FakeClock
from log_monitor.judge import JudgeSettings, PassJudge
from log_monitor.ledger import hour_index
from log_monitor.models import (
    Condition,
    NotificationKind,
    Observation,
    Severity,
    Target,
    TargetKind,
    TargetState,
)
from log_monitor.policy import assess, step
from log_monitor.simulator.fleet import Fleet
from tests.helpers import default_policy
from tests.monitor_rig import Rig

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
FW = Target("agent:001", TargetKind.AGENT, "fw-alpha", 900.0, 900.0, agent_id="001")
SETTINGS = default_policy()  # 2x, 30 s delay, 7 d lookback, 30m x2 up to 24h, drop 0.1 of at least 20


def rate(
    recent: int, baseline: float, *, days: int = 7, last_event_s_ago: float = 40.0, now: datetime = NOW
) -> Observation:
    return Observation(
        FW.key,
        now,
        last_event=now - timedelta(seconds=last_event_s_ago),
        events_in_window=recent,
        recent=recent,
        baseline=baseline,
        history_days=days,
        rate_window_s=900.0,
    )


def test_a_firewall_down_to_a_trickle_is_a_rate_drop_whose_message_says_the_numbers() -> None:
    found = assess(FW, rate(312, 41870), NOW, SETTINGS)
    assert (found.severity, found.condition) == (Severity.WARNING, Condition.RATE_DROP)
    assert found.detail == (
        "fw-alpha: 312 events in the last 15m, normally 41,870 (median of the same 15 minutes on the last 7 days), 0.7%"
    )


def test_a_count_at_the_ratio_a_sparse_baseline_or_a_short_history_is_not_judged_as_a_drop() -> None:
    assert assess(FW, rate(10, 100), NOW, SETTINGS).severity is Severity.OK  # exactly 10%: not below
    assert assess(FW, rate(1, 19), NOW, SETTINGS).severity is Severity.OK  # below DROP_MIN_BASELINE
    assert assess(FW, rate(1, 100, days=2), NOW, SETTINGS).severity is Severity.OK  # 2 days of history
    assert assess(FW, rate(9, 100, days=3), NOW, SETTINGS).condition is Condition.RATE_DROP


def test_drop_ratio_zero_turns_it_off_and_a_targets_own_ratio_wins() -> None:
    assert assess(FW, rate(1, 100), NOW, replace(SETTINGS, drop_ratio=0.0)).severity is Severity.OK
    assert assess(replace(FW, drop_ratio=0.0), rate(1, 100), NOW, SETTINGS).severity is Severity.OK
    strict = replace(FW, drop_ratio=0.3)
    assert assess(strict, rate(25, 100), NOW, replace(SETTINGS, drop_ratio=0.0)).condition is Condition.RATE_DROP


def test_silence_wins_over_a_drop_and_a_source_that_just_stopped_is_left_to_the_silence_rule() -> None:
    silent = assess(FW, rate(2, 100, last_event_s_ago=1000), NOW, SETTINGS)
    assert silent.condition is Condition.SILENT
    # 14 minutes without events, the last ones at the window's start: a silence in the making, not a drop.
    stopping = assess(FW, rate(2, 100, last_event_s_ago=14 * 60), NOW, SETTINGS)
    assert stopping.severity is Severity.OK


def test_a_drop_alerts_once_and_recovers_only_at_half_the_baseline() -> None:
    first = step(replace_state(), FW, rate(5, 100), NOW, SETTINGS)
    assert [n.kind for n in first.notifications] == [NotificationKind.ALERT]
    assert first.notifications[0].condition is Condition.RATE_DROP
    later = NOW + timedelta(minutes=15)
    still = step(first.state, FW, rate(30, 100, now=later), later, SETTINGS)  # 30%: above 10%, below 50%
    assert still.state.condition is Condition.RATE_DROP and not still.notifications
    later += timedelta(minutes=15)
    back = step(still.state, FW, rate(50, 100, now=later), later, SETTINGS)
    assert [n.kind for n in back.notifications] == [NotificationKind.RECOVERY]
    assert back.state.severity is Severity.OK


def replace_state() -> TargetState:
    return TargetState(FW.key)


def test_most_agents_dropping_together_is_one_pipeline_alert() -> None:
    targets = [
        Target(f"agent:{n:03d}", TargetKind.AGENT, f"a{n}", 900.0, 900.0, agent_id=f"{n:03d}") for n in range(1, 9)
    ]
    observations = {t.key: replace(rate(3, 100), target_key=t.key) for t in targets}
    passing = PassJudge({}, {}, NOW, JudgeSettings(SETTINGS))
    # In two slices, as a pass goes: the drops wait for the pipeline's verdict over all eight.
    firsts = (
        passing.judge(targets[:5], observations).notifications + passing.judge(targets[5:], observations).notifications
    )
    kinds = [(n.kind, n.detail) for n in firsts + passing.finish({}).notifications]
    assert kinds == [(NotificationKind.PIPELINE_SILENT, "8 of 8 agents dropping in one pass")]


def test_a_first_read_keeps_a_week_of_hourly_counts_and_the_baseline_is_the_median_of_the_same_hour(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "fw-alpha", started=NOW - timedelta(days=9), rate_per_min=6)
    fleet.add_agent("002", "dc-1", started=NOW - timedelta(days=9), rate_per_min=6, day_hours=(7, 19))
    fleet.add_agent("003", "new", started=NOW - timedelta(days=2, hours=1), rate_per_min=6)
    fleet.set_rate("001", 0.05, since=NOW - timedelta(hours=1))
    targets = [Target(f"agent:{n}", TargetKind.AGENT, n, 900.0, 900.0, agent_id=n) for n in ("001", "002", "003")]
    rig = Rig(clock, tmp_path, fleet)
    with rig.sim, rig.app(targets) as app:
        app.monitor.run_once()
        # The first read: a week of hours (LOOKBACK, from 10:00 a week ago), each hour of a steady agent 360 events.
        hours = app.store.hour_counts("agent:001")
        week_ago = hour_index(NOW - timedelta(days=7))
        assert (hours[week_ago - 1], hours[week_ago], hours[week_ago + 1]) == (0, 360, 360) and len(hours) == 8 * 24
        assert hours[hour_index(NOW) - 2] == 360 and hours[hour_index(NOW) - 1] == 0  # 09:00 is not closed yet
        before = rig.sim.stats.indexer_docs_visited
        clock.advance(900)
        rows = {row.target.key: row for row in app.monitor.run_once().rows}
        # The second read visits only the new 15 minutes (and INDEXING_DELAY): about 4 + 90 + 90 events.
        assert rig.sim.stats.indexer_docs_visited - before <= 200
    fw, dc, new = (rows[t.key].observation for t in targets)
    assert (fw.baseline, fw.history_days, fw.rate_window_s) == (90.0, 7, 900.0)
    assert fw.recent is not None and fw.recent <= 5  # 0.3 a minute: 5% of the same hour's 90 in 15 minutes
    assert rows["agent:001"].state.condition is Condition.RATE_DROP
    assert dc.history_days == 7 and dc.recent == 90 and dc.baseline == 90.0  # a busy morning, as every morning
    assert (new.recent, new.baseline, new.history_days) == (90, 0.0, 2)  # two days: no baseline yet
    assert rows["agent:003"].state.condition is Condition.OK


def test_a_rhythmic_agent_is_quiet_at_night_and_a_rate_can_drop_to_a_fraction() -> None:
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    fleet = Fleet(now=lambda: midnight + timedelta(days=1))
    fleet.add_agent("001", "a", started=midnight, rate_per_min=6, day_hours=(7, 19), night_share=0.05)
    fleet.add_agent("002", "b", started=midnight, rate_per_min=6)
    fleet.set_rate("002", 0.5, since=midnight + timedelta(hours=12))
    hour = timedelta(hours=1)
    assert fleet.count("001", None, midnight + 2 * hour, midnight + 3 * hour - timedelta(milliseconds=1)) == 18
    assert fleet.count("001", None, midnight + 10 * hour, midnight + 11 * hour - timedelta(milliseconds=1)) == 360
    assert fleet.count("002", None, midnight + 11 * hour, midnight + 12 * hour - timedelta(milliseconds=1)) == 360
    assert fleet.count("002", None, midnight + 13 * hour, midnight + 14 * hour - timedelta(milliseconds=1)) == 180
