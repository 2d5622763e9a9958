"""What a target shows, decided once for `once`, `status`, `top`, the status API and the dashboard; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from log_monitor.models import Condition, MaintenanceWindow, Severity, Silence, Target, TargetKind, TargetState
from log_monitor.policy import in_maintenance

PENDING = "PENDING"  # configured, not checked yet
REMOVED = "REMOVED"  # checked once, no longer configured: never alerted again, forgotten after REMOVED_KEPT
SHOWN = (*(s.name for s in Severity), PENDING, REMOVED)  # every state a target can show
REMOVED_KEPT = timedelta(days=7)  # how long a removed target stays listed (after its last check)
# States of the monitor's own parts (backends, the pipeline, cluster nodes): never configured, never removed.
_SYSTEM_PREFIXES = ("backend:", "pipeline:", "node:")


@dataclass(frozen=True, slots=True)  # 100,000 of them are kept between a pass's end and the next
class TargetView:
    """One target as people see it: the stored state and configuration, and what to make of them now."""

    key: str
    target: Target | None  # None: removed, or the monitor's own backend / pipeline state
    state: TargetState | None  # None: not checked yet
    shown: str  # one of SHOWN
    silence: Silence | None = None  # the silence holding it back: its own, or its agent's
    window: MaintenanceWindow | None = None  # the maintenance window it is in now

    @property
    def label(self) -> str:
        if self.target is not None:
            return self.target.label
        if self.state is not None and self.state.agent_name:
            return self.state.agent_name
        return self.key

    @property
    def condition(self) -> Condition | None:
        return self.state.condition if self.state is not None else None

    @property
    def severity(self) -> Severity | None:
        """The shown state as a Severity (MAINTENANCE included); None while PENDING or REMOVED."""
        return Severity[self.shown] if self.shown in Severity.__members__ else None

    @property
    def system(self) -> bool:
        """A state of the monitor itself (a backend, the whole pipeline), not a monitored target."""
        return self.key.startswith(_SYSTEM_PREFIXES)

    @property
    def removed(self) -> bool:
        return self.shown == REMOVED

    @property
    def held(self) -> bool:
        """Alerts are held back now: a silence or a maintenance window is on."""
        return self.silence is not None or self.window is not None

    def note(self) -> str:
        """The why in a few words: the silence (until, reason, who), the window, or the removal."""
        if self.removed:
            return "removed from the configuration; no alerts"
        parts = []
        if self.silence is not None:
            own = "" if self.silence.target_key == self.key else f" (via {self.silence.target_key})"
            who = f" by {self.silence.created_by}" if self.silence.created_by else ""
            why = f": {self.silence.reason}" if self.silence.reason else ""
            parts.append(f"silenced until {self.silence.until:%Y-%m-%d %H:%M} UTC{own}{who}{why}")
        if self.window is not None:
            parts.append(f"maintenance window {self.window.text}")
        return "; ".join(parts)


def silence_for(key: str, target: Target | None, silences: Mapping[str, Silence]) -> Silence | None:
    """The silence that covers a target: its own, else its agent's (`agent:001` covers `agent:001:/var/log/x`)."""
    if not silences:
        return None  # the usual case, asked for each of 100,000 targets when the status server builds its views
    own = silences.get(key)
    if own is not None:
        return own
    agent_id = target.agent_id if target is not None else _agent_id(key)
    if agent_id is None:
        return None
    agent_key = Target.agent_key(agent_id)
    return silences.get(agent_key) if agent_key != key else None


def _agent_id(key: str) -> str | None:
    kind, _, rest = key.partition(":")
    if kind != "agent":
        return None
    return rest.partition(":")[0] or None


def held(target: Target, silences: Mapping[str, Silence], now: datetime, zone: tzinfo | None) -> bool:
    """Whether a target's alerts are held back now (the pass's `quiet`): a silence covers it or a window is on."""
    return silence_for(target.key, target, silences) is not None or in_maintenance(target.maintenance, now, zone)


def shown(
    state: TargetState | None,
    target: Target | None,
    silences: Mapping[str, Silence],
    now: datetime,
    zone: tzinfo | None,
) -> TargetView:
    """What a target shows now.

    A WARNING or CRITICAL held back by a silence or a maintenance window shows MAINTENANCE (stored as
    the real severity, so the alert goes out when the hold ends); a target never checked shows PENDING;
    a stored target that is no longer configured shows REMOVED, whatever it last was.
    """
    found = target.key if target is not None else state.target_key if state is not None else ""
    silence = silence_for(found, target, silences)
    window = None
    if target is not None and target.maintenance:
        local = now.astimezone(zone) if zone is not None else now.astimezone()
        window = next((w for w in target.maintenance if w.contains(local)), None)
    if target is None and not found.startswith(_SYSTEM_PREFIXES):
        return TargetView(found, None, state, REMOVED, silence)
    if state is None:
        return TargetView(found, target, None, PENDING, silence, window)
    name = state.severity.name
    if state.severity in (Severity.WARNING, Severity.CRITICAL) and (silence is not None or window is not None):
        name = Severity.MAINTENANCE.name
    return TargetView(found, target, state, name, silence, window)


def views(
    targets: list[Target],
    states: Mapping[str, TargetState],
    silences: Mapping[str, Silence],
    now: datetime,
    zone: tzinfo | None,
) -> list[TargetView]:
    """Every configured target, then every stored state without one (removed targets, backends, pipeline)."""
    found: list[TargetView] = []
    seen: set[str] = set()
    for target in targets:
        if target.key not in seen:
            seen.add(target.key)
            found.append(shown(states.get(target.key), target, silences, now, zone))
    for key in sorted(states.keys() - seen):
        found.append(shown(states[key], None, silences, now, zone))
    return found


def keepalive_only(target: Target | None, state: TargetState | None) -> bool:
    """An agent judged by its keepalive alone (the API without the indexer): OK, and no event ever counted."""
    return (
        target is not None
        and target.kind is TargetKind.AGENT
        and state is not None
        and state.condition is Condition.OK
        and state.last_event is None
    )


def removed_by(view: TargetView) -> datetime | None:
    """When a removed target is dropped from the store (REMOVED_KEPT after its last check)."""
    if not view.removed or view.state is None or view.state.last_checked is None:
        return None
    return view.state.last_checked + REMOVED_KEPT


def repeated_labels(targets: list[Target]) -> set[str]:
    """Labels that more than one target carries: there a view adds the key, or people cannot tell them apart."""
    count: dict[str, int] = {}
    for target in targets:
        count[target.label] = count.get(target.label, 0) + 1
    return {label for label, n in count.items() if n > 1}


def learned(targets: list[Target], states: Mapping[str, TargetState], *, discovery: bool) -> list[Target]:
    """The configured targets plus those the daemon adds at run time, rebuilt from the stored states.

    A command reading the configuration (`status`, `top`, `silence`) sees `files=*` rows, not the locations
    the daemon learned from them, nor the agents AGENT_DISCOVERY found: without them these would show REMOVED.
    """
    keys = {t.key for t in targets}
    learners = {t.agent_id: t for t in targets if t.kind is TargetKind.LOCATION and t.location == "*"}
    listed = {t.agent_id for t in targets if t.kind is TargetKind.AGENT}
    found = list(targets)
    for key in sorted(states.keys() - keys):
        agent_id = _agent_id(key)
        if agent_id is None:
            continue
        location = key.removeprefix(Target.agent_key(agent_id)).removeprefix(":")
        learner = learners.get(agent_id)
        if location and learner is not None:
            found.append(replace(learner, key=key, location=location, origin=f"{learner.origin} (learned)"))
        elif not location and discovery and agent_id not in listed:
            name = states[key].agent_name or key
            found.append(Target.agent(agent_id, name, 0.0, origin="discovered"))
    return found
