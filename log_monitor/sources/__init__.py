"""Event sources: the EventSource protocol, and the one rule that merges several sources' views of a target."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from log_monitor.models import Observation, Severity, Target


class EventSource(Protocol):
    """Observes targets; raises BackendError when its backend cannot be read (never returns zeros).

    An observation with `error` set says the same for one target (a partial failure). Either way the
    failure is the backend's (`backend`), with its own state and alert, never a silence.
    """

    name: str
    backend: str  # whose failure it is: "api", "indexer", "files"
    counts_events: bool  # False: it tells an agent's status, not whether it sends events

    def handles(self, target: Target) -> bool:
        """Whether this source can observe the target."""
        ...

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        """One Observation per target key it handles."""
        ...


def merge(target_key: str, now: datetime, seen: Sequence[tuple[bool, Observation]]) -> Observation:
    """One target's observations from several sources, as (counts_events, observation), into one.

    The rule: the last event is the newest one that some source proves (each source only ever reports
    what it proves). A source that failed cannot prove silence: when another one answered, its
    recency still counts, but a silence is marked `incomplete`; when none answered, the target is unknown.
    The agent's status comes from the source that tells it.
    """
    if len(seen) == 2 and seen[0][0] is not seen[1][0]:
        quick = _merge_pair(target_key, now, seen)
        if quick is not None:
            return quick
    counting = [obs for counts, obs in seen if counts]
    status = next((obs for counts, obs in seen if not counts and not obs.unknown), None)
    known = [obs for obs in counting if not obs.unknown]
    failed = [obs.error or "" for obs in counting if obs.unknown]
    failed += [obs.error or "" for counts, obs in seen if not counts and obs.unknown and not counting]
    if not known and (failed or not seen):
        return Observation(target_key, now, error="; ".join(sorted(set(failed))) or "not observed by any source")
    moments = [obs.last_event for obs in known if obs.last_event is not None]
    window = [obs.events_in_window for obs in known if obs.events_in_window is not None]
    drops = [obs.drops for obs in known if obs.drops is not None]
    found = next((obs for obs in known if obs.finding is not None), None)
    rated = next((obs for obs in known if obs.baseline is not None), None)
    return Observation(
        target_key,
        now,
        last_event=max(moments) if moments else None,
        events_in_window=window[0] if window else None,
        drops=max(drops) if drops else None,
        agent_status=status.agent_status if status else None,
        last_keepalive=status.last_keepalive if status else None,
        agent_name=status.agent_name if status else None,
        detail="; ".join(dict.fromkeys(obs.detail for obs in [*known, *([status] if status else [])] if obs.detail)),
        finding=found.finding if found else None,
        finding_severity=found.finding_severity if found else Severity.WARNING,
        problem=next((obs.problem for obs in known if obs.problem), ""),
        counts_events=bool(counting),
        incomplete="; ".join(sorted(set(failed))) if known and failed else None,
        recent=rated.recent if rated else None,
        baseline=rated.baseline if rated else None,
        history_days=rated.history_days if rated else 0,
        rate_window_s=rated.rate_window_s if rated else None,
    )


def _merge_pair(target_key: str, now: datetime, seen: Sequence[tuple[bool, Observation]]) -> Observation | None:
    """The common case (one status source and one counting source, both answered), as `merge` would; else None.

    Most targets of most passes come here: the general rule's lists cost more than the judging itself.
    """
    counted, status = (seen[0][1], seen[1][1]) if seen[0][0] else (seen[1][1], seen[0][1])
    if counted.unknown or status.unknown:
        return None
    # As "; ".join(dict.fromkeys(...)) of the non-empty details, without building them for the usual none.
    mine, theirs = counted.detail, status.detail
    detail = mine if not theirs or theirs == mine else theirs if not mine else f"{mine}; {theirs}"
    rated = counted.baseline is not None
    return Observation(
        target_key,
        now,
        last_event=counted.last_event,
        events_in_window=counted.events_in_window,
        drops=counted.drops,
        agent_status=status.agent_status,
        last_keepalive=status.last_keepalive,
        agent_name=status.agent_name,
        detail=detail,
        finding=counted.finding,
        finding_severity=counted.finding_severity if counted.finding is not None else Severity.WARNING,
        problem=counted.problem or "",
        counts_events=True,
        recent=counted.recent if rated else None,
        baseline=counted.baseline,
        history_days=counted.history_days if rated else 0,
        rate_window_s=counted.rate_window_s if rated else None,
    )
