"""LogCounter: one pass over a batch of targets, a slice of agents at a time: observe, judge (pure), commit."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from operator import attrgetter

from log_monitor import reenrol
from log_monitor.clock import Clock
from log_monitor.errors import BackendError
from log_monitor.findings import FindingsLog
from log_monitor.judge import Judged, JudgeSettings, PassJudge, Verdict
from log_monitor.ledger import HISTORY_DAYS, hour_index
from log_monitor.models import Notification, Observation, Severity, Target, TargetKind, TargetState
from log_monitor.notifiers.dispatch import DeliveryReport, Dispatcher
from log_monitor.policy import PolicySettings
from log_monitor.rhythm import Profile, from_hours
from log_monitor.scheduler import Scheduler
from log_monitor.sources import EventSource, merge
from log_monitor.sources.wazuh_api import ApiStatusSource
from log_monitor.state import StateStore
from log_monitor.targets import GroupPolicies
from log_monitor.wazuh.indexer import DEFAULT_PAGE_SIZE

log = logging.getLogger(__name__)

NO_INDEXER = (
    "no indexer configured (WAZUH_INDEXER_URL): events are not counted, agents are judged by their keepalive "
    'alone ("keepalive only"): a silent agent that still sends keepalives is not found'
)
# The Date header has 1 s resolution and a pass takes seconds; 5 minutes apart is a wrong clock.
MAX_CLOCK_SKEW_S = 300.0

# A target read incrementally whose last event is this much older than the settled span is silent enough for its
# rhythm to matter (a source of 5 events a second is never quiet for this long by chance): its profile is read.
RHYTHM_GAP_S = 10.0

# Agents observed and judged together: one page of the indexer's composite aggregation.
SLICE_AGENTS = DEFAULT_PAGE_SIZE

CheckedTarget = Judged  # one row of a pass (the name the commands use)


@dataclass
class PassResult:
    """Everything a pass found and decided."""

    rows: list[Judged] = field(default_factory=list)  # empty when the pass was asked to keep none
    severities: dict[Severity, int] = field(default_factory=dict)  # targets checked, by severity as shown
    notifications: list[Notification] = field(default_factory=list)
    backend_errors: dict[str, str] = field(default_factory=dict)
    delivery: DeliveryReport | None = None
    notes: list[str] = field(default_factory=list)  # what people should know about this pass (events not counted)

    @property
    def checked(self) -> int:
        """Targets checked in the pass."""
        return sum(self.severities.values())

    @property
    def exit_code(self) -> int:
        """Nagios convention; a real CRITICAL or WARNING outranks an unreadable backend."""
        severities = self.severities
        if Severity.CRITICAL in severities:
            return 2
        if Severity.WARNING in severities:
            return 1
        if Severity.UNKNOWN in severities or self.backend_errors:
            return 3
        return 0


@dataclass
class LoopHealth:
    """What the loop tells the status server; each field is replaced whole, so a reader never sees half an update."""

    started_mono: float | None = None  # when run() began (monotonic)
    last_tick_mono: float | None = None  # the loop's latest turn (monotonic): the daemon is alive
    last_tick_at: datetime | None = None
    last_pass_at: datetime | None = None  # latest pass that completed (its states committed)
    last_pass_mono: float | None = None
    last_failure: str | None = None  # why the latest pass failed; None once one completes again
    last_good_pass_at: datetime | None = None  # latest pass in which every backend answered
    backend_errors: dict[str, str] = field(default_factory=dict)  # of the latest pass
    passes: int = 0
    checks: int = 0  # target checks done since start


class LogCounter:
    """The checking core shared by the one-off pass and the daemon."""

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        store: StateStore,
        dispatcher: Dispatcher,
        clock: Clock,
        policy: PolicySettings,
        sources: Sequence[EventSource] = (),
        api: ApiStatusSource | None = None,
        backends: Sequence[str] = (),
        clock_offset: Callable[[], float | None] | None = None,
        discovery: bool = False,
        discovery_interval_s: float = 900.0,
        discovery_groups: Sequence[str] = (),
        groups: GroupPolicies | None = None,
        pipeline_ratio: float = 0.5,
        rate_window_s: float | None = None,
        zone: tzinfo | None = None,
        scheduler: Scheduler | None = None,
        slice_agents: int = SLICE_AGENTS,
        findings: FindingsLog | None = None,
    ) -> None:
        self._targets = list(targets)
        self.scheduler = scheduler or Scheduler()
        self.store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self.policy = policy
        self._api = api
        # The API lists agents for discovery first; its status then merges with the event sources' views.
        self._sources: list[EventSource] = ([api] if api is not None else []) + list(sources)
        self._backends = list(backends)
        self._clock_offset = clock_offset
        self._judging = JudgeSettings(policy, pipeline_ratio, zone, rate_window_s)
        self._discovery = discovery
        self._discovery_interval_s = discovery_interval_s
        self._discovery_groups = tuple(discovery_groups)
        self._groups = groups or GroupPolicies()
        self._health = LoopHealth()
        self._slice_agents = slice_agents
        self._findings = findings
        self._followed: dict[str, reenrol.Reenrolment] = {}  # old id -> its move, found by this process
        self._notes = [NO_INDEXER] if api is not None and not any(s.backend == "indexer" for s in sources) else []
        # Asked between slices (the daemon sets it to "SIGTERM came"): a long pass stops within one slice, inside
        # the service's stop timeout; the slices not reached keep their states and are checked at the next start.
        self._stopping: Callable[[], bool] | None = None
        # The hourly rhythms of the targets silent now (None: no history), read once a UTC day while they stay
        # silent and let go when their events return: a fleet's busy targets keep none in memory.
        self._profiles: dict[str, Profile | None] = {}
        self._profile_day = -1
        self._states_version = 0

    # -- what the daemon, the status server and the commands ask of it ----------------------------

    @property
    def targets(self) -> Sequence[Target]:
        """The targets checked: the configured ones, and those discovered or followed to a new id since."""
        return self._targets

    @property
    def clock(self) -> Clock:
        """The clock the passes are timed by."""
        return self._clock

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher the passes queue their notifications for (the delivery worker drains it)."""
        return self._dispatcher

    def reload_targets(self, targets: Sequence[Target]) -> None:
        """Check these targets from now on (a reload of the agents file); ids followed before are followed again."""
        self._targets = list(targets)
        self._states_version += 1

    def due_targets(self, due: Collection[str]) -> list[Target]:
        """The targets whose keys are due, in the targets' order."""
        return [t for t in self._targets if t.key in due]

    def deliver_queued(self, *, deadline: float | None = None, force: bool = False) -> DeliveryReport:
        """One attempt to deliver what is queued (all of it with `force`, whatever its backoff)."""
        return self._dispatcher.deliver_pending(deadline=deadline, force=force)

    def stop_when(self, asked: Callable[[], bool]) -> None:
        """Ask `asked` between slices: a long pass ends within one slice once it says so (the daemon's SIGTERM)."""
        self._stopping = asked

    def stop_asked(self) -> bool:
        """Whether a pass would stop before its next slice now."""
        return self._stopping is not None and self._stopping()

    def health_snapshot(self) -> LoopHealth:
        """The loop's health as of now: a copy, so a reader never sees half an update."""
        return replace(self._health, backend_errors=dict(self._health.backend_errors))

    def loop_started(self) -> None:
        """The daemon's loop begins: /healthz measures from here until the first pass."""
        self._health.started_mono = self._clock.monotonic()

    def loop_turned(self) -> None:
        """The daemon's loop turned (a pass due or not): it is alive."""
        self._health.last_tick_mono = self._clock.monotonic()
        self._health.last_tick_at = self._clock.now()

    def pass_failed(self, reason: str) -> None:
        """The latest pass failed for `reason` (until a pass completes again)."""
        self._health.last_failure = reason

    def agent_listings(self) -> int:
        """Full agent listings the Wazuh API was asked for since start (0 without the API)."""
        return self._api.full_listings if self._api is not None else 0

    @property
    def states_version(self) -> int:
        """Moves whenever the states or the targets may have changed: at the end of each pass and each reload."""
        return self._states_version

    def run_once(self) -> PassResult:
        """One pass over every target, then one attempt to deliver everything queued."""
        result = self.check(self._targets)
        # A one-off pass (cron, Nagios) tries everything queued, whatever its backoff: runs are spaced anyway.
        result.delivery = self._dispatcher.deliver_pending(force=True)
        return result

    def check(self, batch: Sequence[Target], *, keep_rows: bool = True) -> PassResult:
        """Observe, judge, commit, a slice of agents at a time; `keep_rows=False` keeps only the tallies.

        A slice is SLICE_AGENTS agents, one page of the indexer's aggregation: a pass over 100,000 agents never
        holds every observation at once. Each slice commits its states with their notifications in one
        transaction, as a daemon's smaller batches do; the targets the pipeline check may hold back commit last.
        """
        # A pass makes a few objects per target and frees them all at its end, with no cycles: the cyclic
        # collector's full sweeps over 100,000 targets' objects were a third of a large pass's CPU.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._check(batch, keep_rows)
        finally:
            self._states_version += 1
            if paused:
                gc.enable()

    def _check(self, batch: Sequence[Target], keep_rows: bool) -> PassResult:
        now = self._clock.now()
        result = PassResult()
        self._list_agents(batch, now)
        # Before discovery, which would otherwise take a re-enrolled host's new id for a new agent.
        batch = self._follow_reenrolments(batch, now, result)
        found = self._discover(batch, now)
        if found:
            batch = [*batch, *found]
        # Measured as each API answer arrived (this pass's listing, or the last one): known before judging.
        clock_problem = self._clock_problem()
        norm_hour = self._norm_hour(now)
        states = self.store.kept_states()
        passing = PassJudge(states, self.store.silences(now), now, self._judging, rows=keep_rows, norm_hour=norm_hour)
        failed: dict[str, str] = {}  # sources that failed in an earlier slice are not asked again this pass
        for part in slices(batch, self._slice_agents):
            if self._stopping is not None and self._stopping():
                log.info("stopping: the pass ends before its next slice (the rest is checked at the next start)")
                break
            observations = self._observe(part, now, result, failed)
            if clock_problem is not None:
                # Every agent's silence would be measured against a wrong clock: judge none, say why once.
                # A local file's time is this host's own, never the manager's: judged as usual.
                observations = _void_agents(part, observations, now, clock_problem)
            norms = self._norms(part, observations, states, norm_hour)
            profiles = self._silent_profiles(part, observations, now)
            self._commit(passing.judge(part, observations, norms, profiles), result, keep_rows, now)
        backends: dict[str, str | None] = {name: result.backend_errors.get(name) for name in self._backends}
        if self._clock_offset is not None:
            backends["clock"] = clock_problem
            if clock_problem is not None:
                result.backend_errors["clock"] = clock_problem
        # Node alerts need the cluster's nodes: the listing's (read this pass), and which are connected.
        cluster = self._api.cluster(now) if self._api is not None else None
        self._commit(passing.finish(backends, cluster), result, keep_rows, now)
        result.notes = list(self._notes)
        self._record_pass(result, now)
        return result

    def _norm_hour(self, now: datetime) -> int:
        """The hour whose history the rate windows ending now are judged against: the one holding their middle."""
        window = self._judging.rate_window_s
        if window is None:
            return -1
        return hour_index(now - timedelta(seconds=self._judging.policy.indexing_delay_s + window / 2))

    def _norms(
        self,
        part: Sequence[Target],
        observations: Mapping[str, Observation],
        states: Mapping[str, TargetState],
        hour: int,
    ) -> dict[str, tuple[float, int]]:
        """The slice's norms for `hour` from the history, for the targets read incrementally whose kept one is older."""
        if hour < 0:
            return {}
        stale = []
        for target in part:
            obs = observations.get(target.key)
            if obs is None or obs.read_until is None:
                continue
            state = states.get(target.key)
            if state is None or state.norm_hour != hour:
                stale.append(target.key)
        return self.store.norms(stale, hour) if stale else {}

    def _silent_profiles(
        self, part: Sequence[Target], observations: Mapping[str, Observation], now: datetime
    ) -> dict[str, Profile]:
        """The hourly rhythms of the slice's silent targets (SILENCE_MODE=rhythm), from the cache or the history."""
        if self.policy.silence_mode != "rhythm":
            return {}
        day = hour_index(now) // 24
        if day != self._profile_day:  # a day closed: the history the profiles are made of moved on
            self._profiles.clear()
            self._profile_day = day
        settled = now - timedelta(seconds=self.policy.indexing_delay_s)
        cache, silent, missing = self._profiles, [], []
        for target in part:
            obs = observations.get(target.key)
            if obs is None or obs.read_until is None or obs.last_event is None:
                continue
            key = target.key
            if (settled - obs.last_event).total_seconds() < RHYTHM_GAP_S:
                cache.pop(key, None)
                continue
            silent.append(key)
            if key not in cache:
                missing.append(key)
        if missing:
            fresh = self.store.profiles(missing, day)
            for key in missing:
                # No history yet: this pass is the target's first read, whose week is written after it is judged.
                obs = observations[key]
                found = fresh.get(key) or from_hours(obs.hour_from, obs.hour_counts, day - HISTORY_DAYS, day)
                if found is not None:
                    cache[key] = found
        return {key: found for key in silent if (found := cache.get(key)) is not None}

    def _commit(self, verdict: Verdict, result: PassResult, keep_rows: bool, now: datetime) -> None:
        """A slice's states and their notifications in one transaction: a target's state never without its alert."""
        self.store.commit(
            verdict.states,
            verdict.notifications,
            verdict.hours,
            writes=verdict.writes,
            transitions=verdict.transitions,
            rate_points=verdict.rate_points,
            now=now,
        )
        if self._findings is not None:
            self._findings.write(verdict.rows, now)
        for row in verdict.rows:
            if row.changed:
                _log_change(row)
        for severity, count in verdict.severities.items():
            result.severities[severity] = result.severities.get(severity, 0) + count
        if keep_rows:
            result.rows += verdict.rows
        result.notifications += verdict.notifications

    def _list_agents(self, batch: Sequence[Target], now: datetime) -> None:
        """This pass's agent listing, read once for every slice (and to know which ids are new)."""
        if self._api is None:
            return
        self._api.new_pass()
        wanted = {t.agent_id for t in filter(self._api.handles, batch) if t.agent_id is not None}
        if not wanted and not self._discovery:
            return  # a batch of local files asks the API nothing
        with suppress(BackendError):  # the API source reports it when it observes
            self._api.agents(now, wanted)

    def _observe(
        self, batch: Sequence[Target], now: datetime, result: PassResult, failed: dict[str, str]
    ) -> dict[str, Observation]:
        """Each source observes the targets it handles; a failure is its backend's, never a silence."""
        answers: list[tuple[bool, dict[str, Observation]]] = []
        for source in self._sources:
            mine = list(filter(source.handles, batch))
            if mine:
                answers.append((source.counts_events, _ask(source, mine, now, result, failed)))
        return _merged(batch, now, answers)

    def agents_per_node(self) -> dict[str, tuple[int, bool | None]]:
        """The Wazuh cluster's nodes: agents listed on each, and whether it is connected (None: not known)."""
        return self._api.agents_per_node() if self._api is not None else {}

    def _clock_problem(self) -> str | None:
        """Our clock against the manager's (the API's Date; the indexer sends none, REALITY.md §5).

        Each answer's Date against our clock as it arrived, never against the pass's start. With our clock
        behind, a silent agent's last events look recent (a false recovery); ahead, every agent looks
        silent. Unreadable, not silent.
        """
        skew = self._clock_offset() if self._clock_offset is not None else None
        if skew is None:
            return None
        if abs(skew) <= MAX_CLOCK_SKEW_S:
            return None
        side = "ahead of" if skew > 0 else "behind"
        return (
            f"this host's clock is {abs(skew):.0f} s {side} the Wazuh manager's: silence cannot be judged "
            "until the clocks agree (check NTP)"
        )

    def _record_pass(self, result: PassResult, now: datetime) -> None:
        health = self._health
        health.backend_errors = dict(result.backend_errors)
        health.checks += result.checked
        health.passes += 1
        health.last_pass_at = now
        health.last_pass_mono = self._clock.monotonic()
        health.last_failure = None
        if not result.backend_errors:
            health.last_good_pass_at = now

    def _follow_reenrolments(self, batch: Sequence[Target], now: datetime, result: PassResult) -> Sequence[Target]:
        """After a full listing: an agent id gone whose host enrolled again under its name is followed to the new id.

        Its rows' settings carry over; one notice says so (the old id's state remembers it, across restarts).
        A reload brings the agents file's old ids back: the moves found before are applied again at once.
        """
        followed = self._followed
        if followed and any(t.agent_id in followed for t in batch):
            self._targets = reenrol.follow(self._targets, list(followed.values()))
            batch = reenrol.follow(batch, list(followed.values()))
        if self._api is None or not self._api.fresh_full:
            return batch
        try:
            names = self._api.agents(now).names
        except BackendError:
            return batch
        states = self.store.kept_states()
        moves = reenrol.find(self._targets, names, states)
        if not moves:
            return batch
        followed.update((move.old_id, move) for move in moves)
        previous, self._targets = self._targets, reenrol.follow(self._targets, moves)
        notes, marks = [], []
        for move in moves:
            old = states.get(Target.agent_key(move.old_id))
            if old is None or old.agent_status != f"{reenrol.REENROLLED_AS}{move.new_id}":
                first = next(t for t in previous if t.agent_id == move.old_id)
                notes.append(reenrol.notice(move, first, now, self.policy.host))
                log.warning("%s: update its id in the agents file", notes[-1].detail.partition(":")[0])
            marks.append(reenrol.marked(move, old, now))
        self.store.commit(marks, notes)
        result.notifications += notes
        return reenrol.follow(batch, moves)

    def _discover(self, batch: Sequence[Target], now: datetime) -> list[Target]:
        """With AGENT_DISCOVERY=active, every active agent not listed becomes a target too."""
        if not self._discovery or self._api is None:
            return []
        try:
            if self._discovery_groups:
                # Disconnected too: an agent of a watched group that drops is what the team must hear of.
                members = self._api.members(self._discovery_groups, now)
                agents = [a for a in members if a.status in ("active", "disconnected")]
                origin = "discovered (AGENT_DISCOVERY=groups:" + "|".join(self._discovery_groups) + ")"
            else:
                agents = [a for a in self._api.agents(now).values() if a.status == "active"]  # this pass's listing
                origin = "discovered (AGENT_DISCOVERY=active)"
        except BackendError:
            return []  # the API source reports it when it observes
        listed = {t.agent_id for t in self._targets if t.kind is TargetKind.AGENT}
        listed |= {t.agent_id for t in batch if t.kind is TargetKind.AGENT}
        interval = self._discovery_interval_s
        found = [
            target
            for agent in agents
            if agent.id not in listed and agent.id != "000"
            for target in self._groups.discovered(agent.id, agent.name, agent.groups, interval, origin)
        ]
        if found:
            log.info("discovered %d agents not listed in the agents file", sum(t.location is None for t in found))
            self._targets.extend(found)
        return found


def _ask(
    source: EventSource, mine: list[Target], now: datetime, result: PassResult, failed: dict[str, str]
) -> dict[str, Observation]:
    """One source's observations of `mine`, one per target and no other; unreadable is its backend's error."""
    try:
        if source.name in failed:
            # Down for an earlier slice: asking again would wait out its timeouts once per slice.
            raise BackendError(source.backend, failed[source.name])
        found = source.observe(mine, now)
        partial = getattr(source, "partial", None)  # the answer lacked part of the backend's data: one alert
        if partial:
            result.backend_errors.setdefault(source.backend, f"the answer is partial: {partial}")
    except BackendError as exc:
        if source.name not in failed:
            log.warning("%s unreadable: %s", exc.backend, exc)
        failed[source.name] = str(exc)
        result.backend_errors.setdefault(source.backend, str(exc))
        found = {t.key: Observation(t.key, now, error=str(exc)) for t in mine}
    keys = {t.key for t in mine}
    for key in keys - found.keys():
        found[key] = Observation(key, now, error=f"{source.name} gave no answer")
    if len(found) > len(keys):  # keys of targets this source was not asked about are not its to judge
        found = {key: found[key] for key in keys}
    # The set of errors first (in C): the loop that finds the first failed target's only when there is one.
    per_target = source.backend == "files" or getattr(source, "errors_per_target", False)
    if not per_target and set(map(_ERROR, found.values())) != {None}:
        first = next(found[t.key] for t in mine if found[t.key].unknown)
        result.backend_errors.setdefault(source.backend, first.error or "")
    return found


_ERROR = attrgetter("error")


def _void_agents(
    part: Sequence[Target], observations: dict[str, Observation], now: datetime, problem: str
) -> dict[str, Observation]:
    """The slice's observations with every agent's (times of the manager's clock) made UNKNOWN for `problem`."""
    agents = {t.key for t in part if t.agent_id is not None}
    return {key: Observation(key, now, error=problem) if key in agents else seen for key, seen in observations.items()}


def _merged(
    batch: Sequence[Target], now: datetime, answers: list[tuple[bool, dict[str, Observation]]]
) -> dict[str, Observation]:
    """One observation per target of the sources' answers, as `merge` makes it.

    Popped: each source's observation is let go once merged, so the pass never holds all of them twice.
    """
    merged: dict[str, Observation] = {}
    # The usual pair (an agent's events and its status) handed over as a tuple: no list built per target.
    (first, ones), (second, others) = answers if len(answers) == 2 else ((True, {}), (True, {}))
    for target in batch:
        key = target.key
        if key in merged:
            continue
        seen: Sequence[tuple[bool, Observation]]
        if key in ones and key in others:
            seen = ((first, ones.pop(key)), (second, others.pop(key)))
        else:
            seen = [(counts, found.pop(key)) for counts, found in answers if key in found]
        merged[key] = merge(key, now, seen)
    return merged


def _log_change(row: Judged) -> None:
    """A target's shown severity change, as the judge found it; with LOG_FORMAT=json it carries the key, so Wazuh
    can index our view."""
    before, after = row.before, row.state
    target = row.target
    fields = {"from": before.name if before else None, "to": after.severity.name, "label": target.label}
    extra = {"target": target.key, "fields": fields}
    if before is None:
        log.info(
            "new target %s (%s): %s %s", target.key, target.label, after.severity.name, after.condition, extra=extra
        )
    else:
        args = (target.key, target.label, before.name, after.severity.name, after.condition)
        log.info("%s (%s): %s -> %s (%s)", *args, extra=extra)


def slices(batch: Sequence[Target], agents: int = SLICE_AGENTS) -> Iterator[list[Target]]:
    """The batch in slices of at most `agents` agents, in order; local files (no agent) together in the first."""
    local = [t for t in batch if t.agent_id is None]
    if local:
        yield local
    part: list[Target] = []
    seen: set[str] = set()
    for target in batch:
        agent_id = target.agent_id
        if agent_id is None:
            continue
        if agent_id not in seen:
            if len(seen) == agents:
                yield part
                part, seen = [], set()
            seen.add(agent_id)
        part.append(target)
    if part:
        yield part
