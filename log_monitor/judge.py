"""The judge: targets, observations, states, silences and backends at `now` -> new states and notifications; pure."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from log_monitor.ledger import Entry, advance, apply, rate_figures
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
from log_monitor.rhythm import Profile
from log_monitor.view import held, shown

PIPELINE_KEY = "pipeline:all"
PIPELINE_MIN_AGENTS = 5
# The severities the pipeline's inhibition may hold back: judged once the whole pass is seen.
_HELD = frozenset({Severity.WARNING, Severity.CRITICAL})
# How each backend is named in its alert.
BACKEND_LABELS = {"api": "Wazuh API", "indexer": "Wazuh indexer", "clock": "this host's clock"}


@dataclass(frozen=True)
class JudgeSettings:
    """What the judge needs beyond the policy: the pipeline ratio and the maintenance windows' zone."""

    policy: PolicySettings
    pipeline_ratio: float = 0.5
    zone: tzinfo | None = None
    rate_window_s: float | None = None  # the rate drop's window (DEFAULT_CHECK_INTERVAL); None: no baselines kept


@dataclass(frozen=True, slots=True)
class Judged:
    """One row of a pass: the target, what was seen, the state it is now in (as shown) and the one before."""

    target: Target
    observation: Observation
    state: TargetState
    previous: TargetState | None


@dataclass
class Verdict:
    """What the judge decided: rows to show, states to store, notifications to queue, targets by severity shown."""

    rows: list[Judged] = field(default_factory=list)  # every target's, or only the changed ones' (PassJudge's rows)
    states: list[TargetState] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    severities: dict[Severity, int] = field(default_factory=dict)
    hours: list[tuple[str, int, array[int]]] = field(default_factory=list)  # closed hours: (key, day, 24 counts)


# A target's norm: (median events in the hour on the previous days, the hour index it is for, days with events).
Norm = tuple[float | None, int, int]
_NO_NORM: Norm = (None, -1, 0)


class PassJudge:
    """One pass judged slice by slice, so a pass never holds every target's observation at once.

    Only a target found WARNING or CRITICAL can be held back by the pipeline's inhibition, and whether the
    pipeline is broken is known once every agent is seen: those targets wait for `finish`, the others
    (nearly all, in a healthy fleet) are judged with their slice. Pure: no I/O, `now` given.
    """

    def __init__(
        self,
        states: Mapping[str, TargetState],
        silenced: Mapping[str, Silence],
        now: datetime,
        settings: JudgeSettings,
        *,
        rows: bool = True,
        norm_hour: int = -1,
    ) -> None:
        # Read, never changed: the store's kept copy, whose old states each slice's commit lets go.
        self._states = states
        self._norm_hour = norm_hour  # the hour whose norm this pass's rate windows are judged against
        self._silenced = silenced
        self._now = now
        self._settings = settings
        # False: a row only for a target whose severity changed (the one the log tells), the others only counted.
        self._rows = rows
        self._waiting: list[tuple[Target, Observation, Assessment, TargetState | None, Entry | None, Norm]] = []
        self._agents = 0  # agents whose observation is not unknown: the pipeline ratio's whole
        self._bad: list[tuple[str, Condition]] = []  # of those, the silent or dropping

    def judge(
        self,
        targets: Sequence[Target],
        observations: Mapping[str, Observation],
        norms: Mapping[str, tuple[float, int]] | None = None,
        profiles: Mapping[str, Profile] | None = None,
    ) -> Verdict:
        """One slice: every target judged now but those that the pipeline's state may hold back.

        `norms` are the slice's fresh norms for this pass's hour, (median, days with events), read from the
        history for the targets whose kept norm is for another hour. `profiles` are the hourly rhythms of the
        targets that are silent (SILENCE_MODE=rhythm judges their silence by them).
        """
        verdict = Verdict()
        now, policy, states = self._now, self._settings.policy, self._states
        window_s = self._settings.rate_window_s
        for target in targets:
            obs = observations[target.key]
            previous = states.get(target.key)
            entry: Entry | None = None
            norm = _NO_NORM
            if obs.read_until is not None:
                norm = self._norm(target.key, previous, norms)
                entry = advance(previous, obs, window_s, norm[0] if window_s is not None else None)
                if window_s is not None:
                    rate_figures(obs, entry, previous, norm[2])
            dropping = previous is not None and previous.condition is Condition.RATE_DROP
            profile = profiles.get(target.key) if profiles else None
            found = assess(target, obs, now, policy, dropping=dropping, profile=profile)
            if target.kind is TargetKind.AGENT and obs.error is None:
                self._count(target, obs, dropping, found, profile)
            if found.severity in _HELD and target.kind is not TargetKind.LOCAL_FILE:
                self._waiting.append((target, obs, found, previous, entry, norm))
                continue
            self._step(verdict, target, obs, found, previous, entry, norm, inhibited=False)
        return verdict

    def _norm(self, key: str, previous: TargetState | None, norms: Mapping[str, tuple[float, int]] | None) -> Norm:
        fresh = norms.get(key) if norms else None
        if fresh is not None:
            return fresh[0], self._norm_hour, fresh[1]
        if previous is not None and previous.norm_hour == self._norm_hour:
            return previous.norm, previous.norm_hour, previous.norm_days
        return _NO_NORM

    def finish(self, backends: Mapping[str, str | None]) -> Verdict:
        """The targets held for the pipeline's verdict, then the backends' and the pipeline's own states."""
        verdict = Verdict()
        problem, keys = self._pipeline()
        for target, obs, found, previous, entry, norm in self._waiting:
            self._step(verdict, target, obs, found, previous, entry, norm, inhibited=problem is not None)
        self._waiting = []
        _judge_shared(verdict, backends, problem, keys, self._states, self._now, self._settings.policy)
        return verdict

    def _step(
        self,
        verdict: Verdict,
        target: Target,
        obs: Observation,
        found: Assessment,
        previous: TargetState | None,
        entry: Entry | None,
        norm: Norm,
        *,
        inhibited: bool,
    ) -> None:
        now, settings, silenced = self._now, self._settings, self._silenced
        quiet = bool(silenced or target.maintenance) and held(target, silenced, now, settings.zone)
        decision = step(
            previous or TargetState(target.key),
            target,
            obs,
            now,
            settings.policy,
            quiet=quiet or inhibited,
            found=found,
        )
        state = decision.state
        apply(state, entry, previous)
        if obs.read_until is not None:
            state.norm, state.norm_hour, state.norm_days = norm
        elif previous is not None:
            state.norm, state.norm_hour, state.norm_days = previous.norm, previous.norm_hour, previous.norm_days
        if entry is not None and entry.closed:
            verdict.hours += [(target.key, day, counts) for day, counts in entry.closed.items()]
        if quiet and state.severity in (Severity.WARNING, Severity.CRITICAL):
            # Stored as the real severity (so the alert goes out when the hold ends), shown as everywhere else.
            view = shown(decision.state, target, silenced, now, settings.zone)
            state = replace(decision.state, severity=view.severity or decision.state.severity)
        verdict.states.append(decision.state)
        if decision.notifications:
            verdict.notifications += decision.notifications
        severities = verdict.severities
        severities[state.severity] = severities.get(state.severity, 0) + 1
        if self._rows or (state.severity is not (previous.severity if previous is not None else Severity.OK)):
            verdict.rows.append(Judged(target, obs, state, previous))

    def _count(
        self, target: Target, obs: Observation, dropping: bool, found: Assessment, profile: Profile | None
    ) -> None:
        """The pipeline's tally: an agent in a rate-drop episode counts as a fresh drop would."""
        self._agents += 1
        if dropping:
            found = assess(target, obs, self._now, self._settings.policy, profile=profile)
        if found.severity in _HELD:
            self._bad.append((target.key, found.condition))

    def _pipeline(self) -> tuple[str | None, tuple[str, ...]]:
        silent = tuple(key for key, _ in self._bad)
        if len(silent) >= PIPELINE_MIN_AGENTS and len(silent) >= self._settings.pipeline_ratio * self._agents:
            # Most agents dropping together is a pipeline fault too (a full queue, a broken filter upstream).
            drops = sum(1 for _, condition in self._bad if condition is Condition.RATE_DROP)
            how = "silent" if not drops else "dropping" if drops == len(self._bad) else "silent or dropping"
            return f"{len(silent)} of {self._agents} agents {how} in one pass", silent
        return None, ()


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
