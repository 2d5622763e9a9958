"""The merge of a target's observations: the pass's quick way for the usual pair is the general rule's answer."""

from __future__ import annotations

from copy import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.models import Condition, Observation, Severity
from log_monitor.sources import merge, merge_pair

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
KEY = "agent:001"
MOMENTS = st.none() | st.integers(0, 86_400).map(lambda s: NOW - timedelta(seconds=s))
WORDS = st.sampled_from(["", "", "12 events dropped since the last check", "renamed"])
ERRORS = st.none() | st.none() | st.just("Wazuh indexer: timed out")


@st.composite
def counted(draw: st.DrawFn) -> Observation:
    """What an event source says: a last event, counts, maybe a finding or a rate, maybe a failure."""
    rated = draw(st.booleans())
    return Observation(
        KEY,
        NOW,
        last_event=draw(MOMENTS),
        events_in_window=draw(st.none() | st.integers(0, 1000)),
        drops=draw(st.none() | st.integers(0, 50)),
        error=draw(ERRORS),
        problem=draw(st.sampled_from(["", "", "missing"])),
        detail=draw(WORDS),
        finding=draw(st.none() | st.sampled_from([Condition.HIGH_TRAFFIC, Condition.LOW_TRAFFIC])),
        finding_severity=draw(st.sampled_from([Severity.WARNING, Severity.CRITICAL])),
        recent=draw(st.integers(0, 900)) if rated else draw(st.none() | st.integers(0, 9)),
        baseline=draw(st.floats(0, 900)) if rated else None,
        history_days=draw(st.integers(0, 7)),
        rate_window_s=draw(st.none() | st.just(900.0)),
    )


@st.composite
def status(draw: st.DrawFn) -> Observation:
    """What the API says of the agent: its status, keepalive and name, or a failure."""
    return Observation(
        KEY,
        NOW - timedelta(seconds=draw(st.integers(0, 5))),
        agent_status=draw(st.sampled_from(["active", "disconnected", "never_connected", "not registered"])),
        last_keepalive=draw(MOMENTS),
        agent_name=draw(st.none() | st.just("web-01")),
        detail=draw(WORDS),
        error=draw(ERRORS),
    )


@settings(max_examples=300, deadline=None)
@given(events=counted(), agent=status())
def test_the_usual_pair_merges_as_the_general_rule_does_or_leaves_it_to_the_rule(
    events: Observation, agent: Observation
) -> None:
    expected = merge(KEY, NOW, [(False, copy(agent)), (True, copy(events))])
    quick = merge_pair(copy(events), copy(agent), NOW)
    if events.error is not None or agent.error is not None:
        assert quick is None  # a failure is the general rule's: unknown, or incomplete
    else:
        assert quick == expected
