"""Events per agent and per (agent, location) from the Wazuh indexer, in one aggregation per pass."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from log_monitor.errors import BackendError
from log_monitor.models import Observation, Target, TargetKind
from log_monitor.wazuh.aggpage import EventStats
from log_monitor.wazuh.indexer import WazuhIndexer, add_counts
from log_monitor.wazuh.schema import NO_CHANNELS_5X, is_channel

log = logging.getLogger(__name__)

BASELINE_DAYS = 7  # the rate baseline: the same window on each of this many previous days
# Above this many agents a pass asks for every agent and skips the ones it does not watch: the list of ids
# would be sent with each page (900 KB for 100,000 agents), and OpenSearch refuses a terms query of more
# than 65,536 (index.max_terms_count).
MAX_FILTERED_AGENTS = 10_000
_NO_COUNTS = (0,) * (BASELINE_DAYS + 1)
FIELDS_CHECK_S = 3600.0  # the index's field mappings checked again hourly (a template change, a 5.0 upgrade)


class IndexerSource:
    """Last event and count in the window for agent and location targets."""

    name = "indexer"
    backend = "indexer"
    counts_events = True

    def __init__(
        self,
        indexer: WazuhIndexer,
        *,
        lookback_s: float,
        window_s: float,
        baselines: bool = False,
        indexing_delay_s: float = 0.0,
    ) -> None:
        self._indexer = indexer
        self._lookback = timedelta(seconds=lookback_s)
        self._window = timedelta(seconds=window_s)
        self._baselines = baselines
        self._delay = timedelta(seconds=indexing_delay_s)
        self._oldest: datetime | None = None  # the oldest event the index pattern keeps, asked hourly when needed
        self._oldest_due: datetime | None = None
        self._retention_said = False
        # The latest pass's answer was partial (failed shards): the monitor reports it once as the backend's.
        self.partial: str | None = None

    def rate_windows(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """The rate window (ending INDEXING_DELAY ago, so late indexing does not look like a drop), then the
        same minutes on each of the previous days: one window length for every target, so one request."""
        if not self._baselines:
            return []
        end = now - self._delay
        return [(end - timedelta(days=d) - self._window, end - timedelta(days=d)) for d in range(BASELINE_DAYS + 1)]

    def handles(self, target: Target) -> bool:
        # A location "*" is learned, not observed as such.
        return target.kind is TargetKind.AGENT or (target.kind is TargetKind.LOCATION and target.location != "*")

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        if not targets:
            return {}
        by_location = any(t.kind is TargetKind.LOCATION for t in targets)
        agent_ids = {t.agent_id for t in targets if t.agent_id is not None}
        # Fields that no index maps match nothing: checked before judging (and hourly), never a silent fleet.
        self._indexer.check_fields(every_s=FIELDS_CHECK_S)
        stats = self._indexer.last_events(
            since=now - self._lookback,
            window_start=now - self._window,
            until=now,
            by_location=by_location,
            agent_ids=agent_ids if len(agent_ids) <= MAX_FILTERED_AGENTS else None,
            rate_windows=self.rate_windows(now),
        )
        self.partial = partial = self._indexer.partial
        per_agent = _per_agent(stats) if by_location else None
        window_s = self._window.total_seconds() if self._baselines else None
        rated = self._baselines and partial is None  # counts of part of the shards are no rate
        lacking = f"the indexer's answer is partial ({partial}): a silence cannot be told" if partial else None
        observations: dict[str, Observation] = {}
        no_channels = self._indexer.schema.name == "5.x"
        for target in targets:
            key = target.key
            if target.kind is TargetKind.LOCATION:
                found = stats.get((target.agent_id or "", self._location(target.location or "")))
            elif per_agent is not None:
                found = per_agent.get(target.agent_id or "")
            else:
                # Each agent's figures are let go once its observation is made: the pass never holds both in full.
                found = stats.pop((target.agent_id or "",), None)
            if found is None:
                observation, counts = Observation(key, now, events_in_window=0), _NO_COUNTS
                observation.detail = self._never_seen(now)
            else:
                observation = Observation(key, now, last_event=found.last_event, events_in_window=found.count_in_window)
                counts = found.day_counts
            if rated:
                observation.recent, observation.baseline, observation.history_days = _rate(counts)
                observation.rate_window_s = window_s
            if no_channels and target.kind is TargetKind.LOCATION and is_channel(target.location or ""):
                observation.detail = NO_CHANNELS_5X
            if lacking is not None:
                observation.incomplete = lacking  # recency is proven; a silence may be events on a lost shard
            observations[key] = observation
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


def _rate(counts: tuple[int, ...]) -> tuple[int, float, int]:
    """(events in the rate window, median of the previous days' same window, days of those with events)."""
    if not counts:
        counts = _NO_COUNTS
    # statistics.median and a generator cost more than the rest of the observation, 100,000 times a pass.
    history = sorted(counts[1:])
    middle = len(history) // 2
    median = history[middle] if len(history) % 2 else (history[middle - 1] + history[middle]) / 2
    return counts[0], float(median), len(history) - history.count(0)


def _per_agent(stats: dict[tuple[str, ...], EventStats]) -> dict[str, EventStats]:
    """An agent's figures are those of its locations together: latest event, summed count."""
    merged: dict[str, EventStats] = {}
    for key, value in stats.items():
        agent = key[0]
        seen = merged.get(agent)
        if seen is None:
            merged[agent] = value
            continue
        last = max((e for e in (seen.last_event, value.last_event) if e is not None), default=None)
        merged[agent] = EventStats(
            last_event=last,
            count_in_window=seen.count_in_window + value.count_in_window,
            day_counts=add_counts(seen.day_counts, value.day_counts),
        )
    return merged


def learn_locations(
    indexer: WazuhIndexer, targets: Sequence[Target], now: datetime, *, lookback_s: float
) -> list[Target]:
    """`files=*` rows become one location target per location that sent events over LOOKBACK (the baseline).

    Listed locations of the same agent are kept as written; when the indexer cannot be read, the `*` targets
    are dropped with a warning (the agent itself is still watched) and learning is tried at the next start.
    """
    learners = [t for t in targets if t.kind is TargetKind.LOCATION and t.location == "*" and t.agent_id]
    if not learners:
        return list(targets)
    kept = [t for t in targets if t not in learners]
    try:
        stats = indexer.last_events(
            since=now - timedelta(seconds=lookback_s),
            window_start=now,
            until=now,
            by_location=True,
            agent_ids={t.agent_id for t in learners if t.agent_id},
        )
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
        found = sorted(key[1] for key in stats if key[0] == learner.agent_id and len(key) > 1 and key[1])
        log.info("agent %s: watching %d learned locations", learner.agent_id, len(found))
        for location in found:
            key = Target.location_key(learner.agent_id, location)
            if key not in listed:
                listed.add(key)
                kept.append(replace(learner, key=key, location=location, origin=f"{learner.origin} (learned)"))
    return kept
