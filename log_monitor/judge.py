"""The judge: targets, observations, states, silences and backends at `now` -> new states and notifications; pure."""

from __future__ import annotations

from array import array
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from log_monitor.changes import rate_points, transition, worth_writing
from log_monitor.ledger import Entry, advance, apply, norm_of_read, rate_figures
from log_monitor.models import (
    Cluster,
    Condition,
    Notification,
    NotificationKind,
    Observation,
    RatePoint,
    Severity,
    Silence,
    Target,
    TargetKind,
    TargetState,
    Transition,
)
from log_monitor.policy import Assessment, PolicySettings, assess, backend_step, step
from log_monitor.rhythm import Profile
from log_monitor.view import held, shown

PIPELINE_KEY = "pipeline:all"
PIPELINE_MIN_AGENTS = 5
# A cluster node's state: "node:worker-2". One alert when most of its agents fall silent together.
NODE_PREFIX = "node:"
NODE_MIN_AGENTS = 3
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
    before: Severity | None = None  # the severity shown before this pass (None: a new target)
    changed: bool = True  # whether the shown severity changed: the one thing the log tells


@dataclass
class Verdict:
    """What the judge decided: rows to show, states to store, notifications to queue, targets by severity shown."""

    rows: list[Judged] = field(default_factory=list)  # every target's, or only the changed ones' (PassJudge's rows)
    states: list[TargetState] = field(default_factory=list)  # every new state: the store keeps them in memory
    writes: list[TargetState] = field(default_factory=list)  # of those, the ones to write to the file now
    transitions: list[Transition] = field(default_factory=list)
    rate_points: list[RatePoint] = field(default_factory=list)
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
        self._node_agents: dict[str, int] = {}  # agents counted, by cluster node
        self._node_bad: dict[str, list[tuple[str, datetime | None]]] = {}  # the silent ones, since when

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
                norm = self._norm(target.key, obs, previous, norms)
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

    def _norm(
        self,
        key: str,
        obs: Observation,
        previous: TargetState | None,
        norms: Mapping[str, tuple[float, int]] | None,
    ) -> Norm:
        fresh = norms.get(key) if norms else None
        if fresh is not None:
            return fresh[0], self._norm_hour, fresh[1]
        if previous is not None and previous.norm_hour == self._norm_hour:
            return previous.norm, previous.norm_hour, previous.norm_days
        if previous is None or previous.read_until is None:
            # A first read: the history it brings is judged with at once (the store has none of it yet).
            found = norm_of_read(obs, self._norm_hour) if self._norm_hour >= 0 else None
            if found is not None:
                return found[0], self._norm_hour, found[1]
        return _NO_NORM

    def finish(self, backends: Mapping[str, str | None], cluster: Cluster | None = None) -> Verdict:
        """The targets held for the pipeline's verdict, then the backends' and the pipeline's own states.

        With a cluster, a node most of whose agents fell silent together is one alert, as the pipeline is:
        its agents' own alerts are held, and they do not count towards the pipeline's ratio.
        """
        verdict = Verdict()
        nodes = self._broken_nodes(cluster)
        problem, keys = self._pipeline(nodes)
        for target, obs, found, previous, entry, norm in self._waiting:
            inhibited = problem is not None or (obs.node_name is not None and obs.node_name in nodes)
            self._step(verdict, target, obs, found, previous, entry, norm, inhibited=inhibited)
        self._waiting = []
        _judge_shared(verdict, backends, problem, keys, self._states, self._now, self._settings.policy)
        if cluster is not None:
            counted = self._node_agents.keys()
            _judge_nodes(verdict, nodes, counted, cluster.listed, self._states, self._now, self._settings.policy)
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
        _record(verdict, previous, decision.state, now)
        if decision.notifications:
            verdict.notifications += decision.notifications
        severities = verdict.severities
        severities[state.severity] = severities.get(state.severity, 0) + 1
        before = previous.severity if previous is not None else None
        if quiet and previous is not None and before in _HELD:
            before = shown(previous, target, silenced, now, settings.zone).severity or before
        changed = state.severity is not (before or Severity.OK)
        if self._rows or changed:
            verdict.rows.append(Judged(target, obs, state, previous, before, changed))

    def _count(
        self, target: Target, obs: Observation, dropping: bool, found: Assessment, profile: Profile | None
    ) -> None:
        """The pipeline's tally: an agent in a rate-drop episode counts as a fresh drop would."""
        self._agents += 1
        if dropping:
            found = assess(target, obs, self._now, self._settings.policy, profile=profile)
        if found.severity in _HELD:
            self._bad.append((target.key, found.condition))
        node = obs.node_name
        if node:
            self._node_agents[node] = self._node_agents.get(node, 0) + 1
            if found.severity in _HELD:
                self._node_bad.setdefault(node, []).append((target.key, found.silence_start))

    def _broken_nodes(self, cluster: Cluster | None) -> dict[str, tuple[str, tuple[str, ...]]]:
        """The nodes most of whose agents (and at least NODE_MIN_AGENTS) are silent: node -> (words, agent keys).

        None with fewer than two nodes, nor when every node is: that is the whole pipeline's alert.
        """
        if cluster is None or len(self._node_agents) < 2:
            return {}
        ratio = self._settings.pipeline_ratio
        broken = {
            node: bad
            for node, bad in self._node_bad.items()
            if len(bad) >= NODE_MIN_AGENTS and len(bad) >= ratio * self._node_agents[node]
        }
        if len(broken) == len(self._node_agents):
            return {}
        return {
            node: (_node_words(node, bad, self._node_agents[node], cluster), tuple(k for k, _ in bad))
            for node, bad in broken.items()
        }

    def _pipeline(self, nodes: Mapping[str, tuple[str, tuple[str, ...]]]) -> tuple[str | None, tuple[str, ...]]:
        # The agents of a node alerted on their own are that node's news, not the pipeline's.
        covered = {key for _, keys in nodes.values() for key in keys}
        silent = tuple(key for key, _ in self._bad if key not in covered)
        agents = self._agents - sum(self._node_agents[node] for node in nodes)
        if len(silent) >= PIPELINE_MIN_AGENTS and len(silent) >= self._settings.pipeline_ratio * agents:
            # Most agents dropping together is a pipeline fault too (a full queue, a broken filter upstream).
            bad = [condition for key, condition in self._bad if key not in covered]
            drops = sum(1 for condition in bad if condition is Condition.RATE_DROP)
            how = "silent" if not drops else "dropping" if drops == len(bad) else "silent or dropping"
            return f"{len(silent)} of {agents} agents {how} in one pass", silent
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
        _record(verdict, states.get(key), decision.state, now)
        verdict.notifications.extend(decision.notifications)
    if pipeline_problem is not None or PIPELINE_KEY in states:
        _grouped(verdict, PIPELINE_KEY, "Wazuh pipeline", pipeline_problem, pipeline_keys, states, now, policy)


def _grouped(
    verdict: Verdict,
    key: str,
    label: str,
    problem: str | None,
    related: tuple[str, ...],
    states: Mapping[str, TargetState],
    now: datetime,
    policy: PolicySettings,
) -> None:
    """A grouped state (the whole pipeline, a cluster node): one CRITICAL alert naming its targets, one recovery."""
    decision = backend_step(
        states.get(key) or TargetState(key),
        label,
        problem,
        now,
        policy,
        down=NotificationKind.PIPELINE_SILENT,
        up=NotificationKind.PIPELINE_RESTORED,
        severity=Severity.CRITICAL,
        related=related,
    )
    _record(verdict, states.get(key), decision.state, now)
    verdict.notifications.extend(decision.notifications)


def _record(verdict: Verdict, previous: TargetState | None, state: TargetState, now: datetime) -> None:
    """A new state into the verdict, with what it changes: its row if worth writing, its transition, its rate points."""
    verdict.states.append(state)
    if worth_writing(previous, state):
        verdict.writes.append(state)
    changed = transition(previous, state, now)
    if changed is not None:
        verdict.transitions.append(changed)
    if state.recent is not None:
        verdict.rate_points += rate_points(previous, state)


def _node_words(node: str, bad: list[tuple[str, datetime | None]], agents: int, cluster: Cluster) -> str:
    """ "node worker-2: 37 of 40 agents silent since 10:02 UTC; the node is not in the cluster"."""
    starts = [since for _, since in bad if since is not None]
    since = f" since {min(starts):%Y-%m-%d %H:%M} UTC" if starts else ""
    words = f"node {node}: {len(bad)} of {agents} agents silent or disconnected{since}"
    if cluster.connected is None:
        return f"{words} (whether the node is in the cluster is unknown: no cluster:read)"
    if node not in cluster.connected:
        return f"{words}; the node is not in the cluster (GET /cluster/healthcheck): it is down or cut off"
    return f"{words}; the node is still in the cluster: look at its analysisd and its link to the indexer"


def _judge_nodes(
    verdict: Verdict,
    broken: Mapping[str, tuple[str, tuple[str, ...]]],
    counted: Collection[str],
    listed: frozenset[str],
    states: Mapping[str, TargetState],
    now: datetime,
    policy: PolicySettings,
) -> None:
    """Each cluster node's state, built as the pipeline's: one alert naming the node and its agents, one recovery.

    A node alerted before is judged again when this pass saw its agents, or when no agent is listed on it
    any more (they enrolled elsewhere: their own checks go on); otherwise it is left as it was.
    """
    keys = {NODE_PREFIX + node for node in broken}
    keys.update(key for key in states if key.startswith(NODE_PREFIX))
    for key in sorted(keys):
        node = key.removeprefix(NODE_PREFIX)
        problem, related = broken.get(node, (None, ()))
        if problem is None and node not in counted and node in listed:
            continue  # not judged this pass: none of its agents was checked
        _grouped(verdict, key, f"Wazuh node {node}", problem, related, states, now, policy)
