"""The scheduler: due targets come out in order, together within the slack, never twice."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.scheduler import Scheduler


def test_targets_come_out_when_due_and_in_order() -> None:
    s = Scheduler(slack_s=0)
    s.schedule("b", 20)
    s.schedule("a", 10)
    assert s.pop_due(5) == []
    assert s.pop_due(10) == ["a"]
    assert s.next_due() == 20
    assert s.pop_due(100) == ["b"]
    assert s.next_due() is None


def test_targets_due_close_together_are_checked_in_one_batch() -> None:
    s = Scheduler(slack_s=2)
    for key, due in (("a", 10), ("b", 11.5), ("c", 13)):
        s.schedule(key, due)
    assert s.pop_due(10) == ["a", "b"]


def test_rescheduling_replaces_the_earlier_entry() -> None:
    s = Scheduler(slack_s=0)
    s.schedule("a", 10)
    s.schedule("a", 30)
    assert s.pop_due(20) == []
    assert s.pop_due(30) == ["a"]
    assert len(s) == 0


def test_a_removed_target_never_comes_out() -> None:
    s = Scheduler(slack_s=0)
    s.schedule("a", 10)
    s.remove("a")
    assert "a" not in s
    assert s.pop_due(100) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdefgh"), st.floats(min_value=0, max_value=1000), st.booleans()),
        max_size=100,
    ),
    st.floats(min_value=0, max_value=1000),
)
def test_pop_due_returns_exactly_the_live_keys_due_by_then(ops: list[tuple[str, float, bool]], now: float) -> None:
    s = Scheduler(slack_s=1.0)
    expected: dict[str, float] = {}
    for key, due, remove in ops:
        if remove:
            s.remove(key)
            expected.pop(key, None)
        else:
            s.schedule(key, due)
            expected[key] = due
    popped = s.pop_due(now)
    assert sorted(popped) == sorted(k for k, d in expected.items() if d <= now + 1.0)
    assert [expected[k] for k in popped] == sorted(expected[k] for k in popped)
    assert len(s) == len(expected) - len(popped)
