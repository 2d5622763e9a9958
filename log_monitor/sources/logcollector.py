"""Per-location events and drops from the Wazuh server API's logcollector statistics (Wazuh 4.x)."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from log_monitor.errors import AgentError, BackendError
from log_monitor.models import Observation, Target, TargetKind
from log_monitor.state import StateStore
from log_monitor.state.positions import LogcollectorCounter
from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler, parse_time

log = logging.getLogger(__name__)

# Logcollector polls may use this share of WAZUH_API_MAX_RPM; the rest stays free for the agent
# listing (one paged call per pass) and logins, so the status read never waits behind the polls.
POLL_SHARE = 0.8
# logcollector's state_interval default: how often the agent regenerates its statistics.
LOGCOLLECTOR_INTERVAL_S = 60.0
# Reading the agents' configured log files (files=*) at a start may use this share of WAZUH_API_MAX_RPM.
LEARN_SHARE = 0.25
# An agent error that, when every agent asked gets it, is the API's failure: 3036 (remoted could not reach
# it). Not 3022 (those agents' node left: the node's alert says so), not 1015 (they never connected).
SHARED_WHEN_EVERY_AGENT = frozenset({3036})


@dataclass(frozen=True)
class FileCounters:
    """One location as logcollector reports it: totals since its start, and the last interval's figures."""

    events: int
    drops: int
    interval_events: int
    interval_drops: int


@dataclass(frozen=True)
class Stats:
    """An agent's logcollector statistics, parsed: when logcollector started and each location's counters."""

    start: str  # an identity only: the agent's local time labelled UTC (REALITY.md §1), never compared with ours
    files: dict[str, FileCounters]
    interval_s: float | None = None  # length of the last completed `interval` window (a duration is sound)


def parse_stats(item: Mapping[str, Any]) -> Stats | None:
    """The API's item (`global` and `interval` sections); None when the agent gave none (not active)."""
    overall = item.get("global")
    if not isinstance(overall, dict) or not overall.get("start"):
        return None
    recent: dict[str, tuple[int, int]] = {}
    interval = item.get("interval")
    if isinstance(interval, dict):
        for entry in _files(interval):
            recent[str(entry.get("location", ""))] = (_int(entry.get("events")), _drops(entry))
    files = {}
    for entry in _files(overall):
        location = str(entry.get("location", ""))
        last_events, last_drops = recent.get(location, (0, 0))
        files[location] = FileCounters(_int(entry.get("events")), _drops(entry), last_events, last_drops)
    return Stats(str(overall["start"]), files, _duration(interval) if isinstance(interval, dict) else None)


def _duration(section: Mapping[str, Any]) -> float | None:
    """end - start of a section: both on the agent's clock, so their difference is right even when the zone is not."""
    start, end = parse_time(section.get("start")), parse_time(section.get("end"))
    if start is None or end is None or end <= start:
        return None
    return (end - start).total_seconds()


def _files(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    files = section.get("files")
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _drops(entry: Mapping[str, Any]) -> int:
    targets = entry.get("targets")
    if not isinstance(targets, list):
        return 0
    return sum(_int(t.get("drops")) for t in targets if isinstance(t, dict))


def step_counter(
    target: Target, before: LogcollectorCounter | None, stats: Stats | None, now: datetime
) -> tuple[Observation, LogcollectorCounter | None]:
    """One location's observation from the counters now and at the previous poll; no I/O but one log line.

    The log line (INFO) says that logcollector restarted and the counters were re-based.

    The agent writes its statistics' times on its own clock, labelled UTC (REALITY.md §1), so none of
    them is ever compared with ours. What is proven is counter growth between two polls, timed by our
    clock: events grew since the previous poll, so the last event is at most `now` old (the silence
    clock restarts). A first poll proves nothing about when the last event was, except that events in
    the last completed interval make it at most two intervals old. A different `global.start`
    (logcollector restarted, counters from zero) with events counted means events since the restart,
    which came after the previous poll.
    """
    assert target.agent_id is not None and target.location is not None
    last = before.last_event if before else None
    found = stats.files.get(target.location) if stats else None
    if stats is None or found is None:
        # Agent not active, or logcollector does not read this location: no new event, the silence clock runs.
        why = "" if stats is None else f"logcollector on agent {target.agent_id} does not read {target.location}"
        return Observation(target.key, now, last_event=last, events_in_window=0, detail=why), before
    new_events = new_drops = 0
    if before is not None and before.start == stats.start and found.events >= before.events:
        new_events = found.events - before.events
        new_drops = max(0, found.drops - before.drops)
        if new_events > 0:
            last = now
    elif before is not None and before.start != stats.start:
        log.info("logcollector on agent %s restarted: counters re-based", target.agent_id)
        new_events, new_drops = found.events, found.drops
        if found.events > 0:
            last = now
    elif before is not None:
        # Counters went back under the same start: re-based, but they prove nothing.
        log.info("logcollector counters of agent %s went backwards: re-based", target.agent_id)
    elif found.interval_events > 0:
        window = stats.interval_s or LOGCOLLECTOR_INTERVAL_S
        # The interval ended at the agent's last regeneration, at most one interval before our request.
        proven = now - timedelta(seconds=2 * window)
        last = max(last, proven) if last is not None else proven
    dropped = max(new_drops, found.interval_drops if before is None else 0)
    detail = f"dropping events: logcollector dropped {dropped} events of {target.location}" if dropped else ""
    counter = LogcollectorCounter(target.agent_id, target.location, stats.start, found.events, found.drops, last)
    observation = Observation(
        target.key, now, last_event=last, events_in_window=new_events, drops=dropped, detail=detail
    )
    return observation, counter


class LogcollectorSource:
    """One `GET /agents/{id}/stats/logcollector` per agent with location targets per check; counters in the state DB.

    An error about one agent (disconnected, on a node that left the cluster, never connected: REALITY.md §8)
    is that agent's UNKNOWN, in words; only a failure of the API itself (transport, 401, 429, or the same
    error for every agent asked) fails the source. Agents the pass's listing shows not active (or not
    registered) are not asked: they have no statistics to give, and their silence clock runs.
    """

    name = "logcollector"
    backend = "api"  # the statistics come from the server API: its failure is the API's
    counts_events = True
    errors_per_target = True  # an observation's error is its agent's own, not the API's (monitor._ask)

    def __init__(
        self,
        api: WazuhAPIHandler,
        store: StateStore,
        listing: Callable[[datetime], Mapping[str, AgentInfo]] | None = None,
    ) -> None:
        self._api = api
        self._store = store
        self._listing = listing

    def handles(self, target: Target) -> bool:
        return target.kind is TargetKind.LOCATION and target.location not in (None, "*")

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        by_agent: dict[str, list[Target]] = defaultdict(list)
        for target in targets:
            if target.agent_id is not None:
                by_agent[target.agent_id].append(target)
        if not by_agent:
            return {}
        known = self._store.logcollector_counters()
        listing = self._agents(now)
        observations: dict[str, Observation] = {}
        updated: list[LogcollectorCounter] = []
        refused: dict[str, AgentError] = {}
        for agent_id, mine in sorted(by_agent.items()):
            try:
                stats = None if _not_polled(listing, agent_id) else parse_stats(self._api.logcollector_stats(agent_id))
            except AgentError as exc:
                # That agent's own trouble: its locations are UNKNOWN, said why; the next agent is asked.
                log.info("%s", exc.message)
                refused[agent_id] = exc
                for target in mine:
                    observations[target.key] = Observation(target.key, now, error=exc.message)
                continue
            except BackendError as exc:
                # The API itself failed (the client already retried): the other agents are not asked in vain.
                self._store.save_logcollector_counters(updated)
                raise BackendError(exc.backend, f"logcollector statistics of agent {agent_id}: {exc.message}") from exc
            for target in mine:
                assert target.location is not None
                observation, counter = step_counter(target, known.get((agent_id, target.location)), stats, now)
                observations[target.key] = observation
                if counter is not None:
                    updated.append(counter)
        self._store.save_logcollector_counters(updated)
        codes = {e.code for e in refused.values()}
        if len(refused) >= 2 and len(refused) == len(by_agent) and codes <= SHARED_WHEN_EVERY_AGENT:
            # "Unreachable" for every agent asked is the manager's own failure, not theirs.
            first = next(iter(refused.values()))
            raise BackendError(first.backend, f"every agent's logcollector statistics refused: {first.message}")
        return observations

    def _agents(self, now: datetime) -> Mapping[str, AgentInfo] | None:
        """This pass's agent listing (read once per pass by the status source); None when unreadable."""
        if self._listing is None:
            return None
        try:
            return self._listing(now)
        except BackendError:
            return None  # the status source reports it; every agent is asked as before


def _not_polled(listing: Mapping[str, AgentInfo] | None, agent_id: str) -> bool:
    """Whether the listing shows the agent not active or not registered: it has no statistics to give."""
    if listing is None:
        return False
    if agent_id not in listing:
        return True
    return listing[agent_id].status != "active"


def learn_configured(api: WazuhAPIHandler, targets: Sequence[Target], max_rpm: int) -> list[Target]:
    """`files=*` rows also watch each log file of the agent's configuration, so one that never sent an event is
    watched too (the indexer learns only locations that did). One request per agent, at most LEARN_SHARE of
    WAZUH_API_MAX_RPM per start; the `*` rows are kept for the indexer's learning.
    """
    learners = [t for t in targets if t.kind is TargetKind.LOCATION and t.location == "*" and t.agent_id]
    if not learners:
        return list(targets)
    budget = max(1, int(max_rpm * LEARN_SHARE))
    if len(learners) > budget:
        log.warning(
            "files=*: the configuration of %d agents of %d is read this start (%.0f%% of WAZUH_API_MAX_RPM); "
            "the others learn only the locations that sent events",
            budget,
            len(learners),
            LEARN_SHARE * 100,
        )
    listed = {t.key for t in targets}
    added: list[Target] = []
    for learner in learners[:budget]:
        assert learner.agent_id is not None
        try:
            locations = api.localfiles(learner.agent_id)
        except AgentError as exc:
            log.info("agent %s: configured log files not read: %s", learner.agent_id, exc.message)
            continue
        except BackendError as exc:
            log.warning("configured log files not read (%s): files=* learns from events only", exc)
            break
        for location in locations:
            key = Target.location_key(learner.agent_id, location)
            if key not in listed:
                listed.add(key)
                added.append(replace(learner, key=key, location=location, origin=f"{learner.origin} (configured)"))
    return [*targets, *added]


def plan_polls(targets: Sequence[Target], max_rpm: int) -> tuple[list[Target], str | None]:
    """Location targets' intervals stretched so one poll per agent per interval fits POLL_SHARE of the budget.

    Returns the targets (unchanged when the budget covers them) and a warning to log at start, or None.
    """
    shortest: dict[str, float] = {}
    for target in targets:
        if target.kind is TargetKind.LOCATION and target.agent_id is not None and target.location != "*":
            seen = shortest.get(target.agent_id)
            shortest[target.agent_id] = min(seen, target.interval_s) if seen else target.interval_s
    needed = sum(60.0 / interval for interval in shortest.values())
    available = max(1.0, max_rpm * POLL_SHARE)
    if needed <= available:
        return list(targets), None
    factor = needed / available
    stretched = [
        replace(t, interval_s=math.ceil(t.interval_s * factor))
        if t.kind is TargetKind.LOCATION and t.agent_id in shortest
        else t
        for t in targets
    ]
    warning = (
        f"logcollector polls for {len(shortest)} agents need {needed:.0f} API requests/min, more than "
        f"{available:.0f} ({POLL_SHARE:.0%} of WAZUH_API_MAX_RPM={max_rpm}): location checks run "
        f"{factor:.1f}x less often than configured"
    )
    return stretched, warning
