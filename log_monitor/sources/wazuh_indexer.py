"""Events per agent and per (agent, location) from the Wazuh indexer, in one aggregation per pass."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from log_monitor.models import Observation, Target, TargetKind
from log_monitor.wazuh.indexer import EventStats, WazuhIndexer


class IndexerSource:
    """Last event and count in the window for agent and location targets."""

    name = "indexer"

    def __init__(self, indexer: WazuhIndexer, *, lookback_s: float, window_s: float) -> None:
        self._indexer = indexer
        self._lookback = timedelta(seconds=lookback_s)
        self._window = timedelta(seconds=window_s)

    def handles(self, target: Target) -> bool:
        # A location "*" is learned, not observed as such.
        return target.kind is TargetKind.AGENT or (target.kind is TargetKind.LOCATION and target.location != "*")

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        mine = [t for t in targets if self.handles(t)]
        if not mine:
            return {}
        by_location = any(t.kind is TargetKind.LOCATION for t in mine)
        agent_ids = sorted({t.agent_id for t in mine if t.agent_id is not None})
        stats = self._indexer.last_events(
            since=now - self._lookback,
            window_start=now - self._window,
            until=now,
            by_location=by_location,
            agent_ids=agent_ids,
        )
        per_agent = _per_agent(stats) if by_location else {key[0]: value for key, value in stats.items()}
        observations: dict[str, Observation] = {}
        for target in mine:
            assert target.agent_id is not None
            if target.kind is TargetKind.LOCATION:
                found = stats.get((target.agent_id, target.location or ""))
            else:
                found = per_agent.get(target.agent_id)
            observations[target.key] = Observation(
                target_key=target.key,
                at=now,
                last_event=found.last_event if found else None,
                events_in_window=found.count_in_window if found else 0,
            )
        return observations


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
        merged[agent] = EventStats(last_event=last, count_in_window=seen.count_in_window + value.count_in_window)
    return merged
