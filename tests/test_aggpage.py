"""The indexer's aggregation page, read by one reader: its schema path gives what its checked path gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.errors import ResponseError
from log_monitor.wazuh.aggpage import (
    AGENT_KEY,
    HOUR_MS,
    LOCATION_KEY,
    MAX_HOURS,
    BrokenAnswerError,
    EventStats,
    HourCounts,
    Page,
    Parts,
    _checked_page,
    _schema_page,
    read_page,
)

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
            # A histogram inside the read's range: LOOKBACK's hours at most (a week and a day here).
            base = draw(HOURS)
            hours = [
                base + offset * HOUR_MS for offset in draw(st.lists(st.integers(0, 24 * 8), max_size=4, unique=True))
            ]
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
    """The page as the schema path reads it (None: left to the other), and as the checked path reads it."""
    body, names, parts = page
    content = json.dumps(body).encode()
    try:
        checked: Page | ResponseError = _checked_page(json.loads(content), names, parts)
    except ResponseError as exc:
        checked = exc
    return _schema_page(content, names, parts), checked


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
    assert _schema_page(json.dumps(page).encode(), AGENT_KEY, parts) is None
    # OpenSearch's count is never negative: the checked reader says which.
    refused = both_readers((page, AGENT_KEY, parts))[1]
    assert isinstance(refused, ResponseError) and "events in an hour" in str(refused)
    hour["doc_count"] = 1
    read = _schema_page(json.dumps(page).encode(), AGENT_KEY, parts)
    assert read is not None and read.buckets[0][1].hours == HourCounts.of([(480_000, 1)])
    for odd in ({"timed_out": True}, {"_shards": {"total": 2, "failed": 1}}, {"_shards": {"total": 0, "failed": 0}}):
        assert _schema_page(json.dumps({**page, **odd}).encode(), AGENT_KEY, parts) is None


def test_a_filtered_last_page_without_its_empty_aggregation_is_empty_but_an_unfiltered_one_is_broken() -> None:
    # filter_path leaves out what it leaves empty: a last page's `buckets: []`, and the aggregation with it.
    filtered = {"_shards": {"total": 3, "successful": 3, "skipped": 0, "failed": 0}, "timed_out": False}
    assert read(filtered, AGENT_KEY, Parts(settled=True)).buckets == []
    unfiltered = {**filtered, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
    with pytest.raises(ResponseError, match="lacks the 'agents' aggregation"):
        read(unfiltered, AGENT_KEY, Parts(settled=True))


# --- what each reader gives, case by case --------------------------------------------------------------------

MOMENT = 1_763_805_600_000  # 2025-11-22T10:00:00Z in epoch milliseconds
AT = datetime(2025, 11, 22, 10, 0, tzinfo=UTC)


def page_of(*buckets: dict[str, Any], after: object = None, **top: Any) -> dict[str, Any]:
    agents: dict[str, Any] = {"buckets": list(buckets)}
    if after is not None:
        agents["after_key"] = after
    return {"_shards": {"total": 1, "failed": 0}, **top, "aggregations": {"agents": agents}}


def bucket_of(
    key: dict[str, Any], last: object = MOMENT, count: object = 4, settled: int | None = None
) -> dict[str, Any]:
    bucket: dict[str, Any] = {"key": key, "doc_count": count, "last": {"value": last}}
    if settled is not None:
        bucket["s"] = {"doc_count": settled, "h": {"buckets": [{"key": MOMENT, "doc_count": settled}]}}
    return bucket


HOURLY = Parts(settled=True, hours=True)


PLAIN = Parts()
WHAT = "POST /wazuh-alerts-*/_search"


def read(body: dict[str, Any], names: tuple[str, ...], parts: Parts) -> Page:
    """The page as the indexer reads the answer `body`."""
    return read_page(json.dumps(body).encode(), names, parts, what=WHAT)


def read_both(page: dict[str, Any], names: tuple[str, ...], parts: Parts = PLAIN) -> list[Page | None]:
    return [read(page, names, parts), _checked_page(page, names, parts)]


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
        bucket_of({"agent": "001", "location": "EventChannel", "channel": "Security"}, settled=3),
        bucket_of({"agent": "001", "location": "/var/log/auth.log", "channel": None}, last=MOMENT + 1500, settled=3),
    )
    hour = MOMENT // 3_600_000
    for read in read_both(page, LOCATION_KEY, HOURLY):
        assert read == Page(
            [
                (("001", "EventChannel", "Security"), EventStats(AT, 4, 3, HourCounts.of([(hour, 3)]))),
                (
                    ("001", "/var/log/auth.log", ""),
                    EventStats(AT + timedelta(seconds=1.5), 4, 3, HourCounts.of([(hour, 3)])),
                ),
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
    assert _schema_page(json.dumps(page).encode(), AGENT_KEY, Parts()) is None


@pytest.mark.parametrize(
    "top",
    [{"timed_out": False}, {"_shards": {"total": 2, "failed": 0}}, {"_shards": {"failed": 0}}, {"_shards": None}],
)
def test_a_whole_answer_is_read_by_the_schema(top: dict[str, Any]) -> None:
    page = page_of(bucket_of({"agent": "001"}), **top)
    assert _schema_page(json.dumps(page).encode(), AGENT_KEY, Parts()) is not None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "POST /wazuh-alerts-*/_search: answer is not JSON"),
        (b"not json", "POST /wazuh-alerts-*/_search: answer is not JSON"),
        (b"[" * 100_000, "POST /wazuh-alerts-*/_search: answer is not JSON"),
        (b"[]", "POST /wazuh-alerts-*/_search: answer is not a JSON object"),
        (b'{"aggregations": {}}', "answer lacks the 'agents' aggregation"),
        (
            b'{"_shards": {"total": 1}, "_shards": {"total": 1}}',
            "the answer cannot be right: a JSON object names '_shards' twice",
        ),
        (
            b'{"aggregations": {"agents": {"buckets": [{"key": {"agent": "001", "agent": "002"}, "doc_count": 1}]}}}',
            "the answer cannot be right: a JSON object names 'agent' twice",
        ),
    ],
)
def test_what_is_not_a_page_is_left_to_the_checked_path_which_says_why(content: bytes, words: str) -> None:
    assert _schema_page(content, AGENT_KEY, Parts()) is None
    with pytest.raises(ResponseError) as raised:
        read_page(content, AGENT_KEY, Parts(), what=WHAT)
    assert (raised.value.backend, raised.value.retryable) == ("Wazuh indexer", False)
    assert str(raised.value).endswith(words)
    assert isinstance(raised.value, BrokenAnswerError) is ("twice" in words)


def test_only_an_answer_the_schema_does_not_take_is_vetted_whole_before_it_is_checked() -> None:
    seen: list[dict[str, Any]] = []
    plain = page_of(bucket_of({"agent": "001"}))
    assert read_page(json.dumps(plain).encode(), AGENT_KEY, Parts(), what=WHAT, vet=seen.append).buckets
    assert seen == []  # a plain, complete page: nothing for the caller to vet
    odd = page_of(bucket_of({"agent": "001"}, count=None))
    assert read_page(json.dumps(odd).encode(), AGENT_KEY, Parts(), what=WHAT, vet=seen.append).buckets
    assert seen == [odd]

    def refuse(body: dict[str, Any]) -> None:
        raise ResponseError("Wazuh indexer", "vetted")

    with pytest.raises(ResponseError, match="vetted"):  # the caller's verdict comes before the buckets are checked
        read_page(b'{"aggregations": []}', AGENT_KEY, Parts(), what=WHAT, vet=refuse)


@pytest.mark.parametrize(
    ("body", "parts", "words"),
    [
        ({}, Parts(), "answer lacks the 'agents' aggregation"),
        ({"hits": {}, "aggregations": []}, Parts(), "answer lacks the 'agents' aggregation"),
        ({"aggregations": {"agents": []}}, Parts(), "answer lacks the 'agents' aggregation"),
        ({"aggregations": {"agents": {"buckets": {}}}}, Parts(), "aggregation answer lacks buckets"),
        (page_of([]), Parts(), "malformed aggregation bucket"),  # type: ignore[arg-type]
        (page_of({"key": "001"}), Parts(), "malformed aggregation bucket"),
        (page_of(bucket_of({"agent": "001"}, last=1e300)), Parts(), "has an impossible last event 1e+300"),
        (page_of(bucket_of({"agent": "001"}, count=-1)), Parts(), "impossible count of events in the window: -1"),
        (page_of(bucket_of({"agent": "001"}, count="7")), Parts(), "impossible count of events in the window: '7'"),
        (
            page_of({**bucket_of({"agent": "001"}), "s": {"doc_count": 1.5}}),
            Parts(settled=True),
            "impossible count of settled events: 1.5",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": {"buckets": [{"doc_count": 1}]}}}),
            HOURLY,
            "has an hour without a time: {'doc_count': 1}",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": {"buckets": [{"key": True}]}}}),
            HOURLY,
            "has an hour without a time: {'key': True}",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": {"buckets": [5]}}}),
            HOURLY,
            "has an hour without a time: 5",
        ),
        (
            page_of({**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": {"buckets": {}}}}),
            HOURLY,
            "aggregation bucket's hourly counts are malformed",
        ),
        (page_of(bucket_of({"agent": 1})), Parts(), "aggregation bucket key is not text: {'agent': 1}"),
        (
            page_of({**bucket_of({"agent": "001"}), "p": {"doc_count": -1}}),
            Parts(split=True),
            "impossible count of settled events before the hour: -1",
        ),
        (
            page_of(
                {**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": {"buckets": [{"key": 0, "doc_count": -2}]}}}
            ),
            HOURLY,
            "impossible count of events in an hour: -2",
        ),
        (
            page_of({"key": {"agent": "001"}, "doc_count": 2**63}),
            Parts(),
            "impossible count of events in the window: 9223372036854775808",
        ),
    ],
)
def test_the_reader_says_what_is_missing_or_wrong(body: dict[str, Any], parts: Parts, words: str) -> None:
    with pytest.raises(ResponseError) as raised:
        read(body, AGENT_KEY, parts)
    assert raised.value.backend == "Wazuh indexer"
    assert str(raised.value).endswith(words)


@pytest.mark.parametrize(
    ("bucket", "stats"),
    [
        ({"key": {"agent": "001"}}, EventStats(None, 0)),  # no parts at all: no event, no count
        ({"key": {"agent": "001"}, "last": {"value": None}}, EventStats(None, 0)),
        ({"key": {"agent": "001"}, "last": 5, "doc_count": 5}, EventStats(None, 5)),
        ({"key": {"agent": "001"}, "last": {"value": "7"}, "doc_count": 7}, EventStats(None, 7)),
    ],
)
def test_the_reader_reads_a_missing_or_odd_part_as_none(bucket: dict[str, Any], stats: EventStats) -> None:
    assert read(page_of(bucket), AGENT_KEY, Parts()).buckets == [(("001",), stats)]


def test_the_reader_reads_a_missing_key_part_as_empty() -> None:
    page = page_of(bucket_of({"agent": "001", "location": None}))
    assert read(page, LOCATION_KEY, Parts()).buckets[0][0] == ("001", "", "")


def test_hourly_counts_spread_over_more_than_a_year_are_no_answer_to_a_read() -> None:
    first = {"key": 480_000 * HOUR_MS, "doc_count": 1}
    far = {"key": (480_000 + MAX_HOURS) * HOUR_MS, "doc_count": 1}
    near = {"key": (480_000 + MAX_HOURS - 1) * HOUR_MS, "doc_count": 1}
    bucket = {
        "key": {"agent": "001"},
        "doc_count": 2,
        "last": {"value": 1.7e12},
        "s": {"doc_count": 2, "h": {"buckets": [first, far]}},
    }
    page: dict[str, Any] = {"_shards": {"total": 1, "failed": 0}, "aggregations": {"agents": {"buckets": [bucket]}}}
    with pytest.raises(ResponseError, match="span"):
        read(page, AGENT_KEY, HOURLY)
    page["aggregations"]["agents"]["buckets"] = [{**bucket, "s": {"doc_count": 2, "h": {"buckets": [first, near]}}}]
    assert read(page, AGENT_KEY, HOURLY).buckets[0][1].hours == HourCounts.of(
        [(480_000, 1), (480_000 + MAX_HOURS - 1, 1)]
    )


def test_hour_counts_sum_an_hour_given_twice_and_add_two_agents_hours() -> None:
    one = HourCounts.of([(10, 2), (12, 5), (10, 1)])
    other = HourCounts.of([(9, 4), (12, 1)])
    assert one is not None and other is not None
    assert list(one.items()) == [(10, 3), (12, 5)]
    assert list((one + other).items()) == [(9, 4), (10, 3), (12, 6)]
    assert HourCounts.of([]) is None


def compact(page: dict[str, Any]) -> bytes:
    return json.dumps(page, separators=(",", ":")).encode()


PLAIN_PAGE = page_of(bucket_of({"agent": "001"}), after={"agent": "001"})


@pytest.mark.parametrize(
    ("before", "after", "name"),
    [
        # Each member the schema reads, written twice: the schema's reader would keep the last one silently.
        ('"key":{"agent":"001"}', '"key":{"agent":"002","agent":"001"}', "agent"),
        ('"last":{', '"last":{"value":1},"last":{', "last"),
        ('"last":{"value":', '"last":{"value":1,"value":', "value"),
        ('"doc_count":4', '"doc_count":0,"doc_count":4', "doc_count"),
        ('"failed":0', '"failed":1,"failed":0', "failed"),
    ],
)
def test_a_member_named_twice_is_refused_however_plain_the_page(before: str, after: str, name: str) -> None:
    content = compact(PLAIN_PAGE)
    assert _schema_page(content, AGENT_KEY, Parts()) is not None
    doubled = content.replace(before.encode(), after.encode(), 1)
    assert doubled != content
    with pytest.raises(BrokenAnswerError, match=f"the answer cannot be right: a JSON object names '{name}' twice"):
        read_page(doubled, AGENT_KEY, Parts(), what=WHAT)


@pytest.mark.parametrize("parts", [Parts(window=True), Parts(settled=True, window=True), Parts(split=True)])
def test_a_plain_page_with_a_window_or_a_split_is_read_by_its_schema(parts: Parts) -> None:
    bucket = {**bucket_of({"agent": "001"}), "w": {"doc_count": 2}, "s": {"doc_count": 1}, "p": {"doc_count": 1}}
    for part, name in ((parts.window, "w"), (parts.settled, "s"), (parts.split, "p")):
        if not part:
            del bucket[name]
    read = _schema_page(compact(page_of(bucket)), AGENT_KEY, parts)
    assert read is not None
    assert read.buckets[0][1].count_in_window == (2 if parts.window else 4)


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        ("x" * 78, repr("x" * 78)),  # 80 characters: whole
        ("x" * 79, repr("x" * 79)[:79] + "…"),  # 81: cut to 79 and an ellipsis
    ],
)
def test_a_long_wrong_value_is_shown_cut_to_80_characters(count: str, shown: str) -> None:
    with pytest.raises(ResponseError) as raised:
        read(page_of(bucket_of({"agent": "001"}, count=count)), AGENT_KEY, Parts())
    assert str(raised.value).endswith(f"impossible count of events in the window: {shown}")


@pytest.mark.parametrize("hours", [{}, None, {"buckets": []}])
def test_a_bucket_without_hourly_counts_has_none(hours: object) -> None:
    bucket = {**bucket_of({"agent": "001"}), "s": {"doc_count": 1, "h": hours}}
    assert read(page_of(bucket), AGENT_KEY, HOURLY).buckets == [(("001",), EventStats(AT, 4, 1))]


def test_only_the_parts_asked_for_are_read_and_a_count_may_be_the_largest_java_long() -> None:
    hour = {"key": MOMENT + 1500, "doc_count": 2}  # an hour's key within the hour: its hour
    bucket = {"key": {"agent": "001"}, "doc_count": 2**63 - 1, "s": {"doc_count": 3, "h": {"buckets": [hour]}}}
    bucket["p"] = {"doc_count": 1}
    page = page_of(bucket)
    assert read(page, AGENT_KEY, Parts()).buckets == [(("001",), EventStats(None, 2**63 - 1))]
    assert read(page, AGENT_KEY, HOURLY).buckets == [
        (("001",), EventStats(None, 2**63 - 1, 3, HourCounts.of([(MOMENT // HOUR_MS, 2)])))
    ]
    assert read(page, AGENT_KEY, Parts(settled=True, split=True)).buckets == [
        (("001",), EventStats(None, 2**63 - 1, 3, None, 1))
    ]


def test_an_hours_key_within_the_hour_is_its_hour_by_either_path_and_an_aggregation_without_buckets_is_empty() -> None:
    bucket = bucket_of({"agent": "001"})
    bucket["s"] = {"doc_count": 2, "h": {"buckets": [{"key": MOMENT + 1500, "doc_count": 2}]}}
    for found in read_both(page_of(bucket), AGENT_KEY, HOURLY):
        assert found is not None and found.buckets[0][1].hours == HourCounts.of([(MOMENT // HOUR_MS, 2)])
    assert read({"aggregations": {"agents": {}}}, AGENT_KEY, Parts()) == Page([], None)
