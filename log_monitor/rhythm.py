"""A target's own rhythm: its expected events per hour of the day, and how surprising a silence is; pure.

The history (the ledger's closed hours) gives, for each UTC hour of the day, the median of that hour over the
days kept, weekdays and weekends apart when the history holds both (a sparse source: its median day's events
spread over the hours it ever sends in). A silence from `t0` to `now` is expected
to have missed `E` events, the rate summed over those hours; under a Poisson model such a silence has the
chance exp(-E). Hours are UTC hours since the epoch: a daylight-saving change neither adds nor drops one.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from log_monitor.models import Severity

HOUR_S = 3600
DAY_HOURS = 24
MIN_DAYS = 3  # fewer days of history: the target is still learning, judged by its fixed threshold
# Weekdays and weekends apart as soon as the history holds both (not after two weeks): docs/detection.md says why,
# with the simulation's office-hours figures both ways (`python -m benchmarks.rhythm --split-from-days 14`).
SPLIT_FROM_DAYS = 2
SPARSE_PER_HOUR = 20.0  # fewer events than this in a usual hour: the hours' own medians are noise (profile)
_WEEKEND = frozenset({5, 6})  # Saturday and Sunday (Monday is 0)


def weekend(day: int) -> bool:
    """Whether the UTC day `day` (days since the epoch, a Thursday) is a Saturday or a Sunday."""
    return (day + 3) % 7 in _WEEKEND


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)


@dataclass(frozen=True, slots=True)
class Profile:
    """Expected events in each UTC hour of a weekday (`rates[0:24]`) and of a weekend day (`rates[24:48]`)."""

    rates: array[float]  # an array, not 48 float objects: kept for every silent target
    days: int  # days of history the medians are taken over
    per_day: float  # the median day's events
    # Bit i: slot i (as in `rates`) had an event on at least one of its days kept: the hours the hard cap counts.
    # All 48 when not given, so a profile made by hand counts every hour.
    seen: int = (1 << 2 * DAY_HOURS) - 1

    def rate(self, hour: int) -> float:
        """The expected events in hour index `hour` (UTC hours since the epoch)."""
        return self.rates[_slot(hour)]

    def usual(self, hour: int) -> bool:
        """Whether the target sent something in this hour of the day on at least one day kept (of its kind)."""
        return bool(self.seen >> _slot(hour) & 1)

    def learning(self, min_per_day: float) -> bool:
        """Too little history to know the rhythm (under MIN_DAYS days, or sparser than `min_per_day` a day)."""
        return self.days < MIN_DAYS or self.per_day < min_per_day


def _slot(hour: int) -> int:
    day, slot = divmod(hour, DAY_HOURS)
    return slot + DAY_HOURS if weekend(day) else slot


def profile(days: Mapping[int, Sequence[int]]) -> Profile | None:
    """The profile of a history given as day index -> that day's 24 hourly counts; None without one day."""
    if not days:
        return None
    rows = list(days.values())

    def rates_of(chosen: list[Sequence[int]]) -> tuple[list[float], int]:
        usual = [slot for slot in range(DAY_HOURS) if any(row[slot] for row in chosen)]
        day_total = _median([sum(row) for row in chosen])
        if usual and day_total < SPARSE_PER_HOUR * len(usual):
            # Fewer events an hour than RHYTHM_WARN_EVENTS' default: an alert needs hours of expectation, and one
            # hour's median over a few days is noise (a burst, or none): the day's events over its usual hours.
            spread = [day_total / len(usual) if slot in usual else 0.0 for slot in range(DAY_HOURS)]
            return spread, sum(1 << slot for slot in usual)
        return [_median([row[slot] for row in chosen]) for slot in range(DAY_HOURS)], sum(1 << slot for slot in usual)

    weekdays = [row for day, row in days.items() if not weekend(day)]
    weekends = [row for day, row in days.items() if weekend(day)]
    # An office PC is silent all weekend: one profile for both would expect its Monday on a Saturday.
    if weekdays and weekends and len(rows) >= SPLIT_FROM_DAYS:
        (work, work_usual), (rest, rest_usual) = rates_of(weekdays), rates_of(weekends)
        rates, usual = work + rest, work_usual | rest_usual << DAY_HOURS
    else:
        every, every_usual = rates_of(rows)
        rates, usual = every * 2, every_usual * ((1 << DAY_HOURS) + 1)
    return Profile(array("d", rates), len(rows), _median([sum(row) for row in rows]), usual)


def from_hours(hour_from: int, counts: Sequence[int], first_day: int, day: int) -> Profile | None:
    """The profile of consecutive hourly counts from hour index `hour_from` (a first read's week of history, before
    it is written), over their days in `[first_day, day)`, as the history will hold them."""
    days: dict[int, list[int]] = {}
    for offset, count in enumerate(counts):
        held, slot = divmod(hour_from + offset, DAY_HOURS)
        if first_day <= held < day:
            days.setdefault(held, [0] * DAY_HOURS)[slot] += count
    return profile(days)


def expected(found: Profile, start: datetime, end: datetime) -> float:
    """The events `found` expects in `[start, end)`, each hour's rate prorated."""
    return expectation(found, start, end)[0]


def expectation(found: Profile, start: datetime, end: datetime) -> tuple[float, float]:
    """(events expected in `[start, end)`, seconds of it in the target's usual hours: those of the hours of the day
    in which it sent something on at least one day kept, weekdays and weekends apart as the rates are)."""
    moment, stop = start.timestamp(), end.timestamp()
    total = active = 0.0
    while moment < stop:
        hour = math.floor(moment / HOUR_S)
        following = min((hour + 1) * HOUR_S, stop)
        total += found.rate(hour) * (following - moment) / HOUR_S
        if found.usual(hour):
            active += following - moment
        moment = following
    return total, active


@dataclass(frozen=True, slots=True)
class Bounds:
    """RHYTHM_WARN_EVENTS, RHYTHM_CRIT_EVENTS and RHYTHM_MAX_SILENCE (seconds)."""

    warn_events: float
    crit_events: float
    max_silence_s: float


def rhythm_severity(events: float, active_s: float, bounds: Bounds) -> Severity:
    """WARNING once `events` were expected in the silence, CRITICAL at the higher bound or past the hard cap.

    The hard cap counts the silence's time in the target's usual hours (`active_s`, see expectation): a source
    that sends at every hour is CRITICAL after RHYTHM_MAX_SILENCE of clock time, and so is one whose events come
    at a different hour each day (every hourly median 0, nothing expected); an office PC's weekend (64 hours in
    which it never sent anything) counts nothing.
    """
    if events >= bounds.crit_events or active_s >= bounds.max_silence_s:
        return Severity.CRITICAL
    if events >= bounds.warn_events:
        return Severity.WARNING
    return Severity.OK


def sentence(silent_for_s: float, events: float) -> str:
    """Why the silence alerts, in words a SOC reads at a glance.

    "silent for 6 min; it usually sends about 1,800 events in that time"
    """
    return f"silent for {_duration(silent_for_s)}; it usually sends about {_about(events)} events in that time"


def _about(events: float) -> str:
    if events >= 100:
        digits = len(str(int(events))) - 2  # two significant figures: "about" is not a count
        return f"{round(events, -digits):,.0f}"
    return f"{events:,.0f}" if events >= 10 else f"{events:,.1f}".removesuffix(".0")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
