"""Re-enrolment: a configured agent id Wazuh no longer lists whose host enrolled again under its name; pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from log_monitor.models import Condition, Notification, NotificationKind, Severity, Target, TargetState

# The agent status a replaced id's state keeps, so the notice is sent once (across restarts too).
REENROLLED_AS = "re-enrolled as "


@dataclass(frozen=True)
class Reenrolment:
    """Agent `old_id` was removed and its host enrolled again as `new_id` with the same name (REALITY.md §9)."""

    old_id: str
    new_id: str
    name: str


def find(targets: Sequence[Target], listed: Mapping[str, str], states: Mapping[str, TargetState]) -> list[Reenrolment]:
    """The configured agent ids missing from the full listing (id -> name) whose name another, newer id has.

    The name is the one the API last gave the missing id (its stored state). authd gives a re-enrolled host
    a NEW, higher id; an id that is itself configured is never taken.
    """
    configured = {t.agent_id for t in targets if t.agent_id is not None}
    known = {}
    for agent_id in configured - listed.keys():
        state = states.get(Target.agent_key(agent_id))
        if state is not None and state.agent_name:
            known[agent_id] = state.agent_name
    if not known:
        return []
    names = set(known.values())
    by_name: dict[str, list[str]] = {}
    for agent_id, name in listed.items():
        if name in names and agent_id not in configured:
            by_name.setdefault(name, []).append(agent_id)
    found = []
    for old_id, name in sorted(known.items()):
        newer = [a for a in by_name.get(name, []) if a.isdigit() and old_id.isdigit() and int(a) > int(old_id)]
        if newer:
            found.append(Reenrolment(old_id, max(newer, key=int), name))
    return found


def follow(targets: Sequence[Target], moves: Sequence[Reenrolment]) -> list[Target]:
    """The targets with each re-enrolled agent's rows (the agent and its locations) moved to its new id."""
    new_ids = {move.old_id: move for move in moves}
    followed = []
    for target in targets:
        move = new_ids.get(target.agent_id or "")
        if move is None:
            followed.append(target)
            continue
        location = target.location
        key = Target.agent_key(move.new_id) if location is None else Target.location_key(move.new_id, location)
        origin = f"{target.origin} (re-enrolled as {move.new_id}, was {move.old_id})"
        followed.append(replace(target, key=key, agent_id=move.new_id, origin=origin))
    return followed


def notice(move: Reenrolment, target: Target, now: datetime, host: str) -> Notification:
    """ "web-1 re-enrolled as 014 (009 removed)": one notice, its id the same however often it is made."""
    words = f"{move.name} re-enrolled as {move.new_id} ({move.old_id} removed)"
    return Notification(
        id=hashlib.sha256(f"reenrolled|{move.old_id}|{move.new_id}".encode()).hexdigest()[:24],
        created_at=now,
        kind=NotificationKind.REENROLLED,
        severity=Severity.OK,
        target_key=Target.agent_key(move.new_id),
        label=target.label,
        condition=Condition.OK,
        host=host,
        agent_id=move.new_id,
        agent_name=move.name,
        detail=(
            f"{words}: its agents.csv row ({target.origin or 'agent ' + move.old_id}) is followed under the new "
            f"id with its settings; update the id in the file"
        ),
    )


def marked(move: Reenrolment, state: TargetState | None, now: datetime) -> TargetState:
    """The old id's state, marked as followed: its notice is not sent again."""
    base = state or TargetState(Target.agent_key(move.old_id))
    return replace(base, agent_status=f"{REENROLLED_AS}{move.new_id}", last_checked=now)
