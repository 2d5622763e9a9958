"""The judge: one pass's targets -> states, rows and notifications; the pipeline's alert, the backends', the holds."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from log_monitor import models
from log_monitor.judge import JudgeSettings, PassJudge, Verdict
from log_monitor.ledger import hour_index
from log_monitor.models import Cluster, Condition, NotificationKind, Observation, Severity, Target, TargetState
from log_monitor.rhythm import Profile
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
    transitions: list[models.Transition] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    points: list[models.RatePoint] = field(default_factory=list)

    def add(self, verdict: Verdict) -> None:
        self.rows += [(row.state.target_key, row.state.severity) for row in verdict.rows]
        self.transitions += verdict.transitions
        self.writes += [state.target_key for state in verdict.writes]
        self.points += verdict.rate_points
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
    cluster: Cluster | None = None,
) -> Pass:
    judge = PassJudge(states or {}, silenced or {}, now, settings, rows=rows)
    found = Pass()
    for part in slices:
        found.add(judge.judge(part, observations))
    found.add(judge.finish(backends or {}, cluster))
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


def test_the_pipelines_state_changes_are_told_against_its_previous_state() -> None:
    targets, observations = fleet(silent=5, healthy=0)
    first = judge_pass([targets], observations)
    pipeline = [t for t in first.transitions if t.target_key == "pipeline:all"]
    assert [(t.from_severity, t.to_severity, t.at) for t in pipeline] == [(None, Severity.CRITICAL, NOW)]
    later = NOW + timedelta(minutes=1)  # the same hour: a state that did not change is neither told nor written
    again = judge_pass([targets], observations, states=first.states, now=later)
    assert [t for t in again.transitions if t.target_key == "pipeline:all"] == []
    assert "pipeline:all" not in again.writes
    healthy = {key: seen(target, later) for key, target in zip(observations, targets, strict=True)}
    back = judge_pass([targets], healthy, states=again.states, now=later)
    pipeline = [t for t in back.transitions if t.target_key == "pipeline:all"]
    assert [(t.from_severity, t.to_severity, t.at) for t in pipeline] == [(Severity.CRITICAL, Severity.OK, later)]


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


# --- a cluster's nodes ---------------------------------------------------------------------------------------

BOTH = frozenset({"worker-1", "worker-2"})


def on_nodes(*nodes: tuple[str, int, int]) -> tuple[list[Target], dict[str, Observation]]:
    """Agents on each node: (node, silent, healthy), numbered in order; node "" for agents on none."""
    targets: list[Target] = []
    observations: dict[str, Observation] = {}
    for node, silent, healthy in nodes:
        part = agents(silent + healthy, first=len(targets) + 1)
        for n, target in enumerate(part):
            observations[target.key] = seen(target, SILENT if n < silent else FRESH, node_name=node or None)
        targets += part
    return targets, observations


@pytest.mark.parametrize(
    ("connected", "words"),
    [
        (
            frozenset({"worker-1"}),
            "node worker-2: 3 of 4 agents silent or disconnected since 2026-11-22 09:40 UTC; the node is not in the "
            "cluster (GET /cluster/healthcheck): it is down or cut off",
        ),
        (
            BOTH,
            "node worker-2: 3 of 4 agents silent or disconnected since 2026-11-22 09:40 UTC; the node is still in "
            "the cluster: look at its analysisd and its link to the indexer",
        ),
        (
            None,
            "node worker-2: 3 of 4 agents silent or disconnected since 2026-11-22 09:40 UTC (whether the node is in "
            "the cluster is unknown: no cluster:read)",
        ),
    ],
)
def test_a_node_most_of_whose_agents_fall_silent_is_one_alert_naming_them_and_holding_theirs(
    connected: frozenset[str] | None, words: str
) -> None:
    targets, observations = on_nodes(("worker-1", 0, 4), ("worker-2", 3, 1))
    found = judge_pass([targets], observations, cluster=Cluster(BOTH, connected))
    assert found.kinds() == [(NotificationKind.PIPELINE_SILENT, "node:worker-2")]
    (note,) = found.notes
    assert (note.severity, note.label, note.detail) == (Severity.CRITICAL, "Wazuh node worker-2", words)
    assert note.related == ("agent:005", "agent:006", "agent:007")
    assert found.states["agent:005"].severity is Severity.WARNING  # held, not lost: stored as it is
    assert found.states["node:worker-2"].severity is Severity.CRITICAL


def test_a_nodes_start_is_its_earliest_silent_agents() -> None:
    targets, observations = on_nodes(("worker-1", 0, 4), ("worker-2", 3, 0))
    observations["agent:006"] = seen(targets[5], NOW - timedelta(hours=2), node_name="worker-2")
    observations["agent:007"] = seen(targets[6], None, node_name="worker-2")
    found = judge_pass([targets], observations, cluster=Cluster(BOTH, BOTH))
    assert "3 of 3 agents silent or disconnected since 2026-11-22 08:00 UTC;" in found.notes[0].detail


@pytest.mark.parametrize(
    ("nodes", "cluster", "kinds"),
    [
        # Fewer than three silent agents on the node: each alerts on its own.
        ((("worker-1", 0, 4), ("worker-2", 2, 0)), Cluster(BOTH, BOTH), ["agent:005", "agent:006"]),
        # Three, but under the ratio of the node's agents (0.5 x 7).
        ((("worker-1", 0, 4), ("worker-2", 3, 4)), Cluster(BOTH, BOTH), ["agent:005", "agent:006", "agent:007"]),
        # Exactly the ratio (0.5 x 6) and the minimum: the node's alert.
        ((("worker-1", 0, 4), ("worker-2", 3, 3)), Cluster(BOTH, BOTH), ["node:worker-2"]),
        # No cluster, or only one node with agents: no node alert.
        ((("worker-1", 0, 4), ("worker-2", 3, 0)), None, ["agent:005", "agent:006", "agent:007"]),
        ((("worker-2", 3, 0),), Cluster(BOTH, BOTH), ["agent:001", "agent:002", "agent:003"]),
        # Every node broken: the whole pipeline's alert, not the nodes'.
        ((("worker-1", 3, 0), ("worker-2", 3, 0)), Cluster(BOTH, BOTH), ["pipeline:all"]),
    ],
)
def test_a_node_alert_needs_three_silent_agents_the_ratio_and_another_node_still_healthy(
    nodes: tuple[tuple[str, int, int], ...], cluster: Cluster | None, kinds: list[str]
) -> None:
    targets, observations = on_nodes(*nodes)
    found = judge_pass([targets], observations, cluster=cluster)
    assert sorted(key for _, key in found.kinds()) == kinds


def test_a_nodes_agents_leave_the_pipelines_ratio() -> None:
    # worker-2 (4 silent) is its own alert; the 6 silent agents on no node are past the ratio of the 11 agents
    # left (worker-1's 4 and the 7 on no node), not of all 15.
    targets, observations = on_nodes(("worker-1", 0, 4), ("worker-2", 4, 0), ("", 6, 1))
    found = judge_pass([targets], observations, cluster=Cluster(BOTH, BOTH))
    assert sorted(key for _, key in found.kinds()) == ["node:worker-2", "pipeline:all"]
    pipeline = next(note for note in found.notes if note.target_key == "pipeline:all")
    assert pipeline.detail == "6 of 11 agents silent in one pass"
    assert pipeline.related == ("agent:009", "agent:010", "agent:011", "agent:012", "agent:013", "agent:014")


def alerted_node(node: str) -> TargetState:
    return TargetState(
        f"node:{node}", Severity.CRITICAL, Condition.SILENT, since=NOW - timedelta(hours=1), alerted=Severity.CRITICAL
    )


@pytest.mark.parametrize(
    ("nodes", "listed", "kinds"),
    [
        # Its agents checked and healthy again: one notice back.
        ((("worker-1", 0, 4), ("worker-2", 0, 3)), BOTH, [(NotificationKind.PIPELINE_RESTORED, "node:worker-2")]),
        # None of its agents checked this pass while agents are listed on it: left as it was.
        ((("worker-1", 0, 4),), BOTH, []),
        # No agent listed on it any more (they enrolled elsewhere): it recovers.
        ((("worker-1", 0, 4),), frozenset({"worker-1"}), [(NotificationKind.PIPELINE_RESTORED, "node:worker-2")]),
    ],
)
def test_a_node_alerted_before_recovers_once_its_agents_are_back_or_gone(
    nodes: tuple[tuple[str, int, int], ...], listed: frozenset[str], kinds: list[tuple[NotificationKind, str]]
) -> None:
    targets, observations = on_nodes(*nodes)
    states = {"node:worker-2": alerted_node("worker-2")}
    found = judge_pass([targets], observations, states=states, cluster=Cluster(listed, listed))
    assert found.kinds() == kinds
    assert ("node:worker-2" in found.states) is bool(kinds)


# --- the norm an incremental read's rate is judged against -------------------------------------------------------

HOUR = hour_index(NOW)


def read(target: Target, hour_counts: tuple[int, ...] = (), hour_from: int = 0) -> Observation:
    """An incremental read of the last five minutes, with the hours it brings (a first read's history)."""
    return seen(
        target, read_from=NOW - timedelta(minutes=5), read_until=NOW, hour_from=hour_from, hour_counts=hour_counts
    )


def norm_after(
    obs: Observation,
    previous: TargetState | None = None,
    norms: Mapping[str, tuple[float, int]] | None = None,
    norm_hour: int = HOUR,
) -> tuple[float | None, int, int]:
    states = {previous.target_key: previous} if previous is not None else {}
    judge = PassJudge(states, {}, NOW, JudgeSettings(POLICY, rate_window_s=900.0), norm_hour=norm_hour)
    verdict = judge.judge([TARGET], {TARGET.key: obs}, norms)
    verdict.states += judge.finish({}).states
    (state,) = [state for state in verdict.states if state.target_key == TARGET.key]
    return state.norm, state.norm_hour, state.norm_days


TARGET = agents(1)[0]
# A first read's week of hours: the same hour on the previous days held 10, 0, 30 events (3 days back at most).
WEEK = (10, *([0] * 23), 0, *([0] * 23), 30, *([0] * 23), 5)
KEPT = TargetState(TARGET.key, read_until=NOW - timedelta(minutes=5), norm=40.0, norm_hour=HOUR, norm_days=6)


@pytest.mark.parametrize(
    ("obs", "previous", "norms", "norm_hour", "norm"),
    [
        # The slice's fresh norm for this pass's hour, whatever was kept.
        (read(TARGET), KEPT, {TARGET.key: (12.0, 5)}, HOUR, (12.0, HOUR, 5)),
        # The kept norm, when it is for this hour.
        (read(TARGET), KEPT, {}, HOUR, (40.0, HOUR, 6)),
        (read(TARGET), KEPT, None, HOUR, (40.0, HOUR, 6)),
        # A kept norm for another hour is not this hour's: none.
        (read(TARGET), KEPT, None, HOUR + 1, (None, -1, 0)),
        # A first read: the norm of the history it brings (the median of 30, 0 and 10; 2 days with events).
        (read(TARGET, WEEK, HOUR - 72), None, None, HOUR, (10.0, HOUR, 2)),
        (read(TARGET, WEEK, HOUR - 72), TargetState(TARGET.key), None, HOUR, (10.0, HOUR, 2)),
        # ... but not without an hour to judge (-1), nor when it brings none of the same hour.
        (read(TARGET, WEEK, HOUR - 72), None, None, -1, (None, -1, 0)),
        (read(TARGET, (5,), HOUR), None, None, HOUR, (None, -1, 0)),
        # Not a first read and no norm kept for this hour: none (the history is the store's to read).
        (read(TARGET, WEEK, HOUR - 72), replace(KEPT, norm_hour=HOUR - 1), None, HOUR, (None, -1, 0)),
    ],
)
def test_an_incremental_read_is_judged_against_the_freshest_norm_for_its_hour(
    obs: Observation,
    previous: TargetState | None,
    norms: Mapping[str, tuple[float, int]] | None,
    norm_hour: int,
    norm: tuple[float | None, int, int],
) -> None:
    assert norm_after(obs, previous, norms, norm_hour) == norm


def test_a_target_not_read_incrementally_keeps_its_norm_and_a_new_one_has_none() -> None:
    assert norm_after(seen(TARGET), KEPT) == (40.0, HOUR, 6)
    assert norm_after(seen(TARGET)) == (None, -1, 0)


def test_an_incremental_read_moves_the_ledger_and_a_whole_window_gives_the_rate_against_the_norm() -> None:
    # Read up to 09:55 (2 events in its hour), the window filling since 09:45 with 6: five more minutes, 3 events.
    previous = replace(KEPT, hour_events=2, win_from=NOW - timedelta(minutes=15), win_events=6)
    obs = read(TARGET, (3,), HOUR - 1)
    judge = PassJudge({TARGET.key: previous}, {}, NOW, JudgeSettings(POLICY, rate_window_s=900.0), norm_hour=HOUR)
    (state,) = judge.judge([TARGET], {TARGET.key: obs}).states
    assert (state.read_until, state.hour_events, state.win_from, state.win_events) == (NOW, 5, NOW, 0)
    # The window of 15 minutes is whole: 9 events against a quarter of the hour's norm of 40, 6 days of history.
    assert (state.recent, state.baseline, state.rate_window_s, state.history_days) == (9, 10.0, 900.0, 6)


# --- silence by each target's rhythm ---------------------------------------------------------------------------

QUIET_HOURS = Profile(array("d", [30.0] * 48), 7, 720.0)  # 30 events an hour: 20 minutes silent expect 10


def test_a_silent_targets_profile_judges_its_silence_and_its_part_in_the_pipeline() -> None:
    targets, observations = fleet(silent=5, healthy=0)
    profiles = {target.key: QUIET_HOURS for target in targets}
    # A drop going on: the pipeline's tally judges the silence afresh, by the same rhythm.
    states = {t.key: TargetState(t.key, Severity.WARNING, Condition.RATE_DROP, since=SILENT) for t in targets}
    judge = PassJudge(states, {}, NOW, SETTINGS)
    found = Pass()
    found.add(judge.judge(targets, observations, profiles=profiles))
    found.add(judge.finish({}))
    assert found.kinds() == []  # 10 events expected: no silence, and no pipeline alert
    assert {severity for _, severity in found.rows} == {Severity.OK}
    fixed = judge_pass([targets], observations, states=states)
    assert [kind for kind, _ in fixed.kinds()] == [NotificationKind.PIPELINE_SILENT]  # without the profiles


# --- what a pass tells besides its notifications: rows, transitions, writes, rate points, closed hours -----------


def judged_rows(
    targets: Sequence[Target],
    observations: Mapping[str, Observation],
    states: Mapping[str, TargetState],
    silenced: Mapping[str, models.Silence] | None = None,
) -> dict[str, tuple[Severity | None, Severity, bool]]:
    judge = PassJudge(states, silenced or {}, NOW, SETTINGS)
    rows = judge.judge(targets, observations).rows + judge.finish({}).rows
    return {row.target.key: (row.before, row.state.severity, row.changed) for row in rows}


def stored(target: Target, severity: Severity) -> TargetState:
    condition = Condition.OK if severity is Severity.OK else Condition.SILENT
    return TargetState(target.key, severity, condition, since=SILENT, last_checked=NOW - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("previous", "silenced", "last_event", "row"),
    [
        (None, False, SILENT, (None, Severity.WARNING, True)),  # new: it changed from nothing
        (Severity.OK, False, SILENT, (Severity.OK, Severity.WARNING, True)),
        (Severity.WARNING, False, SILENT, (Severity.WARNING, Severity.WARNING, False)),
        (Severity.WARNING, False, FRESH, (Severity.WARNING, Severity.OK, True)),
        # Held by a silence: shown MAINTENANCE before and now, so nothing changed for the eye.
        (Severity.WARNING, True, SILENT, (Severity.MAINTENANCE, Severity.MAINTENANCE, False)),
        (Severity.WARNING, True, FRESH, (Severity.MAINTENANCE, Severity.OK, True)),
        (None, True, SILENT, (None, Severity.MAINTENANCE, True)),
    ],
)
def test_a_row_tells_the_severity_shown_before_the_pass_and_whether_it_changed(
    previous: Severity | None, silenced: bool, last_event: datetime, row: tuple[Severity | None, Severity, bool]
) -> None:
    (target,) = agents(1)
    states = {target.key: stored(target, previous)} if previous is not None else {}
    holds = {target.key: silence(target.key)} if silenced else {}
    assert judged_rows([target], {target.key: seen(target, last_event)}, states, holds) == {target.key: row}


def test_each_stored_severity_change_is_one_transition_and_an_unchanged_state_is_not_written_again() -> None:
    targets = agents(2)
    observations = {targets[0].key: seen(targets[0], SILENT), targets[1].key: seen(targets[1])}
    first = judge_pass([targets], observations, backends={"api": "refused"})
    changes = sorted((t.target_key, t.from_severity, t.to_severity, t.at) for t in first.transitions)
    assert changes == [("agent:001", None, Severity.WARNING, NOW), ("backend:api", None, Severity.UNKNOWN, NOW)]
    assert sorted(first.writes) == ["agent:001", "agent:002", "backend:api"]
    later = NOW + timedelta(minutes=1)  # the same hour, nothing changed
    again = judge_pass([targets], observations, states=first.states, backends={"api": "refused"}, now=later)
    assert (again.transitions, again.writes) == ([], [])


def test_a_targets_rate_is_one_point_at_its_first_figures_and_none_again_in_the_same_hour() -> None:
    targets = agents(2)
    observations = {t.key: dropping(t, recent=50) for t in targets}
    first = judge_pass([targets], observations)
    assert [(p.target_key, p.events, p.baseline) for p in first.points] == [
        ("agent:001", 50, 100.0),
        ("agent:002", 50, 100.0),
    ]
    again = judge_pass([targets], observations, states=first.states, now=NOW + timedelta(minutes=1))
    assert again.points == []


def test_a_read_across_the_hour_closes_the_hour_for_each_target() -> None:
    targets = agents(2)
    previous = {t.key: replace(KEPT, target_key=t.key, hour_events=2) for t in targets}
    observations = {t.key: read(t, (3, 1), HOUR - 1) for t in targets}
    for t in targets:  # 09:55 to 10:05: the hour 09:00 is closed with its 5 events
        observations[t.key].read_until = NOW + timedelta(minutes=5)
    verdict = PassJudge(previous, {}, NOW, SETTINGS, norm_hour=HOUR).judge(targets, observations)
    closed = [(key, day, list(counts)) for key, day, counts in verdict.hours]
    day, slot = divmod(HOUR - 1, 24)
    assert [(key, found) for key, found_day, counts in closed for found in [counts[slot]] if found_day == day] == [
        ("agent:001", 5),
        ("agent:002", 5),
    ]
    assert [state.hour_events for state in verdict.states] == [1, 1]


def test_a_held_target_keeps_its_read_and_an_unread_one_its_ledger() -> None:
    silent, failed = agents(2)
    previous = {t.key: replace(KEPT, target_key=t.key, hour_events=2) for t in (silent, failed)}
    observations = {silent.key: replace(read(silent, (0,), HOUR - 1), last_event=SILENT), failed.key: down(failed)}
    judge = PassJudge(previous, {}, NOW, SETTINGS, norm_hour=HOUR)
    found = Pass()
    found.add(judge.judge([silent, failed], observations))
    found.add(judge.finish({}))
    # The silent one waited for the finish with its read: the ledger moved on to NOW, its norm kept.
    assert (found.states[silent.key].read_until, found.states[silent.key].norm) == (NOW, 40.0)
    # The failed one read nothing: its ledger is the previous state's.
    kept = found.states[failed.key]
    assert (kept.read_until, kept.hour_events, kept.norm, kept.norm_hour) == (KEPT.read_until, 2, 40.0, HOUR)


def test_a_window_still_filling_shows_the_previous_figures() -> None:
    previous = replace(KEPT, hour_events=2, win_from=NOW - timedelta(minutes=10), win_events=6, recent=7, baseline=9.0)
    previous.rate_window_s = 900.0
    judge = PassJudge({TARGET.key: previous}, {}, NOW, JudgeSettings(POLICY, rate_window_s=900.0), norm_hour=HOUR)
    (state,) = judge.judge([TARGET], {TARGET.key: read(TARGET, (3,), HOUR - 1)}).states
    assert (state.recent, state.baseline, state.rate_window_s, state.win_events) == (7, 9.0, 900.0, 9)


def test_a_nodes_words_without_a_start_and_each_alerted_node_judged_apart() -> None:
    targets, observations = on_nodes(("worker-1", 0, 4), ("worker-2", 3, 0))
    for target in targets[4:]:  # never seen: no silence start to tell
        observations[target.key] = seen(target, None, node_name="worker-2")
    found = judge_pass([targets], observations, cluster=Cluster(BOTH, BOTH))
    assert found.notes[0].detail.startswith("node worker-2: 3 of 3 agents silent or disconnected; the node is still")
    # worker-0 alerted before but unchecked (left as it was), worker-2's agents back: it recovers all the same.
    healthy, _ = on_nodes(("worker-1", 0, 4), ("worker-2", 0, 3))
    states = {"node:worker-0": alerted_node("worker-0"), "node:worker-2": alerted_node("worker-2")}
    listed = frozenset({"worker-0", *BOTH})
    back = judge_pass([healthy], _, states=states, cluster=Cluster(listed, listed))
    assert back.kinds() == [(NotificationKind.PIPELINE_RESTORED, "node:worker-2")]


def test_a_target_held_by_a_window_in_its_zone_was_shown_maintenance_before_the_pass_too() -> None:
    # 10:30 to 11:30 in UTC+1 wall time holds 10:00 UTC; read in UTC (the zone dropped), it would not.
    window = models.MaintenanceWindow(frozenset(range(7)), 10 * 60 + 30, 11 * 60 + 30, "10:30-11:30")
    target = Target.agent("001", "web-1", 900.0, maintenance=(window,))
    settings = JudgeSettings(POLICY, zone=timezone(timedelta(hours=1)))
    judge = PassJudge({target.key: stored(target, Severity.WARNING)}, {}, NOW, settings)
    rows = judge.judge([target], {target.key: seen(target, SILENT)}).rows + judge.finish({}).rows
    assert [(row.before, row.state.severity, row.changed) for row in rows] == [
        (Severity.MAINTENANCE, Severity.MAINTENANCE, False)
    ]


def test_a_target_read_the_ordinary_way_keeps_its_ledger() -> None:
    judge = PassJudge({TARGET.key: replace(KEPT, hour_events=2)}, {}, NOW, SETTINGS, norm_hour=HOUR)
    (state,) = judge.judge([TARGET], {TARGET.key: seen(TARGET)}).states
    assert (state.read_until, state.hour_events) == (KEPT.read_until, 2)
