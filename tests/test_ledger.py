"""The ledger of incremental reads: every event read is counted once, in its hour, and the rate window sums reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.ledger import HOUR_S, Entry, advance, apply, hour_before, hour_index, median_norm
from log_monitor.models import Observation, TargetState

START = datetime(2026, 11, 22, 9, 40, tzinfo=UTC)
KEY = "agent:001"


def read(start: datetime, end: datetime, counts: dict[int, int]) -> Observation:
    """An incremental read of [start, end) that found `counts` events by hour index."""
    first = hour_index(start)
    hours = [counts.get(hour, 0) for hour in range(first, hour_before(end) + 1)]
    return Observation(KEY, end, read_from=start, read_until=end, hour_from=first, hour_counts=hours)


def folded(previous: TargetState | None, obs: Observation, window_s: float | None = 900.0) -> tuple[TargetState, Entry]:
    entry = advance(previous, obs, window_s, 360.0)
    assert entry is not None
    state = TargetState(KEY)
    apply(state, entry, previous)
    return state, entry


def test_the_hour_before_an_hour_boundary_is_the_hour_that_ends_there() -> None:
    ten = datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert hour_before(ten) == hour_index(ten) - 1
    assert hour_before(ten + timedelta(microseconds=1)) == hour_index(ten)


def test_a_first_read_closes_every_whole_hour_and_keeps_the_unfinished_one() -> None:
    start = datetime(2026, 11, 22, 7, tzinfo=UTC)
    end = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    seven = hour_index(start)
    state, entry = folded(None, read(start, end, {seven: 5, seven + 1: 6, seven + 2: 7}))
    day, slot = divmod(seven, 24)
    assert list(entry.closed) == [day] and (entry.closed[day][slot], entry.closed[day][slot + 1]) == (5, 6)
    assert (state.read_until, state.hour_events) == (end, 7)
    # A first read is history: the rate window starts at its end, with nothing in it yet.
    assert (state.win_from, state.win_events, entry.rate) == (end, 0, None)


def test_a_read_across_an_hour_closes_it_with_what_the_earlier_reads_counted() -> None:
    first, _ = folded(None, read(START, START + timedelta(minutes=10), {hour_index(START): 40}))
    ten = datetime(2026, 11, 22, 10, tzinfo=UTC)
    later = read(first.read_until or START, ten + timedelta(minutes=5), {hour_index(START): 8, hour_index(ten): 3})
    state, entry = folded(first, later)
    day, slot = divmod(hour_index(START), 24)
    assert entry.closed[day][slot] == 48 and state.hour_events == 3


def test_the_rate_window_is_finalised_once_the_reads_span_it_and_its_baseline_is_the_norm_scaled() -> None:
    state, _ = folded(None, read(START - timedelta(hours=1), START, {}))
    for minutes in (5, 10):
        state, entry = folded(state, read(state.read_until or START, START + timedelta(minutes=minutes), {}))
        assert entry.rate is None  # 5 and 10 minutes of a 15-minute window: still filling
    hour = hour_index(START)
    state, entry = folded(state, read(state.read_until or START, START + timedelta(minutes=15), {hour: 12}))
    assert entry.rate == (12, 360.0 * 900 / HOUR_S, 900.0)
    assert (state.win_from, state.win_events) == (START + timedelta(minutes=15), 0)


def test_a_failed_or_other_read_changes_nothing() -> None:
    assert advance(None, Observation(KEY, START, error="indexer down"), 900.0, 1.0) is None
    assert advance(None, Observation(KEY, START, last_event=START), 900.0, 1.0) is None


def test_the_norm_is_the_median_of_the_days_and_counts_the_days_with_events() -> None:
    assert median_norm([]) == (0.0, 0)
    assert median_norm([0, 0, 10]) == (0.0, 1)
    assert median_norm([1, 9, 10, 20]) == (9.5, 4)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 7200), st.dictionaries(st.integers(0, 3), st.integers(0, 1000))),
        min_size=1,
        max_size=12,
    )
)
def test_consecutive_reads_count_every_event_once_in_its_hour(steps: list[tuple[int, dict[int, int]]]) -> None:
    """Whatever the reads' lengths, what the hours closed hold plus the unfinished hour is what the reads found."""
    state, entry = folded(None, read(START - timedelta(minutes=1), START, {}))
    history: dict[int, int] = {}
    found: dict[int, int] = {}
    for seconds, by_offset in steps:
        start = state.read_until or START
        end = start + timedelta(seconds=seconds)
        first, last = hour_index(start), hour_before(end)
        counts = {first + offset: n for offset, n in by_offset.items() if first + offset <= last}
        for hour, n in counts.items():
            found[hour] = found.get(hour, 0) + n
        state, entry = folded(state, read(start, end, counts))
        for day, row in entry.closed.items():
            for slot, n in enumerate(row):
                history[day * 24 + slot] = history.get(day * 24 + slot, 0) + n
        assert sum(history.values()) + state.hour_events == sum(found.values())
    current = hour_before(state.read_until or START)
    assert {h: n for h, n in history.items() if n} == {h: n for h, n in found.items() if n and h != current}
