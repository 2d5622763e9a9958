"""The merge of a target's observations: the usual pair, completed in place, gets the general rule's answer."""

from __future__ import annotations

from copy import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.models import Condition, Observation, Severity
from log_monitor.sources import _by_rule, merge

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
@given(events=counted(), agent=status(), status_first=st.booleans())
def test_the_usual_pair_merges_as_the_general_rule_does(
    events: Observation, agent: Observation, status_first: bool
) -> None:
    # The merge's fast path (the pair completed in place) against its general rule, on copies of the same pair.
    expected = _by_rule(KEY, NOW, [(True, copy(events)), (False, copy(agent))])
    seen = [(True, copy(events)), (False, copy(agent))]
    assert merge(KEY, NOW, seen[::-1] if status_first else seen) == expected


# --- the rule, case by case ------------------------------------------------------------------------------------

EARLY, LATE = NOW - timedelta(minutes=30), NOW - timedelta(minutes=2)


def events(last_event: datetime | None = None, **kw: object) -> tuple[bool, Observation]:
    return True, Observation(KEY, NOW, last_event=last_event, **kw)  # type: ignore[arg-type]


def api(agent_status: str = "active", **kw: object) -> tuple[bool, Observation]:
    return False, Observation(KEY, NOW, agent_status=agent_status, counts_events=False, **kw)  # type: ignore[arg-type]


def failed(counts: bool, error: str) -> tuple[bool, Observation]:
    return counts, Observation(KEY, NOW, error=error)


@pytest.mark.parametrize(
    "seen",
    [
        [events(EARLY), events(LATE)],
        [events(LATE), events(EARLY)],
        [events(None), events(LATE)],
        [events(LATE), events(None), api()],
    ],
)
def test_the_newest_proven_event_wins(seen: list[tuple[bool, Observation]]) -> None:
    merged = merge(KEY, NOW, seen)
    assert (merged.last_event, merged.error, merged.incomplete, merged.counts_events) == (LATE, None, None, True)


@pytest.mark.parametrize(
    ("seen", "last_event", "incomplete"),
    [
        # One event source failed, another answered: its recency counts, a silence is not proven.
        ([events(LATE), failed(True, "indexer: timed out")], LATE, "indexer: timed out"),
        ([failed(True, "b: down"), events(None), failed(True, "a: down")], None, "a: down; b: down"),
        ([failed(True, "a: down"), events(EARLY), failed(True, "a: down")], EARLY, "a: down"),
        # A failed status source is not a failed event source: the count is whole.
        ([events(LATE), failed(False, "api: refused")], LATE, None),
    ],
)
def test_a_failed_source_cannot_prove_silence(
    seen: list[tuple[bool, Observation]], last_event: datetime | None, incomplete: str | None
) -> None:
    merged = merge(KEY, NOW, seen)
    assert (merged.error, merged.last_event, merged.incomplete) == (None, last_event, incomplete)


@pytest.mark.parametrize(
    ("seen", "error"),
    [
        ([failed(True, "indexer: timed out")], "indexer: timed out"),
        ([failed(True, "b: down"), failed(True, "a: down"), failed(True, "a: down")], "a: down; b: down"),
        # The status source answered, but nothing that counts events did.
        ([failed(True, "indexer: timed out"), api()], "indexer: timed out"),
        # No event source at all, and the status source failed.
        ([failed(False, "api: refused")], "api: refused"),
        ([], "not observed by any source"),
        ([failed(True, ""), api()], "not observed by any source"),
        ([failed(False, "")], "not observed by any source"),  # a failure without words is still no answer
    ],
)
def test_with_no_source_answering_the_target_is_unknown(seen: list[tuple[bool, Observation]], error: str) -> None:
    merged = merge(KEY, NOW, seen)
    assert merged == Observation(KEY, NOW, error=error)


def test_the_status_comes_from_the_status_source_and_alone_it_counts_no_events() -> None:
    keepalive = NOW - timedelta(seconds=20)
    merged = merge(KEY, NOW, [api("disconnected", last_keepalive=keepalive, agent_name="web-1", detail="lost")])
    assert merged == Observation(
        KEY,
        NOW,
        agent_status="disconnected",
        last_keepalive=keepalive,
        agent_name="web-1",
        detail="lost",
        counts_events=False,
        finding_severity=Severity.WARNING,
    )


def test_a_failed_status_source_leaves_the_status_unknown_not_the_target() -> None:
    merged = merge(KEY, NOW, [failed(False, "api: refused"), api("active"), events(LATE)])
    assert (merged.agent_status, merged.error, merged.incomplete) == ("active", None, None)
    merged = merge(KEY, NOW, [failed(False, "api: refused"), events(LATE)])
    assert (merged.agent_status, merged.error, merged.counts_events) == (None, None, True)


def test_the_figures_of_the_answering_sources_merge_each_by_its_own_rule() -> None:
    merged = merge(
        KEY,
        NOW,
        [
            failed(True, "other: down"),
            events(EARLY, events_in_window=3, drops=2, detail="2 dropped"),
            api("active", detail="renamed", status_code=4, node_name="worker-2"),
            events(
                LATE,
                read_from=EARLY,
                read_until=LATE,
                hour_from=7,
                hour_counts=(1, 2),
                events_in_window=9,
                drops=5,
                detail="2 dropped",
                problem="missing",
                finding=Condition.PATTERN,
                finding_severity=Severity.CRITICAL,
                recent=4,
                baseline=80.0,
                history_days=6,
                rate_window_s=900.0,
            ),
            events(None, problem="unreadable", finding=Condition.HIGH_TRAFFIC, recent=1, baseline=2.0, read_until=NOW),
        ],
    )
    assert (merged.agent_status, merged.status_code, merged.node_name) == ("active", 4, "worker-2")  # the status's
    # The first incremental read's (one source reads a target so).
    assert (merged.read_from, merged.read_until, merged.hour_from, merged.hour_counts) == (EARLY, LATE, 7, (1, 2))
    assert merged.events_in_window == 3  # the first source's that counted
    assert merged.drops == 5  # the most dropped
    assert merged.detail == "2 dropped; renamed"  # each once, in the sources' order, the status's last
    assert merged.problem == "missing"  # the first
    assert (merged.finding, merged.finding_severity) == (Condition.PATTERN, Severity.CRITICAL)  # the first
    assert (merged.recent, merged.baseline, merged.history_days, merged.rate_window_s) == (4, 80.0, 6, 900.0)
    assert merged.incomplete == "other: down"


def test_a_merge_without_figures_has_none() -> None:
    merged = merge(KEY, NOW, [events(LATE, recent=3)])
    assert merged == Observation(KEY, NOW, last_event=LATE, finding_severity=Severity.WARNING)


@pytest.mark.parametrize(
    "seen",
    [
        [events(LATE, detail="a"), events(EARLY), api("active", detail="b")],
        [events(LATE, detail="a"), failed(False, "api: refused")],
        [failed(True, "indexer: down"), api("active", detail="b")],
        [events(LATE, detail="a"), events(EARLY)],
        [api("active"), api("disconnected")],
        [events(LATE)],
    ],
)
def test_a_merge_other_than_the_usual_pair_leaves_the_observations_given_as_they_are(
    seen: list[tuple[bool, Observation]],
) -> None:
    before = [copy(obs) for _, obs in seen]
    merged = merge(KEY, NOW, seen)
    assert [obs for _, obs in seen] == before
    assert all(merged is not obs for _, obs in seen)


@pytest.mark.parametrize("status_first", [False, True])
def test_the_usual_pair_is_merged_into_the_counting_sources_observation(status_first: bool) -> None:
    _, counted = events(LATE, detail="a")
    _, status = api("disconnected", detail="b", status_code=4, node_name="worker-1")
    seen = [(True, counted), (False, status)]
    merged = merge(KEY, NOW, seen[::-1] if status_first else seen)
    assert merged is counted
    assert (merged.agent_status, merged.status_code, merged.node_name, merged.detail) == (
        "disconnected",
        4,
        "worker-1",
        "a; b",
    )


@pytest.mark.parametrize(
    ("mine", "theirs", "detail"),
    [("", "", ""), ("a", "", "a"), ("", "b", "b"), ("a", "b", "a; b"), ("a", "a", "a")],
)
def test_the_usual_pair_joins_the_details_once_each(mine: str, theirs: str, detail: str) -> None:
    merged = merge(KEY, NOW, [events(LATE, detail=mine), api(detail=theirs)])
    assert merged.detail == detail
