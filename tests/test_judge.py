"""The judge: one pass's targets -> states, rows and notifications; the pipeline's alert, the backends', the holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from log_monitor import models
from log_monitor.judge import JudgeSettings, PassJudge, Verdict
from log_monitor.models import Condition, NotificationKind, Observation, Severity, Target, TargetState
from tests.helpers import default_policy

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
POLICY = default_policy()  # 2x, 30 s delay, 7 d lookback, 30m x2 up to 24h, drop 0.1 of at least 20
SETTINGS = JudgeSettings(POLICY)
FRESH = NOW - timedelta(seconds=60)  # an event a minute ago: OK
SILENT = NOW - timedelta(minutes=20)  # past the 15-minute threshold: WARNING


def agents(count: int, *, first: int = 1) -> list[Target]:
    return [Target.agent(f"{n:03d}", f"host-{n}", 900.0) for n in range(first, first + count)]


def seen(target: Target, last_event: datetime | None = FRESH, **kw: object) -> Observation:
    return Observation(target.key, NOW, last_event=last_event, events_in_window=1, **kw)  # type: ignore[arg-type]


def down(target: Target) -> Observation:
    return Observation(target.key, NOW, error="Wazuh indexer: timed out")


def dropping(target: Target, recent: int) -> Observation:
    """Events still arriving, `recent` of a baseline of 100 on 7 days."""
    return seen(target, recent=recent, baseline=100.0, history_days=7, rate_window_s=3600.0)


@dataclass
class Pass:
    """A whole pass's verdicts, its slices' and its finish's together."""

    rows: list[tuple[str, Severity]] = field(default_factory=list)
    states: dict[str, TargetState] = field(default_factory=dict)
    notes: list[models.Notification] = field(default_factory=list)
    severities: dict[Severity, int] = field(default_factory=dict)

    def add(self, verdict: Verdict) -> None:
        self.rows += [(row.state.target_key, row.state.severity) for row in verdict.rows]
        self.states.update((state.target_key, state) for state in verdict.states)
        self.notes += verdict.notifications
        for severity, count in verdict.severities.items():
            self.severities[severity] = self.severities.get(severity, 0) + count

    def kinds(self) -> list[tuple[NotificationKind, str]]:
        return [(note.kind, note.target_key) for note in self.notes]


def judge_pass(
    slices: Sequence[Sequence[Target]],
    observations: Mapping[str, Observation],
    *,
    states: Mapping[str, TargetState] | None = None,
    silenced: Mapping[str, models.Silence] | None = None,
    backends: Mapping[str, str | None] | None = None,
    settings: JudgeSettings = SETTINGS,
    rows: bool = True,
    now: datetime = NOW,
) -> Pass:
    judge = PassJudge(states or {}, silenced or {}, now, settings, rows=rows)
    found = Pass()
    for part in slices:
        found.add(judge.judge(part, observations))
    found.add(judge.finish(backends or {}))
    return found


def fleet(silent: int, healthy: int, *, unknown: int = 0) -> tuple[list[Target], dict[str, Observation]]:
    """`silent` agents past their threshold, then `healthy` ones, then `unknown` ones whose source failed."""
    targets = agents(silent + healthy + unknown)
    observations = {}
    for n, target in enumerate(targets):
        if n < silent:
            observations[target.key] = seen(target, SILENT)
        elif n < silent + healthy:
            observations[target.key] = seen(target)
        else:
            observations[target.key] = down(target)
    return targets, observations


# --- one target alone ----------------------------------------------------------------------------------------


def test_a_healthy_target_is_stored_ok_shown_and_tells_nothing() -> None:
    [target] = agents(1)
    found = judge_pass([[target]], {target.key: seen(target)})
    assert found.rows == [(target.key, Severity.OK)]
    assert found.states[target.key].last_checked == NOW
    assert found.notes == []
    assert found.severities == {Severity.OK: 1}


def test_a_silent_agent_alone_alerts_once_with_the_pass() -> None:
    [target] = agents(1)
    found = judge_pass([[target]], {target.key: seen(target, SILENT)})
    assert found.kinds() == [(NotificationKind.ALERT, target.key)]
    assert found.states[target.key].severity is Severity.WARNING
    assert found.severities == {Severity.WARNING: 1}


def test_a_silent_target_waits_for_the_finish_and_a_healthy_one_does_not() -> None:
    silent, healthy = agents(2)
    judge = PassJudge({}, {}, NOW, SETTINGS)
    sliced = judge.judge([silent, healthy], {silent.key: seen(silent, SILENT), healthy.key: seen(healthy)})
    assert [state.target_key for state in sliced.states] == [healthy.key]
    finished = judge.finish({})
    assert [state.target_key for state in finished.states] == [silent.key]
    assert [note.kind for note in finished.notifications] == [NotificationKind.ALERT]


def test_a_local_file_is_judged_with_its_slice_never_held_for_the_pipeline() -> None:
    target = Target(Target.file_key("/var/log/app.log"), models.TargetKind.LOCAL_FILE, "app", 900.0, 900.0, path="/x")
    judge = PassJudge({}, {}, NOW, SETTINGS)
    sliced = judge.judge([target], {target.key: seen(target, SILENT)})
    assert [(note.kind, note.target_key) for note in sliced.notifications] == [(NotificationKind.ALERT, target.key)]
    assert judge.finish({}).states == []


def test_an_unknown_target_is_judged_with_its_slice_and_sends_nothing() -> None:
    [target] = agents(1)
    judge = PassJudge({}, {}, NOW, SETTINGS)
    sliced = judge.judge([target], {target.key: down(target)})
    assert [(s.target_key, s.severity) for s in sliced.states] == [(target.key, Severity.UNKNOWN)]
    assert sliced.notifications == []


def test_the_previous_state_carries_the_episode_so_a_recovery_follows() -> None:
    [target] = agents(1)
    first = judge_pass([[target]], {target.key: seen(target, SILENT)})
    second = judge_pass([[target]], {target.key: seen(target)}, states=first.states)
    assert second.kinds() == [(NotificationKind.RECOVERY, target.key)]
    assert second.states[target.key].severity is Severity.OK


def test_a_target_still_silent_next_pass_keeps_its_episode_and_is_not_alerted_again() -> None:
    [target] = agents(1)
    first = judge_pass([[target]], {target.key: seen(target, SILENT)})
    judge = PassJudge(first.states, {}, NOW + timedelta(minutes=1), SETTINGS)
    observation = Observation(target.key, NOW + timedelta(minutes=1), last_event=SILENT, events_in_window=0)
    assert judge.judge([target], {target.key: observation}).states == []  # silent: waits for the pipeline
    verdict = judge.finish({})
    assert verdict.notifications == []
    assert [row.previous for row in verdict.rows] == [first.states[target.key]]
    assert verdict.states[0].alerts_sent == 1


def test_rows_false_lists_only_the_targets_whose_severity_changed_but_counts_all() -> None:
    targets, observations = fleet(silent=1, healthy=2)
    before = {targets[1].key: TargetState(targets[1].key, severity=Severity.WARNING)}
    found = judge_pass([targets], observations, states=before, rows=False)
    assert sorted(found.rows) == sorted([(targets[0].key, Severity.WARNING), (targets[1].key, Severity.OK)])
    assert found.severities == {Severity.OK: 2, Severity.WARNING: 1}


def test_rows_true_lists_every_target_with_its_previous_state() -> None:
    targets, observations = fleet(silent=1, healthy=1)
    before = {targets[1].key: TargetState(targets[1].key, last_event=FRESH)}
    judge = PassJudge(before, {}, NOW, SETTINGS)
    rows = judge.judge(targets, observations).rows + judge.finish({}).rows
    assert {row.target.key: row.previous for row in rows} == {
        targets[0].key: None,
        targets[1].key: before[targets[1].key],
    }
    assert all(row.observation is observations[row.target.key] for row in rows)


# --- holds: silences and maintenance windows -------------------------------------------------------------------


def silence(key: str) -> models.Silence:
    return models.Silence(key, NOW + timedelta(hours=1), "patching", NOW - timedelta(minutes=5))


def test_a_silenced_target_stores_its_real_severity_shows_maintenance_and_sends_nothing() -> None:
    [target] = agents(1)
    found = judge_pass([[target]], {target.key: seen(target, SILENT)}, silenced={target.key: silence(target.key)})
    assert found.notes == []
    assert found.states[target.key].severity is Severity.WARNING
    assert found.rows == [(target.key, Severity.MAINTENANCE)]
    assert found.severities == {Severity.MAINTENANCE: 1}


def test_an_agents_silence_holds_its_locations_but_not_other_agents() -> None:
    location = Target.agent("001", "web-1 auth", 900.0, location="/var/log/auth.log")
    [other] = agents(1, first=2)
    observations = {location.key: seen(location, SILENT), other.key: seen(other, SILENT)}
    found = judge_pass([[location, other]], observations, silenced={"agent:001": silence("agent:001")})
    assert found.kinds() == [(NotificationKind.ALERT, other.key)]


def test_a_silenced_healthy_target_shows_ok_not_maintenance() -> None:
    [target] = agents(1)
    found = judge_pass([[target]], {target.key: seen(target)}, silenced={target.key: silence(target.key)})
    assert found.rows == [(target.key, Severity.OK)]


def test_a_silenced_recovery_is_still_sent() -> None:
    [target] = agents(1)
    first = judge_pass([[target]], {target.key: seen(target, SILENT)})
    back = judge_pass(
        [[target]], {target.key: seen(target)}, states=first.states, silenced={target.key: silence(target.key)}
    )
    assert back.kinds() == [(NotificationKind.RECOVERY, target.key)]


@pytest.mark.parametrize(
    ("window", "held"),
    [
        ("09:30-10:30", True),  # 10:00 UTC inside
        ("10:00-10:30", True),  # the start minute is inside
        ("09:00-10:00", False),  # the end minute is not
        ("11:30-12:30", False),
    ],
)
def test_a_maintenance_window_in_its_zone_holds_the_alert(window: str, held: bool) -> None:
    start, end = (int(part[:2]) * 60 + int(part[3:]) for part in window.split("-"))
    # The window is written in UTC+1 wall time: 10:00 UTC is 11:00 there.
    zone = timezone(timedelta(hours=1))
    shifted = models.MaintenanceWindow(frozenset(range(7)), start + 60, end + 60, window)
    target = Target.agent("001", "web-1", 900.0, maintenance=(shifted,))
    settings = JudgeSettings(POLICY, zone=zone)
    found = judge_pass([[target]], {target.key: seen(target, SILENT)}, settings=settings)
    assert (found.notes == []) is held
    assert found.rows == [(target.key, Severity.MAINTENANCE if held else Severity.WARNING)]


# --- the pipeline: most agents silent at once is one alert -------------------------------------------------------


@pytest.mark.parametrize(
    ("silent", "healthy", "ratio", "pipeline"),
    [
        (5, 0, 0.5, True),  # PIPELINE_MIN_AGENTS silent: the pipeline
        (4, 0, 0.5, False),  # fewer than 5 silent agents are each their own alert, whatever the share
        (5, 5, 0.5, True),  # exactly the ratio
        (5, 6, 0.5, False),  # just under it
        (6, 6, 0.5, True),
        (8, 2, 0.8, True),
        (7, 3, 0.8, False),
        (5, 95, 0.05, True),
        (5, 96, 0.05, False),
    ],
)
def test_the_pipeline_alert_starts_at_five_silent_agents_and_the_ratio(
    silent: int, healthy: int, ratio: float, pipeline: bool
) -> None:
    targets, observations = fleet(silent, healthy)
    found = judge_pass([targets], observations, settings=JudgeSettings(POLICY, pipeline_ratio=ratio))
    alerts = [key for kind, key in found.kinds() if kind is NotificationKind.ALERT]
    if pipeline:
        assert found.kinds() == [(NotificationKind.PIPELINE_SILENT, "pipeline:all")]
        assert found.notes[0].detail == f"{silent} of {silent + healthy} agents silent in one pass"
        assert found.notes[0].related == tuple(t.key for t in targets[:silent])
    else:
        assert alerts == [t.key for t in targets[:silent]]
        assert "pipeline:all" not in found.states


def test_the_pipeline_alert_is_critical_and_holds_back_the_agents_alerts_but_not_their_states() -> None:
    targets, observations = fleet(silent=6, healthy=0)
    found = judge_pass([targets[:3], targets[3:]], observations)
    [note] = found.notes
    assert (note.kind, note.severity, note.label, note.condition) == (
        NotificationKind.PIPELINE_SILENT,
        Severity.CRITICAL,
        "Wazuh pipeline",
        Condition.SILENT,
    )
    pipeline = found.states["pipeline:all"]
    assert (pipeline.severity, pipeline.alerted, pipeline.since) == (Severity.CRITICAL, Severity.CRITICAL, NOW)
    for target in targets:
        state = found.states[target.key]
        assert (state.severity, state.alerted, state.condition) == (Severity.WARNING, Severity.OK, Condition.SILENT)


def test_agents_whose_source_failed_are_not_part_of_the_pipeline_ratio() -> None:
    # 5 silent of 5 answered (and 10 unknown): the pipeline; counted among 15 it would not be.
    targets, observations = fleet(silent=5, healthy=0, unknown=10)
    found = judge_pass([targets], observations)
    assert found.kinds() == [(NotificationKind.PIPELINE_SILENT, "pipeline:all")]
    assert found.notes[0].detail == "5 of 5 agents silent in one pass"


def test_locations_are_neither_silent_agents_nor_the_ratio_whole() -> None:
    locations = [Target.agent(f"{n:03d}", f"h{n}", 900.0, location="/var/log/syslog") for n in range(1, 7)]
    found = judge_pass([locations], {t.key: seen(t, SILENT) for t in locations})
    assert [kind for kind, _ in found.kinds()] == [NotificationKind.ALERT] * 6
    # And among agents, silent locations do not tip the ratio.
    targets, observations = fleet(silent=5, healthy=6)
    found = judge_pass([targets + locations], {**observations, **{t.key: seen(t, SILENT) for t in locations}})
    assert NotificationKind.PIPELINE_SILENT not in [kind for kind, _ in found.kinds()]


@pytest.mark.parametrize(
    ("silent", "drops", "words"),
    [
        (5, 0, "5 of 5 agents silent in one pass"),
        (0, 5, "5 of 5 agents dropping in one pass"),
        (3, 2, "5 of 5 agents silent or dropping in one pass"),
    ],
)
def test_the_pipeline_alert_says_whether_the_agents_are_silent_or_dropping(silent: int, drops: int, words: str) -> None:
    targets = agents(silent + drops)
    observations = {t.key: seen(t, SILENT) for t in targets[:silent]}
    observations |= {t.key: dropping(t, 3) for t in targets[silent:]}
    found = judge_pass([targets], observations)
    assert [(note.kind, note.detail) for note in found.notes] == [(NotificationKind.PIPELINE_SILENT, words)]


def test_an_ongoing_drop_counts_for_the_pipeline_only_as_a_fresh_drop_would() -> None:
    # 30 of 100 stays a drop for an agent already dropping (until half the baseline), but is no fresh drop.
    targets = agents(5)
    before = {t.key: TargetState(t.key, severity=Severity.WARNING, condition=Condition.RATE_DROP) for t in targets}
    found = judge_pass([targets], {t.key: dropping(t, 30) for t in targets}, states=before)
    assert found.kinds() == [(NotificationKind.ALERT, t.key) for t in targets]
    assert {found.states[t.key].condition for t in targets} == {Condition.RATE_DROP}
    # Far below the ratio, the same agents are the pipeline's.
    found = judge_pass([targets], {t.key: dropping(t, 3) for t in targets}, states=before)
    assert found.kinds() == [(NotificationKind.PIPELINE_SILENT, "pipeline:all")]


def test_the_pipeline_recovers_once_then_keeps_quiet() -> None:
    targets, silent = fleet(silent=5, healthy=0)
    first = judge_pass([targets], silent)
    healthy = {t.key: seen(t) for t in targets}
    second = judge_pass([targets], healthy, states=first.states)
    restored = [(n.kind, n.target_key) for n in second.notes if n.target_key == "pipeline:all"]
    assert restored == [(NotificationKind.PIPELINE_RESTORED, "pipeline:all")]
    # The agents' own alerts were held, so they have no recovery to send.
    assert second.notes[-1].kind is NotificationKind.PIPELINE_RESTORED
    assert len(second.notes) == 1
    assert second.states["pipeline:all"] == TargetState("pipeline:all", last_checked=NOW)
    third = judge_pass([targets], healthy, states=second.states)
    assert third.notes == []


def test_no_pipeline_state_is_written_while_the_pipeline_was_never_broken() -> None:
    targets, observations = fleet(silent=1, healthy=9)
    assert "pipeline:all" not in judge_pass([targets], observations).states


def test_a_broken_pipeline_reminds_with_backoff_not_every_pass() -> None:
    targets, observations = fleet(silent=5, healthy=0)
    first = judge_pass([targets], observations)
    soon = judge_pass([targets], observations, states=first.states, now=NOW + timedelta(minutes=10))
    assert [n.kind for n in soon.notes] == []
    later = judge_pass([targets], observations, states=soon.states, now=NOW + timedelta(minutes=31))
    assert [n.kind for n in later.notes] == [NotificationKind.PIPELINE_SILENT]


def test_agents_still_silent_after_the_pipeline_recovers_alert_on_their_own() -> None:
    targets, observations = fleet(silent=5, healthy=0)
    first = judge_pass([targets], observations)
    observations |= {t.key: seen(t) for t in targets[1:]}
    second = judge_pass([targets], observations, states=first.states)
    assert sorted(second.kinds()) == sorted(
        [(NotificationKind.ALERT, targets[0].key), (NotificationKind.PIPELINE_RESTORED, "pipeline:all")]
    )


# --- the backends ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "label"),
    [("api", "Wazuh API"), ("indexer", "Wazuh indexer"), ("clock", "this host's clock"), ("files", "files")],
)
def test_a_backend_down_is_one_alert_named_for_it_and_one_notice_back(backend: str, label: str) -> None:
    first = judge_pass([], {}, backends={backend: "connection refused"})
    [note] = first.notes
    assert (note.kind, note.target_key, note.label, note.detail) == (
        NotificationKind.BACKEND_DOWN,
        f"backend:{backend}",
        label,
        "connection refused",
    )
    assert first.states[f"backend:{backend}"].severity is Severity.UNKNOWN
    again = judge_pass([], {}, backends={backend: "connection refused"}, states=first.states)
    assert again.notes == []
    back = judge_pass([], {}, backends={backend: None}, states=again.states)
    assert [(n.kind, n.label) for n in back.notes] == [(NotificationKind.BACKEND_RESTORED, label)]
    assert back.states[f"backend:{backend}"] == TargetState(f"backend:{backend}", last_checked=NOW)


def test_every_backend_gets_its_state_each_pass_healthy_or_not() -> None:
    found = judge_pass([], {}, backends={"api": None, "indexer": "timed out"})
    assert {key: state.severity for key, state in found.states.items()} == {
        "backend:api": Severity.OK,
        "backend:indexer": Severity.UNKNOWN,
    }
    assert [n.target_key for n in found.notes] == ["backend:indexer"]
