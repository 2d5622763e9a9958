"""The indexer's aggregation page: the schema's reader gives what the checked reader gives, or leaves it to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.errors import ResponseError
from log_monitor.wazuh.aggpage import AGENT_KEY, LOCATION_KEY, EventStats, Page, checked_page, read_page

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


# --- what each reader gives, case by case --------------------------------------------------------------------

MOMENT = 1_763_805_600_000  # 2025-11-22T10:00:00Z in epoch milliseconds
AT = datetime(2025, 11, 22, 10, 0, tzinfo=UTC)


def page_of(*buckets: dict[str, Any], after: object = None, **top: Any) -> dict[str, Any]:
    agents: dict[str, Any] = {"buckets": list(buckets)}
    if after is not None:
        agents["after_key"] = after
    return {"_shards": {"total": 1, "failed": 0}, **top, "aggregations": {"agents": agents}}


def bucket_of(key: dict[str, Any], last: object = MOMENT, count: object = 4, days: int = 0) -> dict[str, Any]:
    bucket: dict[str, Any] = {"key": key, "last_event": {"value": last}, "in_window": {"doc_count": count}}
    if days:
        bucket["rate"] = {"buckets": {f"d{day}": {"doc_count": 10 + day} for day in range(days)}}
    return bucket


def read_both(page: dict[str, Any], names: tuple[str, ...], days: int = 0) -> list[Page | None]:
    return [read_page(json.dumps(page).encode(), names, days), checked_page(page, names, days)]


def test_an_agents_page_gives_each_agents_last_event_count_and_the_next_pages_key() -> None:
    page = page_of(
        bucket_of({"agent": "001"}),
        bucket_of({"agent": "002"}, last=None, count=0),
        after={"agent": "002"},
    )
    for read in read_both(page, AGENT_KEY):
        assert read == Page(
            [(("001",), EventStats(AT, 4)), (("002",), EventStats(None, 0))],
            {"agent": "002"},
        )


def test_a_locations_page_keys_each_bucket_by_agent_location_and_channel() -> None:
    page = page_of(
        bucket_of({"agent": "001", "location": "EventChannel", "channel": "Security"}, days=3),
        bucket_of({"agent": "001", "location": "/var/log/auth.log", "channel": None}, last=MOMENT + 1500, days=3),
    )
    for read in read_both(page, LOCATION_KEY, 3):
        assert read == Page(
            [
                (("001", "EventChannel", "Security"), EventStats(AT, 4, (10, 11, 12))),
                (("001", "/var/log/auth.log", ""), EventStats(AT + timedelta(seconds=1.5), 4, (10, 11, 12))),
            ],
            None,
        )


def test_a_last_event_as_a_float_reads_to_the_millisecond() -> None:
    page = page_of(bucket_of({"agent": "001"}, last=MOMENT + 250.0))
    for read in read_both(page, AGENT_KEY):
        assert read is not None
        assert read.buckets[0][1].last_event == AT + timedelta(milliseconds=250)


@pytest.mark.parametrize(
    "top",
    [
        {"timed_out": True},
        {"_shards": {"total": 2, "failed": 1}},
        {"_shards": {"total": 0, "failed": 0}},
    ],
)
def test_a_partial_answer_is_never_read_by_the_schema(top: dict[str, Any]) -> None:
    page = page_of(bucket_of({"agent": "001"}), **top)
    assert read_page(json.dumps(page).encode(), AGENT_KEY, 0) is None


@pytest.mark.parametrize(
    "top",
    [{"timed_out": False}, {"_shards": {"total": 2, "failed": 0}}, {"_shards": {"failed": 0}}, {"_shards": None}],
)
def test_a_whole_answer_is_read_by_the_schema(top: dict[str, Any]) -> None:
    page = page_of(bucket_of({"agent": "001"}), **top)
    assert read_page(json.dumps(page).encode(), AGENT_KEY, 0) is not None


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"aggregations": {}}', b"[" * 100_000],
)
def test_what_is_not_a_page_is_left_to_the_checked_reader(content: bytes) -> None:
    assert read_page(content, AGENT_KEY, 0) is None


@pytest.mark.parametrize(
    ("body", "days", "words"),
    [
        ({}, 0, "answer lacks the 'agents' aggregation"),
        ({"aggregations": []}, 0, "answer lacks the 'agents' aggregation"),
        ({"aggregations": {"agents": []}}, 0, "answer lacks the 'agents' aggregation"),
        ({"aggregations": {"agents": {}}}, 0, "aggregation answer lacks buckets"),
        ({"aggregations": {"agents": {"buckets": {}}}}, 0, "aggregation answer lacks buckets"),
        (page_of([]), 0, "malformed aggregation bucket"),  # type: ignore[arg-type]
        (page_of({"key": "001"}), 0, "malformed aggregation bucket"),
        (page_of(bucket_of({"agent": "001"}, last=1e300)), 0, "aggregation bucket has an impossible last_event 1e+300"),
        (page_of(bucket_of({"agent": "001"})), 2, "aggregation bucket lacks the rate windows' counts"),
        (
            page_of({**bucket_of({"agent": "001"}), "rate": {"buckets": []}}),
            2,
            "aggregation bucket lacks the rate windows' counts",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "rate": {"buckets": {"d0": {"doc_count": 1}}}}),
            2,
            "aggregation bucket has no count for rate window d1",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "rate": {"buckets": {"d0": {"doc_count": 1}, "d1": 3}}}),
            2,
            "aggregation bucket has no count for rate window d1",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "rate": {"buckets": {"d0": {"doc_count": 1.5}, "d1": 3}}}),
            2,
            "aggregation bucket has no count for rate window d0",
        ),
    ],
)
def test_the_checked_reader_says_what_is_missing_or_wrong(body: dict[str, Any], days: int, words: str) -> None:
    with pytest.raises(ResponseError) as raised:
        checked_page(body, AGENT_KEY, days)
    assert raised.value.backend == "Wazuh indexer"
    assert str(raised.value).endswith(words)


@pytest.mark.parametrize(
    ("bucket", "stats"),
    [
        ({"key": {"agent": "001"}}, EventStats(None, 0)),  # no parts at all: no event, none in the window
        ({"key": {"agent": "001"}, "last_event": {"value": None}, "in_window": {}}, EventStats(None, 0)),
        ({"key": {"agent": "001"}, "last_event": 5, "in_window": 5}, EventStats(None, 0)),
        ({"key": {"agent": "001"}, "last_event": {"value": "7"}, "in_window": {"doc_count": "7"}}, EventStats(None, 0)),
        ({"key": {"agent": 1}, "last_event": {"value": MOMENT}, "in_window": {"doc_count": 2}}, EventStats(AT, 2)),
    ],
)
def test_the_checked_reader_reads_a_missing_or_odd_part_as_none(bucket: dict[str, Any], stats: EventStats) -> None:
    assert checked_page(page_of(bucket), AGENT_KEY, 0).buckets == [
        (("001",) if bucket["key"]["agent"] == "001" else ("1",), stats)
    ]


def test_the_checked_reader_reads_a_missing_key_part_as_empty() -> None:
    page = page_of(bucket_of({"agent": "001", "location": None}))
    assert checked_page(page, LOCATION_KEY, 0).buckets[0][0] == ("001", "", "")
