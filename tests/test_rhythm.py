"""Silence judged by each target's own rhythm: the expectation from the hourly history, and the policy that uses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.ledger import hour_index
from log_monitor.models import Condition, Observation, Severity, Target, TargetKind
from log_monitor.policy import assess
from log_monitor.ratechart import Point, Rhythm, chart
from log_monitor.rhythm import Bounds, Profile, expectation, expected, profile, rhythm_severity, sentence, weekend
from tests.helpers import default_policy

MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday
DAY = hour_index(MONDAY) // 24
POLICY = default_policy()  # SILENCE_MODE=rhythm, 20 / 100 events, 24 h cap, 30 s delay
AGENT = Target.agent("001", "dc-1", 3600.0)  # a one-hour threshold


def week(per_hour: list[int], *, weekends: list[int] | None = None, days: int = 7) -> dict[int, list[int]]:
    """`days` days of history before MONDAY, each hour as `per_hour` (weekend days as `weekends` when given)."""
    history = {}
    for back in range(1, days + 1):
        day = DAY - back
        history[day] = weekends if weekends is not None and weekend(day) else per_hour
    return history


def found(history: dict[int, list[int]]) -> Profile:
    made = profile(history)
    assert made is not None
    return made


def silent(last: datetime, now: datetime, prof: Profile | None, target: Target = AGENT, **changes: object) -> Severity:
    obs = Observation(target.key, now, last_event=last)
    return assess(target, obs, now, default_policy(**changes), profile=prof).severity


BUSY = found(week([18_000] * 24))  # 5 events a second, every hour
OFFICE = found(week([0] * 9 + [600] * 8 + [0] * 7, weekends=[0] * 24))  # 09:00-17:00 on weekdays only


def test_the_expectation_is_the_hours_rate_prorated_over_the_silence() -> None:
    assert expected(BUSY, MONDAY, MONDAY + timedelta(minutes=6)) == 1800.0
    start = MONDAY + timedelta(hours=8, minutes=30)  # 30 quiet minutes, then 30 minutes of the office's 600 an hour
    assert expected(OFFICE, start, start + timedelta(hours=1)) == 300.0


def test_weekends_are_expected_apart_from_weekdays() -> None:
    saturday = MONDAY - timedelta(days=2)
    assert expected(OFFICE, saturday, saturday + timedelta(days=2)) == 0.0  # a silent weekend is no surprise
    friday_evening = MONDAY - timedelta(days=3) + timedelta(hours=17)
    assert expected(OFFICE, friday_evening, MONDAY + timedelta(hours=9)) == 0.0
    assert expected(OFFICE, friday_evening, MONDAY + timedelta(hours=9, minutes=3)) == 30.0


def test_one_missing_hour_in_the_history_does_not_move_the_median() -> None:
    history = week([600] * 24)
    history[DAY - 3] = [600] * 14 + [0] + [600] * 9  # the 14:00 hour of one day was never counted
    assert found(history).rate(hour_index(MONDAY) + 14) == 600.0


def test_a_new_target_has_no_profile_and_a_short_history_is_learning() -> None:
    assert profile({}) is None
    assert found(week([600] * 24, days=2)).learning(20.0)
    assert found(week([0] * 23 + [10], days=7)).learning(20.0)  # 10 events a day: sparser than DROP_MIN_BASELINE
    assert not found(week([600] * 24, days=3)).learning(20.0)


def test_a_silence_across_a_daylight_saving_change_counts_each_real_hour_once() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-10-25 03:00 CEST -> 02:00 CET: the wall clock shows 02:xx twice, but three real hours pass.
    start = datetime(2026, 10, 25, 1, 0, tzinfo=berlin).astimezone(UTC)
    end = datetime(2026, 10, 25, 3, 0, tzinfo=berlin).astimezone(UTC)
    assert expected(BUSY, start, end) == 3 * 18_000
    spring_start = datetime(2026, 3, 29, 1, 0, tzinfo=berlin).astimezone(UTC)  # 02:00 -> 03:00: one real hour
    spring_end = datetime(2026, 3, 29, 3, 0, tzinfo=berlin).astimezone(UTC)
    assert expected(BUSY, spring_start, spring_end) == 18_000


def test_a_busy_source_that_stops_warns_within_seconds_and_says_why() -> None:
    last = MONDAY + timedelta(hours=10)
    # 30 s of indexing delay, then 4 s without its 5 events a second: 20 expected, one-in-500-million.
    assert silent(last, last + timedelta(seconds=33), BUSY) is Severity.OK
    assert silent(last, last + timedelta(seconds=34), BUSY) is Severity.WARNING
    assert silent(last, last + timedelta(seconds=50), BUSY) is Severity.CRITICAL  # 100 expected
    now = last + timedelta(minutes=6, seconds=30)
    words = assess(AGENT, Observation(AGENT.key, now, last_event=last), now, POLICY, profile=BUSY)
    assert words.condition is Condition.SILENT
    assert words.detail == "silent for 6 min; it usually sends about 1,800 events in that time"
    assert sentence(50.0, 2.5) == "silent for 50 s; it usually sends about 2.5 events in that time"


def test_a_night_quiet_source_alerts_minutes_after_its_usual_start_not_during_the_night() -> None:
    last = MONDAY - timedelta(days=3) + timedelta(hours=17, seconds=-1)  # Friday's last event
    assert silent(last, MONDAY + timedelta(hours=2), OFFICE) is Severity.OK  # 57 h: beyond any fixed threshold
    assert silent(last, MONDAY + timedelta(hours=9, minutes=2), OFFICE) is Severity.OK
    assert silent(last, MONDAY + timedelta(hours=9, minutes=3), OFFICE) is Severity.WARNING
    assert silent(last, MONDAY + timedelta(hours=9, minutes=10, seconds=30), OFFICE) is Severity.CRITICAL


def test_fixed_mode_a_learning_target_and_a_local_file_keep_the_threshold() -> None:
    last = MONDAY + timedelta(hours=10)
    soon = last + timedelta(minutes=5)
    assert silent(last, soon, BUSY, silence_mode="fixed") is Severity.OK
    assert silent(last, soon, found(week([18_000] * 24, days=2))) is Severity.OK  # learning
    assert silent(last, last + timedelta(minutes=61), found(week([18_000] * 24, days=2))) is Severity.WARNING
    log = Target(key="file:/var/log/x", kind=TargetKind.LOCAL_FILE, label="x", interval_s=3600.0, threshold_s=3600.0)
    assert silent(last, soon, BUSY, target=log) is Severity.OK


def test_a_sparse_source_is_expected_at_its_days_events_spread_over_its_usual_hours() -> None:
    # Bursts of a few events about once an hour: one hour's median over a week is 0 or 6 by chance.
    bursts = [[(day * 7 + slot * 5) % 9 if (day + slot) % 3 else 0 for slot in range(24)] for day in range(7)]
    history = {DAY - 1 - back: row for back, row in enumerate(bursts)}
    sparse = found(history)
    weekdays = [row for day, row in history.items() if not weekend(day)]
    usual = [slot for slot in range(24) if any(row[slot] for row in weekdays)]
    day_total = sorted(sum(row) for row in weekdays)[len(weekdays) // 2]
    assert day_total < 20 * len(usual)  # fewer than 20 events in a usual hour
    tuesday = hour_index(MONDAY) + 24
    assert {sparse.rate(tuesday + slot) for slot in usual} == {day_total / len(usual)}
    # A source with 20 events or more in its usual hours keeps each hour's own median.
    assert BUSY.rate(tuesday + 3) == 18_000.0 and OFFICE.rate(tuesday + 9) == 600.0 and OFFICE.rate(tuesday + 8) == 0


def test_the_hard_cap_alerts_a_very_sparse_source_but_counts_only_its_usual_hours() -> None:
    never = found(week([0] * 24))
    assert never.learning(20.0)  # no events at all: judged by its threshold, not by an expectation of nothing
    sparse = found(week([1] * 24))  # an event an hour: 20 expected would take 20 hours, 100 four days
    last = MONDAY + timedelta(hours=3)
    assert silent(last, last + timedelta(hours=19, minutes=59), sparse) is Severity.OK
    assert silent(last, last + timedelta(hours=20, minutes=1), sparse) is Severity.WARNING
    assert silent(last, last + timedelta(hours=24, seconds=29), sparse) is Severity.WARNING
    assert silent(last, last + timedelta(hours=24, seconds=30), sparse) is Severity.CRITICAL
    # The office's weekend is 64 hours of silence, none of them in its usual hours: no cap, no alert.
    friday = MONDAY - timedelta(days=3) + timedelta(hours=17)
    assert expectation(OFFICE, friday, MONDAY + timedelta(hours=9)) == (0.0, 0.0)
    assert silent(friday, MONDAY + timedelta(hours=8, minutes=59), OFFICE) is Severity.OK


def test_a_source_sending_at_a_different_hour_each_day_expects_nothing_but_still_meets_the_hard_cap() -> None:
    history = {DAY - back: [0] * 24 for back in range(1, 8)}
    for back, row in history.items():
        row[(3 * back) % 24] = 400  # 400 events a day, each day in another hour: every hour's median is 0
    scattered = found(history)
    assert not scattered.learning(20.0)
    last = MONDAY + timedelta(hours=1)
    assert expected(scattered, last, last + timedelta(days=2)) == 0.0
    assert silent(last, last + timedelta(hours=23, minutes=59), scattered) is Severity.OK
    # 24 of the hours in which it sent something on a day kept (weekdays and weekends apart) pass at last.
    capped = last + timedelta(seconds=usual_time_to(history, last, 86400.0))
    assert capped - last > timedelta(days=3)  # 5 such hours on a weekday, 2 on a weekend day
    delay = timedelta(seconds=POLICY.indexing_delay_s)
    assert silent(last, capped + delay - timedelta(seconds=1), scattered) is Severity.OK
    assert silent(last, capped + delay, scattered) is Severity.CRITICAL


def usual_hours(history: dict[int, list[int]], hour: int) -> bool:
    """Whether the history holds an event in this hour of the day on a day of the same kind (weekday or weekend)."""
    day, slot = divmod(hour, 24)
    split = len({weekend(d) for d in history}) == 2
    return any(row[slot] for d, row in history.items() if not split or weekend(d) == weekend(day))


def usual_time_to(history: dict[int, list[int]], start: datetime, cap: float) -> float:
    """Seconds of clock time from `start` until `cap` seconds of the target's usual hours have passed."""
    moment, counted = start.timestamp(), 0.0
    while True:
        hour_end = (moment // 3600 + 1) * 3600
        if usual_hours(history, int(moment // 3600)):
            if counted + hour_end - moment >= cap:
                return moment + cap - counted - start.timestamp()
            counted += hour_end - moment
        moment = hour_end


rates = st.lists(
    st.one_of(st.just(0), st.sampled_from([1, 3, 600, 18_000]), st.integers(0, 20_000)), min_size=24, max_size=24
)


def by_hand(per_hour: list[int], weekends: list[int], start: datetime, seconds: float) -> tuple[float, float]:
    """(events expected, seconds in hours the history ever had an event in) over the silence, hour by hour."""
    events = usual = 0.0
    moment, stop = start.timestamp(), start.timestamp() + seconds
    while moment < stop:
        hour = int(moment // 3600)
        following = min((hour + 1) * 3600.0, stop)
        day, slot = divmod(hour, 24)
        rate = as_expected(weekends if weekend(day) else per_hour)[slot]
        events += rate * (following - moment) / 3600
        usual += following - moment if rate else 0.0  # every day of a kind is alike here: median > 0 iff ever
        moment = following
    return events, usual


def as_expected(day: list[int]) -> list[float]:
    """Every day alike: each hour's own count, or for a sparse day (under 20 events a usual hour) the day's events
    spread evenly over the hours that had any."""
    usual = [slot for slot in range(24) if day[slot]]
    if usual and sum(day) < 20 * len(usual):
        return [sum(day) / len(usual) if day[slot] else 0.0 for slot in range(24)]
    return [float(n) for n in day]


@settings(max_examples=200, deadline=None)
@given(
    per_hour=rates,
    weekends=rates,
    start=st.integers(0, 14 * 86400),
    lasted=st.integers(0, 3 * 86400),
    warn=st.floats(1.0, 1000.0),
    crit_above=st.floats(0.0, 1000.0),
    cap=st.floats(60.0, 2 * 86400.0),
)
def test_rhythm_never_alerts_after_the_hard_cap_nor_before_the_expectation_reaches_its_bound(
    per_hour: list[int], weekends: list[int], start: int, lasted: int, warn: float, crit_above: float, cap: float
) -> None:
    prof = found(week(per_hour, weekends=weekends))
    last = MONDAY - timedelta(days=7) + timedelta(seconds=start)
    now = last + timedelta(seconds=POLICY.indexing_delay_s + lasted)
    changes: dict[str, Any] = {
        "rhythm_warn_events": warn,
        "rhythm_crit_events": warn + crit_above,
        "rhythm_max_silence_s": cap,
    }
    judged = silent(last, now, prof, **changes)
    if prof.learning(POLICY.drop_min_baseline):
        return
    # The rule as docs/detection.md states it, worked out hour by hour from the history rather than by the module.
    events, usual = by_hand(per_hour, weekends, last, lasted)
    if usual >= cap + 1e-6 or events >= warn + crit_above + 1e-6:
        assert judged is Severity.CRITICAL  # never later than the hard cap (RHYTHM_MAX_SILENCE of usual hours)
    elif events < warn - 1e-6 and usual < cap - 1e-6:
        assert judged is Severity.OK  # never before E reaches its bound
    elif events >= warn + 1e-6:
        assert judged >= Severity.WARNING
    if all(per_hour) and all(weekends) and lasted >= cap:
        assert judged is Severity.CRITICAL  # a source that sends at every hour: the cap is clock time
    assert (
        rhythm_severity(
            *expectation(prof, last, last + timedelta(seconds=lasted)), Bounds(warn, warn + crit_above, cap)
        )
        is judged
    )


def test_the_chart_draws_the_expected_curve_behind_the_counts_or_says_learning() -> None:
    now = MONDAY + timedelta(hours=12)
    hours = [now - timedelta(hours=back) for back in range(24, 0, -1)]
    counts = [Point(at, 10, 10.0) for at in hours]
    rhythm = [Point(at, 0, OFFICE.rate(hour_index(at)) / 60) for at in hours]
    drawn = chart("pc-1", counts, [], 0.1, now, own=Rhythm(rhythm))
    assert 'class="expected"' in drawn and "learning" not in drawn
    still = chart("pc-2", counts, [], 0.1, now, own=Rhythm((), learning=True))
    assert 'class="expected"' not in still and ">learning</text>" in still
