"""The indexer's aggregation page: the schema's reader gives what the checked reader gives, or leaves it to it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.errors import ResponseError
from log_monitor.wazuh.aggpage import AGENT_KEY, LOCATION_KEY, Page, checked_page, read_page

DAYS = st.sampled_from([0, 8])
NAMES = st.sampled_from([AGENT_KEY, LOCATION_KEY])
# Epoch milliseconds as OpenSearch's `max` gives them: a double, or an integral one written as an integer.
MOMENTS = st.integers(1_600_000_000_000, 1_900_000_000_000) | st.floats(1.6e12, 1.9e12)
COUNTS = st.integers(0, 10**6)
Drawn = tuple[dict[str, Any], tuple[str, ...], int]  # a decoded page, its key's names, its rate windows


@st.composite
def plain_bucket(draw: st.DrawFn, names: tuple[str, ...], days: int) -> dict[str, Any]:
    """A bucket as OpenSearch writes it, with the parts the reader skips (the bucket's doc_count, value_as_string)."""
    key: dict[str, Any] = {"agent": draw(st.sampled_from(["001", "002", "1042"]))}
    if names == LOCATION_KEY:
        key["location"] = draw(st.sampled_from(["/var/log/auth.log", "EventChannel", "WinEvtLog"]))
        # missing_bucket: a non-Windows event's channel is null.
        key["channel"] = draw(st.none() | st.sampled_from(["Security", "System"]))
    bucket: dict[str, Any] = {
        "key": key,
        "doc_count": draw(COUNTS),
        "last_event": {"value": draw(st.none() | MOMENTS), "value_as_string": "2026-11-22T09:59:30.000Z"},
        "in_window": {"doc_count": draw(COUNTS)},
    }
    if days:
        bucket["rate"] = {"buckets": {f"d{day}": {"doc_count": draw(COUNTS)} for day in range(days)}}
    return bucket


@st.composite
def plain_page(draw: st.DrawFn) -> Drawn:
    names, days = draw(NAMES), draw(DAYS)
    buckets = draw(st.lists(plain_bucket(names, days), max_size=6))
    page: dict[str, Any] = {
        "took": 3,
        "timed_out": False,
        "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
        "aggregations": {"agents": {"buckets": buckets}},
    }
    if buckets:
        page["aggregations"]["agents"]["after_key"] = buckets[-1]["key"]
    return page, names, days


ODD: st.SearchStrategy[Any] = st.sampled_from([None, -1, 1.5, "7", True, [], {}, 1e300, -1e300])


@st.composite
def odd_page(draw: st.DrawFn) -> Drawn:
    """A plain page with one to three parts removed or replaced by something no real answer has."""
    page, names, days = draw(plain_page())
    for _ in range(draw(st.integers(1, 3))):
        path = _paths(page)
        where = draw(st.sampled_from(path))
        parent, name = where
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(name, None)
        else:
            parent[name] = draw(ODD)
    return page, names, days


def _paths(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a decoded JSON value."""
    found: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, inner in items:
        found.append((value, name))
        found += _paths(inner)
    return found


def both_readers(page: Drawn) -> tuple[Page | None, Page | ResponseError]:
    """The page as the schema reads it (None: left to the other), and as the checked reader reads it."""
    body, names, days = page
    content = json.dumps(body).encode()
    try:
        checked: Page | ResponseError = checked_page(json.loads(content), names, days)
    except ResponseError as exc:
        checked = exc
    return read_page(content, names, days), checked


@settings(max_examples=100, deadline=None)
@given(page=plain_page())
def test_a_plain_page_is_read_by_its_schema_as_the_checked_reader_reads_it(page: Drawn) -> None:
    fast, checked = both_readers(page)
    assert fast is not None  # a plain page never needs the slow way
    assert fast == checked


@settings(max_examples=300, deadline=None)
@given(page=odd_page())
def test_an_odd_page_is_read_as_the_checked_reader_reads_it_or_left_to_it(page: Drawn) -> None:
    fast, checked = both_readers(page)
    if fast is not None:
        # Whatever the schema takes, the checked reader takes too, with the same figures.
        assert fast == checked


def test_a_negative_window_count_a_partial_answer_or_an_empty_pattern_is_left_to_the_checked_reader() -> None:
    bucket = {
        "key": {"agent": "001"},
        "last_event": {"value": 1.7e12},
        "in_window": {"doc_count": 1},
        "rate": {"buckets": {f"d{day}": {"doc_count": -1 if day == 3 else 1} for day in range(8)}},
    }
    page = {"_shards": {"total": 1, "failed": 0}, "aggregations": {"agents": {"buckets": [bucket]}}}
    assert read_page(json.dumps(page).encode(), AGENT_KEY, 8) is None
    # OpenSearch's count is never negative: the checked reader names the window.
    refused = both_readers((page, AGENT_KEY, 8))[1]
    assert isinstance(refused, ResponseError) and "rate window d3" in str(refused)
    bucket["rate"]["buckets"]["d3"] = {"doc_count": 1}  # type: ignore[index]
    assert read_page(json.dumps(page).encode(), AGENT_KEY, 8) is not None
    for odd in ({"timed_out": True}, {"_shards": {"total": 2, "failed": 1}}, {"_shards": {"total": 0, "failed": 0}}):
        assert read_page(json.dumps({**page, **odd}).encode(), AGENT_KEY, 8) is None
