"""The judge: targets, observations, states, silences and backends at `now` -> new states and notifications; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from log_monitor.models import (
    Condition,
    Notification,
    NotificationKind,
    Observation,
    Severity,
    Silence,
    Target,
    TargetKind,
    TargetState,
)
from log_monitor.policy import Assessment, PolicySettings, assess, backend_step, step
from log_monitor.view import held, shown

PIPELINE_KEY = "pipeline:all"
PIPELINE_MIN_AGENTS = 5
# How each backend is named in its alert.
BACKEND_LABELS = {"api": "Wazuh API", "indexer": "Wazuh indexer", "clock": "this host's clock"}


@dataclass(frozen=True)
class JudgeSettings:
    """What the judge needs beyond the policy: the pipeline ratio and the maintenance windows' zone."""

    policy: PolicySettings
    pipeline_ratio: float = 0.5
    zone: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class Judged:
    """One row of a pass: the target, what was seen, the state it is now in (as shown) and the one before."""

    target: Target
    observation: Observation
    state: TargetState
    previous: TargetState | None


@dataclass
class Verdict:
    """What the judge decided: rows to show, states to store, notifications to queue."""

    rows: list[Judged] = field(default_factory=list)
    states: list[TargetState] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


def judge(
    targets: Sequence[Target],
    observations: Mapping[str, Observation],
    states: Mapping[str, TargetState],
    silenced: Mapping[str, Silence],
    backends: Mapping[str, str | None],
    now: datetime,
    settings: JudgeSettings,
) -> Verdict:
    """Every target and backend advanced by one pass.

    `backends` maps each configured backend to its problem in this pass (None: it answered). When most
    agents fall silent together the pipeline is broken: one alert replaces theirs (inhibition).
    """
    verdict = Verdict()
    policy = settings.policy
    assessed = {t.key: _assess(t, observations[t.key], states.get(t.key), now, policy) for t in targets}
    pipeline_problem, pipeline_keys = _pipeline(targets, observations, assessed, states, now, settings)
    for target in targets:
        quiet = bool(silenced or target.maintenance) and held(target, silenced, now, settings.zone)
        inhibited = pipeline_problem is not None and target.kind is not TargetKind.LOCAL_FILE
        obs = observations[target.key]
        previous = states.get(target.key)
        decision = step(
            previous or TargetState(target.key),
            target,
            obs,
            now,
            policy,
            quiet=quiet or inhibited,
            found=assessed[target.key],
        )
        state = decision.state
        if quiet and state.severity in (Severity.WARNING, Severity.CRITICAL):
            # Stored as the real severity (so the alert goes out when the hold ends), shown as everywhere else.
            view = shown(decision.state, target, silenced, now, settings.zone)
            state = replace(decision.state, severity=view.severity or decision.state.severity)
        verdict.states.append(decision.state)
        verdict.notifications.extend(decision.notifications)
        verdict.rows.append(Judged(target, obs, state, previous))
    _judge_shared(verdict, backends, pipeline_problem, pipeline_keys, states, now, policy)
    return verdict


def _judge_shared(
    verdict: Verdict,
    backends: Mapping[str, str | None],
    pipeline_problem: str | None,
    pipeline_keys: tuple[str, ...],
    states: Mapping[str, TargetState],
    now: datetime,
    policy: PolicySettings,
) -> None:
    """The backends' states and the whole pipeline's: one alert each when something shared breaks."""
    for backend, problem in backends.items():
        key = f"backend:{backend}"
        label = BACKEND_LABELS.get(backend, backend)
        decision = backend_step(states.get(key) or TargetState(key), label, problem, now, policy)
        verdict.states.append(decision.state)
        verdict.notifications.extend(decision.notifications)
    if pipeline_problem is not None or PIPELINE_KEY in states:
        decision = backend_step(
            states.get(PIPELINE_KEY) or TargetState(PIPELINE_KEY),
            "Wazuh pipeline",
            pipeline_problem,
            now,
            policy,
            down=NotificationKind.PIPELINE_SILENT,
            up=NotificationKind.PIPELINE_RESTORED,
            severity=Severity.CRITICAL,
            related=pipeline_keys,
        )
        verdict.states.append(decision.state)
        verdict.notifications.extend(decision.notifications)


def _assess(
    target: Target, obs: Observation, previous: TargetState | None, now: datetime, policy: PolicySettings
) -> Assessment:
    """The observation's assessment, as `step` makes it (a rate-drop episode holds until the count is back)."""
    return assess(target, obs, now, policy, dropping=previous is not None and previous.condition is Condition.RATE_DROP)


def _pipeline(
    targets: Sequence[Target],
    observations: Mapping[str, Observation],
    assessed: Mapping[str, Assessment],
    states: Mapping[str, TargetState],
    now: datetime,
    settings: JudgeSettings,
) -> tuple[str | None, tuple[str, ...]]:
    agents = [t for t in targets if t.kind is TargetKind.AGENT and not observations[t.key].unknown]
    bad = []
    for target in agents:
        found = assessed[target.key]
        previous = states.get(target.key)
        if previous is not None and previous.condition is Condition.RATE_DROP:
            found = assess(target, observations[target.key], now, settings.policy)  # as a fresh drop is judged
        if found.severity in (Severity.WARNING, Severity.CRITICAL):
            bad.append((target.key, found.condition))
    silent = tuple(key for key, _ in bad)
    if len(silent) >= PIPELINE_MIN_AGENTS and len(silent) >= settings.pipeline_ratio * len(agents):
        # Most agents dropping together is a pipeline fault too (a full queue, a broken filter upstream).
        drops = sum(1 for _, condition in bad if condition is Condition.RATE_DROP)
        how = "silent" if not drops else "dropping" if drops == len(bad) else "silent or dropping"
        return f"{len(silent)} of {len(agents)} agents {how} in one pass", silent
    return None, ()
