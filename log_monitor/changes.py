"""What a pass's new states change: the rows worth writing, the transitions and the hourly rate points; pure.

The judge decides these with the pass's `now` and the previous states; the store writes what it is given.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from log_monitor.models import STATE_KEPT_IN_MEMORY, RatePoint, Severity, TargetState, Transition

# A state whose only news is what is kept in memory is written at its first check in each hour, so the stored one is
# at most this (and an interval) old: `status` and the forgetting of removed targets read it from the file.
CHECKED_WRITTEN_EVERY = timedelta(hours=1)
_BUT_KEPT = attrgetter(*(f.name for f in fields(TargetState) if f.name not in STATE_KEPT_IN_MEMORY))


def worth_writing(previous: TargetState | None, state: TargetState) -> bool:
    """Whether the state's row is written now: it is new, something but the kept fields changed, or a new hour."""
    if previous is None or _BUT_KEPT(previous) != _BUT_KEPT(state):
        return True
    earlier, later = previous.last_checked, state.last_checked
    return earlier is None or later is None or new_hour(earlier, later)


def new_hour(earlier: datetime, later: datetime) -> bool:
    """Whether `later` falls in another clock hour than `earlier` (both UTC, as the pass's clock gives them)."""
    return later - earlier >= CHECKED_WRITTEN_EVERY or later.hour != earlier.hour


def transition(previous: TargetState | None, state: TargetState, now: datetime) -> Transition | None:
    """The stored severity's change, if any: a first sight that is OK is not one."""
    before = previous.severity if previous is not None else None
    if before is state.severity or (before is None and state.severity is Severity.OK):
        return None
    return Transition(state.target_key, state.last_checked or now, before, state.severity, state.condition)


def rate_points(previous: TargetState | None, state: TargetState) -> list[RatePoint]:
    """The target's hourly rate points to write: its first figures, and at its first check in a new hour the last
    figures of the hour before and the first of this one (in between, the kept state holds the latest)."""
    checked = state.last_checked
    if state.recent is None or state.baseline is None or checked is None:
        return []
    earlier = previous.last_checked if previous is not None else None
    if previous is None or previous.recent is None or previous.baseline is None or earlier is None:
        return [
            RatePoint(state.target_key, hour_start(checked), state.recent, state.baseline, state.rate_window_s or 0.0)
        ]
    # Most targets of most passes are checked again in the same hour: told by arithmetic, no datetime made.
    if earlier.timestamp() // 3600 == checked.timestamp() // 3600:
        return []
    return [
        RatePoint(
            state.target_key, hour_start(earlier), previous.recent, previous.baseline, previous.rate_window_s or 0.0
        ),
        RatePoint(state.target_key, hour_start(checked), state.recent, state.baseline, state.rate_window_s or 0.0),
    ]


def hour_start(at: datetime) -> datetime:
    """The UTC hour holding `at`."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
