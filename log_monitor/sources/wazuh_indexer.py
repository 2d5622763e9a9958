"""Events per agent and per (agent, location) from the Wazuh indexer, read incrementally: each event once."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from log_monitor.errors import BackendError
from log_monitor.ledger import HISTORY_DAYS, hour_before, hour_index
from log_monitor.models import Observation, Target, TargetKind, TargetState
from log_monitor.wazuh.aggpage import EventStats
from log_monitor.wazuh.indexer import WazuhIndexer, add_stats
from log_monitor.wazuh.schema import NO_CHANNELS_5X, is_channel

log = logging.getLogger(__name__)

# Above this many agents a pass asks for every agent and skips the ones it does not watch: the list of ids
# would be sent with each page (900 KB for 100,000 agents), and OpenSearch refuses a terms query of more
# than 65,536 (index.max_terms_count).
MAX_FILTERED_AGENTS = 10_000
FIELDS_CHECK_S = 3600.0  # the index's field mappings checked again hourly (a template change, a 5.0 upgrade)


class IndexerSource:
    """Last event and events counted for agent and location targets, each event read once.

    A target's first read (a new target, a lost state) reads LOOKBACK once, with its hourly counts of the
    baseline's days; every later read asks only for the span since its high-water mark (the state's
    `read_until`) less nothing: the mark is the settled end of the last read, INDEXING_DELAY before it was made,
    so an event indexed up to INDEXING_DELAY late is still counted, once. Targets read up to the same mark are
    read together; a quiet target keeps the last event its state has.
    """

    name = "indexer"
    backend = "indexer"
    counts_events = True

    def __init__(
        self,
        indexer: WazuhIndexer,
        *,
        lookback_s: float,
        window_s: float,
        indexing_delay_s: float = 0.0,
        states: Callable[[], Mapping[str, TargetState]] | None = None,
    ) -> None:
        self._indexer = indexer
        self._lookback = timedelta(seconds=lookback_s)
        self._window = timedelta(seconds=window_s)
        self._delay = timedelta(seconds=indexing_delay_s)
        self._states = states or dict
        self._oldest: datetime | None = None  # the oldest event the index pattern keeps, asked hourly when needed
        self._oldest_due: datetime | None = None
        self._retention_said = False
        # The latest pass's answer was partial (failed shards): the monitor reports it once as the backend's.
        self.partial: str | None = None

    def handles(self, target: Target) -> bool:
        # A location "*" is learned, not observed as such.
        return target.kind is TargetKind.AGENT or (target.kind is TargetKind.LOCATION and target.location != "*")

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        if not targets:
            return {}
        # Fields that no index maps match nothing: checked before judging (and hourly), never a silent fleet.
        self._indexer.check_fields(every_s=FIELDS_CHECK_S)
        self.partial = None
        states = self._states()
        settled = now - self._delay
        oldest = now - self._lookback
        groups: dict[datetime | None, list[tuple[Target, TargetState | None]]] = {}
        for target in targets:
            previous = states.get(target.key)
            mark = previous.read_until if previous is not None else None
            if mark is not None:
                mark = max(mark, oldest)  # a gap longer than LOOKBACK is read from LOOKBACK
            groups.setdefault(mark, []).append((target, previous))
        observations: dict[str, Observation] = {}
        for mark, group in groups.items():
            observations.update(self._read(mark, group, now, settled))
        return observations

    def _read(
        self, mark: datetime | None, group: list[tuple[Target, TargetState | None]], now: datetime, settled: datetime
    ) -> dict[str, Observation]:
        """One group's targets, all read up to the same mark (None: never read, so LOOKBACK and its history)."""
        by_location = any(t.kind is TargetKind.LOCATION for t, _ in group)
        agent_ids = {t.agent_id for t, _ in group if t.agent_id is not None}
        ids = agent_ids if len(agent_ids) <= MAX_FILTERED_AGENTS else None
        if mark is None:
            start = now - self._lookback
            # The baseline's days of hourly counts, from the hour's start: whole hours, as the history keeps them.
            first = max(start, _hour_start(settled) - timedelta(days=HISTORY_DAYS))
            span = (first, max(first, settled))
            stats = self._indexer.read(
                start, now, settled=span, window_start=now - self._window, by_location=by_location, agent_ids=ids
            )
        else:
            span = (mark, max(mark, settled))
            stats = self._indexer.read(mark, now, settled=span, by_location=by_location, agent_ids=ids)
        partial = self._indexer.partial
        if partial is not None:
            self.partial = partial
        no_channels = self._indexer.schema.name == "5.x"
        per_agent = _per_agent(stats) if by_location else None
        observations: dict[str, Observation] = {}
        for target, previous in group:
            key = target.key
            if target.kind is TargetKind.LOCATION:
                found = stats.get((target.agent_id or "", self._location(target.location or "")))
            elif per_agent is not None:
                found = per_agent.get(target.agent_id or "")
            else:
                # Each agent's figures are let go once its observation is made: the pass never holds both in full.
                found = stats.pop((target.agent_id or "",), None)
            kept = previous.last_event if previous is not None else None
            obs = Observation(key, now, last_event=kept, events_in_window=0, read_from=span[0], read_until=span[1])
            if found is not None:
                if found.last_event is not None and (kept is None or found.last_event > kept):
                    obs.last_event = found.last_event  # a last event only ever moves forward
                obs.events_in_window = found.count_in_window
                obs.hour_from, obs.hour_counts = _hourly(found, span)
            elif obs.last_event is None:
                obs.detail = self._never_seen(now)
            if no_channels and target.kind is TargetKind.LOCATION and is_channel(target.location or ""):
                obs.detail = NO_CHANNELS_5X
            if partial is not None:
                # Recency is proven; a silence may be events on a lost shard, and what was counted is not the
                # span's whole: the mark stays, so the next read asks for the span again.
                obs.incomplete = f"the indexer's answer is partial ({partial}): a silence cannot be told"
                obs.read_from = obs.read_until = None
                obs.hour_counts = ()
            observations[key] = obs
        return observations

    def _never_seen(self, now: datetime) -> str:
        """For a target with no event in LOOKBACK: when the index keeps less than LOOKBACK, since when it keeps any.

        Asked only when some target has no event, at most hourly (one `min` aggregation): 5.0's event streams
        may keep an hour, and "no event in 7d" would then claim a week nobody can see.
        """
        if self._oldest_due is None or now >= self._oldest_due:
            self._oldest_due = now + timedelta(seconds=FIELDS_CHECK_S)
            try:
                self._oldest = self._indexer.oldest_event()
            except BackendError as exc:
                log.debug("the oldest kept event could not be read: %s", exc)
                self._oldest = None
        oldest = self._oldest
        if oldest is None or oldest <= now - self._lookback:
            return ""
        age = _ago((now - oldest).total_seconds())
        if not self._retention_said:
            self._retention_said = True
            log.warning(
                "the index pattern keeps events only since %s UTC (%s ago), less than LOOKBACK (%s): a target "
                "never seen is reported as having no event since then; rate baselines need 7 days of history",
                oldest.strftime("%Y-%m-%d %H:%M"),
                age,
                _ago(self._lookback.total_seconds()),
            )
        return f"no event since the oldest kept event ({age} ago)"

    def _location(self, location: str) -> str:
        """The location a target's events are indexed under: on 5.0 a Windows channel's are all EventChannel's."""
        return "EventChannel" if self._indexer.schema.name == "5.x" and is_channel(location) else location


def _ago(seconds: float) -> str:
    """40 min, 5 h, 3 d: the largest unit that is at least one."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hourly(found: EventStats, span: tuple[datetime, datetime]) -> tuple[int, Sequence[int]]:
    """The settled events as consecutive hours' counts from the first hour of the span."""
    first = hour_index(span[0])
    if hour_before(span[1]) == first + 1 and not found.hours:  # across one hour's end: the count before it
        return first, (found.before_hour, max(0, found.settled - found.before_hour))
    if not found.hours:
        return first, (found.settled,) if found.settled else ()
    counts = array("I", bytes(4 * (hour_before(span[1]) - first + 1)))
    for hour, count in found.hours.items():
        if 0 <= hour - first < len(counts):
            counts[hour - first] = min(0xFFFFFFFF, counts[hour - first] + count)
    return first, counts


def _per_agent(stats: dict[tuple[str, ...], EventStats]) -> dict[str, EventStats]:
    """An agent's figures are those of its locations together: latest event, summed counts."""
    merged: dict[str, EventStats] = {}
    for key, value in stats.items():
        agent = key[0]
        seen = merged.get(agent)
        merged[agent] = value if seen is None else add_stats(seen, value)
    return merged


def learn_locations(
    indexer: WazuhIndexer,
    targets: Sequence[Target],
    now: datetime,
    *,
    lookback_s: float,
    states: Mapping[str, TargetState] | None = None,
) -> list[Target]:
    """`files=*` rows become one location target per location that sent events over LOOKBACK (the baseline).

    The locations already learned are in the state (their targets' states, with an event within LOOKBACK):
    only what came since their last read is asked, so a start, a reload or the hourly re-exec costs the
    indexer minutes of events, not LOOKBACK; an agent with none learned yet is read over LOOKBACK, once.
    Listed locations of the same agent are kept as written; when the indexer cannot be read, the `*` targets
    are dropped with a warning (the agent itself is still watched) and learning is tried at the next start.
    """
    learners = [t for t in targets if t.kind is TargetKind.LOCATION and t.location == "*" and t.agent_id]
    if not learners:
        return list(targets)
    kept = [t for t in targets if t not in learners]
    oldest = now - timedelta(seconds=lookback_s)
    known, since = _learned(states or {}, {t.agent_id for t in learners if t.agent_id}, oldest, now)
    stats: dict[tuple[str, ...], EventStats] = {}
    try:
        for start, ids in _learning_reads(learners, known, since, oldest):
            stats.update(indexer.last_events(since=start, window_start=now, until=now, by_location=True, agent_ids=ids))
    except BackendError as exc:
        log.warning("cannot learn locations for files=* (%s): those agents are watched as a whole", exc)
        return kept
    if indexer.partial is not None:
        # A location whose events were all on a lost shard would never be watched: learn from a whole answer.
        log.warning("cannot learn locations for files=* (%s): those agents are watched as a whole", indexer.partial)
        return kept
    listed = {t.key for t in kept}
    for learner in learners:
        assert learner.agent_id is not None
        found = {key[1] for key in stats if key[0] == learner.agent_id and len(key) > 1 and key[1]}
        found |= known.get(learner.agent_id, set())
        log.info("agent %s: watching %d learned locations", learner.agent_id, len(found))
        for location in sorted(found):
            key = Target.location_key(learner.agent_id, location)
            if key not in listed:
                listed.add(key)
                kept.append(replace(learner, key=key, location=location, origin=f"{learner.origin} (learned)"))
    return kept


def _learned(
    states: Mapping[str, TargetState], agent_ids: set[str], oldest: datetime, now: datetime
) -> tuple[dict[str, set[str]], datetime]:
    """The learners' locations that the state holds (an event within LOOKBACK), and the oldest of their marks."""
    known: dict[str, set[str]] = {}
    since = now
    for key, state in states.items():
        kind, _, rest = key.partition(":")
        agent_id, _, location = rest.partition(":")
        if kind != "agent" or not location or agent_id not in agent_ids:
            continue
        if state.last_event is None or state.last_event < oldest:
            continue  # silent for LOOKBACK: no longer learned, as a LOOKBACK read would not find it
        known.setdefault(agent_id, set()).add(location)
        since = min(since, state.read_until or oldest)
    return known, since


def _learning_reads(
    learners: Sequence[Target], known: Mapping[str, set[str]], since: datetime, oldest: datetime
) -> list[tuple[datetime, set[str]]]:
    """(start, agent ids) of the reads that learn: since the last read for agents learned before, else LOOKBACK."""
    ids = {t.agent_id for t in learners if t.agent_id}
    seen = ids & set(known)
    reads = [(max(since, oldest), seen)] if seen else []
    return reads + ([(oldest, ids - seen)] if ids - seen else [])
