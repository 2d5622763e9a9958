"""The indexer's aggregation page: the schema's reader gives what the checked reader gives, or leaves it to it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.errors import ResponseError
from log_monitor.wazuh.aggpage import AGENT_KEY, HOUR_MS, LOCATION_KEY, Page, Parts, checked_page, read_page

PARTS = st.sampled_from(
    [
        Parts(),
        Parts(settled=True),
        Parts(settled=True, split=True),
        Parts(settled=True, hours=True),
        Parts(window=True, settled=True, hours=True),
    ]
)
NAMES = st.sampled_from([AGENT_KEY, LOCATION_KEY])
# Epoch milliseconds as OpenSearch's `max` gives them: a double, or an integral one written as an integer.
MOMENTS = st.integers(1_600_000_000_000, 1_900_000_000_000) | st.floats(1.6e12, 1.9e12)
HOURS = st.integers(444_000, 528_000).map(lambda hour: hour * HOUR_MS)
COUNTS = st.integers(0, 10**6)
Drawn = tuple[dict[str, Any], tuple[str, ...], Parts]  # a decoded page, its key's names, its sub-aggregations


@st.composite
def plain_bucket(draw: st.DrawFn, names: tuple[str, ...], parts: Parts) -> dict[str, Any]:
    """A bucket as OpenSearch writes it, with the parts the reader skips (value_as_string, key_as_string)."""
    key: dict[str, Any] = {"agent": draw(st.sampled_from(["001", "002", "1042"]))}
    if names == LOCATION_KEY:
        key["location"] = draw(st.sampled_from(["/var/log/auth.log", "EventChannel", "WinEvtLog"]))
        # missing_bucket: a non-Windows event's channel is null.
        key["channel"] = draw(st.none() | st.sampled_from(["Security", "System"]))
    bucket: dict[str, Any] = {
        "key": key,
        "doc_count": draw(COUNTS),
        "last": {"value": draw(st.none() | MOMENTS), "value_as_string": "2026-11-22T09:59:30.000Z"},
    }
    if parts.settled:
        bucket["s"] = {"doc_count": draw(COUNTS)}
        if parts.hours:
            hours = draw(st.lists(HOURS, max_size=4, unique=True))
            entries = [
                {"key_as_string": "2026-11-22T09:00:00.000Z", "key": h, "doc_count": draw(COUNTS)} for h in hours
            ]
            bucket["s"]["h"] = {"buckets": entries}
    if parts.window:
        bucket["w"] = {"doc_count": draw(COUNTS)}
    if parts.split:
        bucket["p"] = {"doc_count": draw(COUNTS)}
    return bucket


@st.composite
def plain_page(draw: st.DrawFn) -> Drawn:
    names, parts = draw(NAMES), draw(PARTS)
    buckets = draw(st.lists(plain_bucket(names, parts), max_size=6))
    page: dict[str, Any] = {
        "took": 3,
        "timed_out": False,
        "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
        "aggregations": {"agents": {"buckets": buckets}},
    }
    if buckets:
        page["aggregations"]["agents"]["after_key"] = buckets[-1]["key"]
    return page, names, parts


ODD: st.SearchStrategy[Any] = st.sampled_from([None, -1, 1.5, "7", True, [], {}, 1e300, -1e300])


@st.composite
def odd_page(draw: st.DrawFn) -> Drawn:
    """A plain page with one to three parts removed or replaced by something no real answer has."""
    page, names, parts = draw(plain_page())
    for _ in range(draw(st.integers(1, 3))):
        path = _paths(page)
        where = draw(st.sampled_from(path))
        parent, name = where
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(name, None)
        else:
            parent[name] = draw(ODD)
    return page, names, parts


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
    body, names, parts = page
    content = json.dumps(body).encode()
    try:
        checked: Page | ResponseError = checked_page(json.loads(content), names, parts)
    except ResponseError as exc:
        checked = exc
    return read_page(content, names, parts), checked


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


def test_a_negative_count_a_partial_answer_or_an_empty_pattern_is_left_to_the_checked_reader() -> None:
    parts = Parts(settled=True, hours=True)
    hour = {"key": 480_000 * HOUR_MS, "doc_count": -1}
    bucket = {
        "key": {"agent": "001"},
        "doc_count": 3,
        "last": {"value": 1.7e12},
        "s": {"doc_count": 1, "h": {"buckets": [hour]}},
    }
    page = {"_shards": {"total": 1, "failed": 0}, "aggregations": {"agents": {"buckets": [bucket]}}}
    assert read_page(json.dumps(page).encode(), AGENT_KEY, parts) is None
    # OpenSearch's count is never negative: the checked reader says which.
    refused = both_readers((page, AGENT_KEY, parts))[1]
    assert isinstance(refused, ResponseError) and "events in an hour" in str(refused)
    hour["doc_count"] = 1
    read = read_page(json.dumps(page).encode(), AGENT_KEY, parts)
    assert read is not None and read.buckets[0][1].hours == ((480_000, 1),)
    for odd in ({"timed_out": True}, {"_shards": {"total": 2, "failed": 1}}, {"_shards": {"total": 0, "failed": 0}}):
        assert read_page(json.dumps({**page, **odd}).encode(), AGENT_KEY, parts) is None


def test_a_filtered_last_page_without_its_empty_aggregation_is_empty_but_an_unfiltered_one_is_broken() -> None:
    # filter_path leaves out what it leaves empty: a last page's `buckets: []`, and the aggregation with it.
    filtered = {"_shards": {"total": 3, "successful": 3, "skipped": 0, "failed": 0}, "timed_out": False}
    assert checked_page(filtered, AGENT_KEY, Parts(settled=True)).buckets == []
    unfiltered = {**filtered, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
    with pytest.raises(ResponseError, match="lacks the 'agents' aggregation"):
        checked_page(unfiltered, AGENT_KEY, Parts(settled=True))
