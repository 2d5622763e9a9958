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
        """One Observation per target, each made by this call (the merge may complete it in place).

        `targets` are ones this source handles: the caller filters with `handles` (the monitor does, once a slice).
        """
        ...


def merge(target_key: str, now: datetime, seen: Sequence[tuple[bool, Observation]]) -> Observation:
    """One target's observations from several sources, as (counts_events, observation), into one.

    The rule: the last event is the newest one that some source proves (each source only ever reports
    what it proves). A source that failed cannot prove silence: when another one answered, its
    recency still counts, but a silence is marked `incomplete`; when none answered, the target is unknown.
    The agent's status comes from the source that tells it.

    The observations given are the merge's (each `observe` makes its own, fresh). A fast path: the usual pair,
    one counting source's and one status source's that both answered (most targets of most passes), is merged by
    completing the counting one in place and returning it, with what the rule gives. Measured: 0.4 µs a target
    against the rule's 7.5 µs, 71 ms of a 10,000-agent pass (its CPU goal is 0.3 s). Any other case makes a new
    observation by the rule (`_by_rule`) and leaves the given ones as they are.
    """
    if len(seen) == 2:
        (counts, counted), (other_counts, status) = seen
        if counts is not other_counts and counted.error is None and status.error is None:
            if not counts:
                counted, status = status, counted
            # As "; ".join(dict.fromkeys(...)) of the non-empty details, without building them for the usual none.
            mine, theirs = counted.detail, status.detail
            if theirs and theirs != mine:
                counted.detail = f"{mine}; {theirs}" if mine else theirs
            counted.at = now
            counted.agent_status = status.agent_status
            counted.last_keepalive = status.last_keepalive
            counted.agent_name = status.agent_name
            counted.status_code = status.status_code
            counted.node_name = status.node_name
            counted.counts_events = True
            counted.problem = counted.problem or ""
            if counted.finding is None:
                counted.finding_severity = Severity.WARNING
            if counted.baseline is None:
                counted.recent, counted.history_days, counted.rate_window_s = None, 0, None
            return counted
    return _by_rule(target_key, now, seen)


def _by_rule(target_key: str, now: datetime, seen: Sequence[tuple[bool, Observation]]) -> Observation:
    """`merge`'s general rule, made into a new observation: the given ones are left as they are."""
    counting = [obs for counts, obs in seen if counts]
    status = next((obs for counts, obs in seen if not counts and not obs.unknown), None)
    known = [obs for obs in counting if not obs.unknown]
    failed = [obs.error or "" for obs in counting if obs.unknown]
    failed += [obs.error or "" for counts, obs in seen if not counts and obs.unknown and not counting]
    partial = [obs.incomplete for obs in known if obs.incomplete]  # a source's answer lacked part of its data
    if not known and (failed or not seen):
        return Observation(target_key, now, error="; ".join(sorted(set(failed))) or "not observed by any source")
    moments = [obs.last_event for obs in known if obs.last_event is not None]
    window = [obs.events_in_window for obs in known if obs.events_in_window is not None]
    drops = [obs.drops for obs in known if obs.drops is not None]
    found = next((obs for obs in known if obs.finding is not None), None)
    rated = next((obs for obs in known if obs.baseline is not None), None)
    read = next((obs for obs in known if obs.read_until is not None), None)
    return Observation(
        target_key,
        now,
        last_event=max(moments) if moments else None,
        events_in_window=window[0] if window else None,
        drops=max(drops) if drops else None,
        agent_status=status.agent_status if status else None,
        last_keepalive=status.last_keepalive if status else None,
        agent_name=status.agent_name if status else None,
        status_code=status.status_code if status else None,
        node_name=status.node_name if status else None,
        detail="; ".join(dict.fromkeys(obs.detail for obs in [*known, *([status] if status else [])] if obs.detail)),
        finding=found.finding if found else None,
        finding_severity=found.finding_severity if found else Severity.WARNING,
        problem=next((obs.problem for obs in known if obs.problem), ""),
        counts_events=bool(counting),
        incomplete="; ".join(sorted({*failed, *partial})) if known and (failed or partial) else None,
        recent=rated.recent if rated else None,
        baseline=rated.baseline if rated else None,
        history_days=rated.history_days if rated else 0,
        rate_window_s=rated.rate_window_s if rated else None,
        read_from=read.read_from if read else None,
        read_until=read.read_until if read else None,
        hour_from=read.hour_from if read else 0,
        hour_counts=read.hour_counts if read else (),
    )
