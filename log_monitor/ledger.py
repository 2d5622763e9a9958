"""The incremental reads' ledger: what one read adds to a target's hourly counts, rate window and high-water mark; pure.

The indexer is read once per event: each pass asks for the settled span since the target's high-water mark
(`read_until`), and this module folds what it counted into the target's state. Hours that the mark leaves
behind are closed (written to the history by the store); the unfinished hour's count stays in the state. The
rate window (the rate drop's current count) is the sum of whole reads, finalised once it spans at least the
window: exact sums of what the passes read, however often they run. Its baseline is the median of the same
hour on the previous days of that history (`norm`), scaled to the window.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from log_monitor.models import Observation, TargetState

HOUR_S = 3600
HISTORY_DAYS = 7  # the baseline's days: the same hour on each of this many previous days


def hour_index(moment: datetime) -> int:
    """The UTC hour holding `moment`, counted from the epoch."""
    return math.floor(moment.timestamp() / HOUR_S)


def hour_before(moment: datetime) -> int:
    """The hour holding the last instant before `moment`: a span ending on the hour belongs to the hour before."""
    return math.ceil(moment.timestamp() / HOUR_S) - 1


def median_norm(values: Sequence[int]) -> tuple[float, int]:
    """(median, days with events) of one hour's counts on the previous days that the history holds."""
    if not values:
        return 0.0, 0
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return float(median), len(ordered) - ordered.count(0)


def norm_of_read(obs: Observation, hour: int) -> tuple[float, int] | None:
    """The norm for `hour` from a first read's own hourly counts (the history it brings is not stored yet); None
    when the read holds none of the previous days' same hour."""
    counts, first = obs.hour_counts, obs.hour_from
    found = [
        counts[index] for days in range(1, HISTORY_DAYS + 1) if 0 <= (index := hour - 24 * days - first) < len(counts)
    ]
    return median_norm(found) if found else None


@dataclass(slots=True)
class Entry:
    """What one read changes in a target's ledger, and the hours it closes as (hour index, events)."""

    read_until: datetime
    hour_events: int
    win_from: datetime
    win_events: int
    closed: dict[int, array[int]]  # day index -> the events of its 24 hours that this read closed (added to the day)
    rate: tuple[int, float, float] | None  # (events, baseline, window seconds) when the window was finalised
    filling: tuple[int, float, float] | None = None  # the same of the window still filling


def advance(previous: TargetState | None, obs: Observation, window_s: float | None, norm: float | None) -> Entry | None:
    """Fold one incremental read into the ledger; None when the observation is not one (a failed or other read).

    `norm` is the median events of the window's hour on the previous days (None: no baseline is kept).
    """
    start, until = obs.read_from, obs.read_until
    if start is None or until is None or obs.error is not None:
        return None
    mark = previous.read_until if previous is not None else None
    counts, first = obs.hour_counts, obs.hour_from
    if mark is not None and mark <= start:
        current, carried = hour_before(mark), previous.hour_events if previous is not None else 0
    else:  # first sight (a backfill): the history starts with this read
        current, carried = hour_index(start), 0
    last = hour_before(until)
    closed: dict[int, array[int]] = {}
    for hour in range(current, last):
        day, slot = divmod(hour, 24)
        row = closed.get(day)
        if row is None:
            row = closed[day] = array("I", bytes(24 * 4))
        row[slot] += _at(counts, first, hour) + (carried if hour == current else 0)
    hour_events = _at(counts, first, last) + (carried if last == current else 0)
    read = sum(counts)
    if previous is None or previous.win_from is None or mark is None or mark > start:
        # The window starts with the mark: a backfill's events are history, not the current window's; what it
        # counted in the last window (EVENTS) is shown until the first whole window is read.
        shown = None
        if window_s is not None and obs.events_in_window is not None:
            shown = (obs.events_in_window, (norm or 0.0) * window_s / HOUR_S, window_s)
        return Entry(until, hour_events, until, 0, closed, None, shown)
    win_from, win_events = previous.win_from, previous.win_events + read
    span = (until - win_from).total_seconds()
    if window_s is None:
        return Entry(until, hour_events, win_from, win_events, closed, None)
    figures = (win_events, (norm or 0.0) * span / HOUR_S, span)
    if span < window_s:
        return Entry(until, hour_events, win_from, win_events, closed, None, figures)
    return Entry(until, hour_events, until, 0, closed, figures)


def _at(counts: Sequence[int], first: int, hour: int) -> int:
    index = hour - first
    return counts[index] if 0 <= index < len(counts) else 0


def apply(state: TargetState, entry: Entry | None, previous: TargetState | None) -> None:
    """The ledger's fields of the new state: this read's, or the previous state's when nothing was read."""
    source = entry
    if source is None:
        if previous is not None:
            state.read_until, state.hour_events = previous.read_until, previous.hour_events
            state.win_from, state.win_events = previous.win_from, previous.win_events
        return
    state.read_until, state.hour_events = source.read_until, source.hour_events
    state.win_from, state.win_events = source.win_from, source.win_events


def rate_figures(obs: Observation, entry: Entry | None, previous: TargetState | None, norm_days: int) -> None:
    """The observation's rate figures: a finalised window's, else the previous state's (the window still filling),
    else, before the first whole window, the one filling."""
    if entry is not None and entry.rate is not None:
        obs.recent, obs.baseline, obs.rate_window_s = entry.rate
        obs.history_days = norm_days
    elif obs.read_until is not None and previous is not None and previous.baseline is not None:
        obs.recent, obs.baseline, obs.rate_window_s = previous.recent, previous.baseline, previous.rate_window_s
        obs.history_days = norm_days
    elif entry is not None and entry.filling is not None:
        # No whole window yet (the first minutes): the one filling is shown, so the charts draw from the first pass.
        obs.recent, obs.baseline, obs.rate_window_s = entry.filling
        obs.history_days = norm_days
