"""The one reader of a page of the indexer's composite aggregation: each key's event figures, by schema where it can."""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

import msgspec

from log_monitor.errors import BackendError, ResponseError
from log_monitor.httpboundary import RepeatedNameError, json_object

BACKEND = "Wazuh indexer"
AGENT_KEY = ("agent",)
LOCATION_KEY = ("agent", "location", "channel")
HOUR_MS = 3_600_000

Key = tuple[str, ...]
# OpenSearch counts documents in a Java long: a count past it (or below zero) is not a count.
MAX_COUNT = 2**63 - 1


@dataclass(frozen=True)
class Parts:
    """The sub-aggregations a page's buckets carry besides the newest event (`last`) and their own count.

    `window` (`w`): a filter counting the events since the window's start (a first-sight read's EVENTS);
    `settled` (`s`): a filter counting the settled events [read_from, read_until); `hours` (`h`, inside `s`):
    those by UTC hour, for a span across several hours; `split` (`p`): the settled events before the hour's end,
    for a span across one (a steady read's usual crossing, 20 bytes where the hours would be 75).
    """

    window: bool = False
    settled: bool = False
    hours: bool = False
    split: bool = False  # `p`, a filter counting the settled events before the one hour boundary the span crosses


# An hour's count is a Java long; a year and more of hours in one bucket answers no query of ours (LOOKBACK's
# days at most), and would be a page's worth of memory per bucket.
MAX_HOURS = 24 * 400
_MAX_SUM = 2**64 - 1


@dataclass(frozen=True, slots=True)
class HourCounts:
    """Events by UTC hour, consecutive from hour index `first` (unsigned 64-bit, zero for an hour with none).

    Eight bytes an hour, where (hour, count) pairs of Python ints took 120: a first read brings a week of hours
    for each of a slice's 5,000 agents (7 MB, not 100).
    """

    first: int
    counts: array[int]

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int]]) -> HourCounts | None:
        """The counts of (hour index, events) pairs, an hour given twice summed; None for none; ValueError for
        hours over MAX_HOURS apart."""
        given = list(pairs)
        if not given:
            return None
        first = min(hour for hour, _ in given)
        width = max(hour for hour, _ in given) - first + 1
        if width > MAX_HOURS:
            raise ValueError(f"hourly counts span {width} hours")
        counts = array("Q", bytes(8 * width))
        for hour, events in given:
            counts[hour - first] = min(_MAX_SUM, counts[hour - first] + events)
        return cls(first, counts)

    def items(self) -> Iterator[tuple[int, int]]:
        """(hour index, events) of the hours with events."""
        first = self.first
        return ((first + index, events) for index, events in enumerate(self.counts) if events)

    def __add__(self, other: HourCounts) -> HourCounts:
        return HourCounts.of([*self.items(), *other.items()]) or HourCounts(self.first, array("Q"))


# A struct, as the schema's: made once per bucket (100,000 a pass), its C __init__ costs a third of a
# dataclass's, and holding no cycle it need not be tracked by the cyclic collector.
class EventStats(msgspec.Struct, gc=False):
    """One agent's (or one agent location's) events in the span read: the latest, how many, the settled ones."""

    last_event: datetime | None
    count_in_window: int
    settled: int = 0  # events of the settled span [read_from, read_until)
    hours: HourCounts | None = None  # the settled ones by hour, when the span crosses hours
    before_hour: int = 0  # with Parts.split: the settled ones before the hour boundary the span crosses


@dataclass(slots=True)
class Page:
    """A page's buckets as (key, figures), in the answer's order, and the after_key to ask the next page with."""

    buckets: list[tuple[Key, EventStats]]
    after: object


class BrokenAnswerError(ResponseError):
    """The indexer answered, but its pages cannot be right: its targets are UNKNOWN, never silent, never OK."""

    def __init__(self, reason: str) -> None:
        super().__init__(BACKEND, f"the answer cannot be right: {reason}")


def read_page(
    content: bytes,
    names: Sequence[str],
    parts: Parts,
    *,
    what: str,
    vet: Callable[[dict[str, Any]], None] | None = None,
) -> Page:
    """The page in the indexer's answer `content` (the body of `what`, a request); a ResponseError when it is none.

    A fast path: a plain, complete answer (almost every page) is read by its schema (`_schema_page`), measured
    at 3.9 ms of CPU for a steady read's page of 2,500 buckets against 19 ms decoded and checked. Anything else
    is decoded (`read_json`) and checked part by part (`_checked_page`): an object naming a member twice, not
    JSON, not an object, a part wrong or the aggregation missing is refused in the same words however it came; a
    part left out or null is read as none. `vet` sees the decoded answer first (the caller's checks of a whole
    answer: its shards, a timeout); the schema path takes only answers in which those find nothing.
    """
    page = _schema_page(content, names, parts)
    if page is not None:
        return page
    try:
        body = json_object(content, what=what, fail=_failure, once=True)
    except RepeatedNameError as exc:
        raise BrokenAnswerError(str(exc)) from exc
    if vet is not None:
        vet(body)
    return _checked_page(body, names, parts)


def _failure(message: str, *, answered: bool, retryable: bool) -> BackendError:
    return ResponseError(BACKEND, message, retryable=retryable)


def _schema_page(content: bytes, names: Sequence[str], parts: Parts) -> Page | None:
    """The page read by its schema when it is a plain, complete answer; None for anything else.

    msgspec makes a small struct for each part of a bucket that the schema names and skips the rest. What the
    schema refuses (a missing or null part, a wrong type, a negative count, a partial or empty answer, a page
    whose empty aggregation `filter_path` left out, not JSON at all) is read by `_checked_page`.
    """
    names = tuple(names)
    try:
        page = _decoder(names, parts).decode(content)
    except (msgspec.DecodeError, RecursionError):
        return None
    shards = page.shards
    if page.timed_out or (shards is not None and (shards.failed != 0 or shards.total == 0)):
        return None
    agents = page.aggregations.agents
    if not _members_once(content, names, parts, len(agents.buckets), agents.after_key is not None):
        return None
    buckets: list[tuple[Key, EventStats]] = []
    add = buckets.append
    location = names != AGENT_KEY
    try:
        for bucket in agents.buckets:
            key = bucket.key
            value = bucket.last.value
            moment = datetime.fromtimestamp(value / 1000.0, UTC) if value is not None else None
            settled = bucket.s.doc_count if parts.settled else 0
            hours = (
                HourCounts.of((int(h.key) // HOUR_MS, h.doc_count) for h in bucket.s.h.buckets) if parts.hours else None
            )
            count = bucket.w.doc_count if parts.window else bucket.doc_count
            before = bucket.p.doc_count if parts.split else 0
            keyed = (key.agent, key.location, key.channel or "") if location else (key.agent,)
            add((keyed, EventStats(moment, count, settled, hours, before)))
    except (OverflowError, OSError, ValueError):  # an epoch no datetime holds: `_checked_page` says which
        return None
    return Page(buckets, agents.after_key)


def _members_once(content: bytes, names: Sequence[str], parts: Parts, buckets: int, after: bool) -> bool:
    """Whether each member the schema reads is written as often as a plain page of this many buckets writes it.

    A JSON reader (msgspec's, the stdlib's) keeps the last of a member named twice, silently: `"agent"` twice
    in a key, a second `doc_count` of 0. A quoted name followed by a colon can only be a member's name (a quote
    inside a string is escaped), so counting them finds the duplicate; a page whose counts are off (a duplicate,
    or merely a proxy's spacing) is left to the checked reader, which names what it finds.
    """
    count = content.count
    # A second key part, "last" or "after_key" brings a second agent or value with it.
    if any(count(f'"{name}":'.encode()) != buckets + after for name in names):  # the after_key repeats a key
        return False
    if count(b'"last":') != buckets:
        return False
    values = count(b'"value":') - buckets  # each last's; hits.total has one when the answer was not filtered
    if values and (values != 1 or not count(b'"relation":')):
        return False
    if not parts.hours:  # an hour's buckets have a doc_count each, as many as the hours that had events
        filters = 1 + int(parts.settled) + int(parts.split) + int(parts.window)
        if count(b'"doc_count":') != buckets * filters:
            return False
    return count(b'"failed":') <= 1


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _checked_page(body: Mapping[str, Any], names: Sequence[str], parts: Parts) -> Page:
    """The page from any decoded answer, each part checked: a ResponseError says what is missing or wrong."""
    aggs = body.get("aggregations")
    if aggs is None and "hits" not in body and isinstance(body.get("_shards"), dict):
        # `filter_path` drops what it leaves empty, a last page's empty aggregation with it; an answer that was
        # not filtered (it has its hits) and has no aggregation is broken, below.
        return Page([], None)
    agg = aggs.get("agents") if isinstance(aggs, dict) else None
    if not isinstance(agg, dict):
        raise ResponseError(BACKEND, "answer lacks the 'agents' aggregation")
    buckets = agg.get("buckets", [])
    if not isinstance(buckets, list):
        raise ResponseError(BACKEND, "aggregation answer lacks buckets")
    return Page([_checked_bucket(bucket, names, parts) for bucket in buckets], agg.get("after_key"))


def _checked_bucket(bucket: object, names: Iterable[str], parts: Parts) -> tuple[Key, EventStats]:
    """One bucket: a missing or null part read as none (no last event, no count), a malformed one refused."""
    if not isinstance(bucket, dict) or not isinstance(bucket.get("key"), dict):
        raise ResponseError(BACKEND, "malformed aggregation bucket")
    key_data = bucket["key"]
    parts_of_key = [key_data.get(name) for name in names]
    if any(part is not None and not isinstance(part, str) for part in parts_of_key):
        # agent.id is a keyword: a number in its place is some other field's answer (1 is not agent 001).
        raise ResponseError(BACKEND, f"aggregation bucket key is not text: {_short(key_data)}")
    key = tuple(["" if part is None else part for part in parts_of_key])
    last = bucket.get("last")
    value = last.get("value") if isinstance(last, dict) else None
    try:
        last_event = datetime.fromtimestamp(float(value) / 1000.0, UTC) if isinstance(value, int | float) else None
    except (OverflowError, OSError, ValueError) as exc:  # a NaN, infinite or out-of-range epoch
        raise ResponseError(BACKEND, f"aggregation bucket has an impossible last event {value!r}") from exc
    count = _count(bucket.get("w") if parts.window else bucket, "events in the window")
    settled = bucket.get("s")
    return key, EventStats(
        last_event=last_event,
        count_in_window=count,
        settled=_count(settled, "settled events") if parts.settled else 0,
        hours=_hours(settled.get("h") if isinstance(settled, dict) else None) if parts.hours else None,
        before_hour=_count(bucket.get("p"), "settled events before the hour") if parts.split else 0,
    )


def _count(part: object, what: str) -> int:
    count = part.get("doc_count") if isinstance(part, dict) else None
    if count is None:
        return 0  # a missing part: no count (OpenSearch always sends one; a filtered answer may leave it out)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_COUNT:
        raise ResponseError(BACKEND, f"aggregation bucket has an impossible count of {what}: {_short(count)}")
    return count


def _hours(histogram: object) -> HourCounts | None:
    """The date_histogram's hourly buckets as counts by hour index."""
    buckets = histogram.get("buckets", []) if isinstance(histogram, dict) else []
    if not isinstance(buckets, list):
        raise ResponseError(BACKEND, "aggregation bucket's hourly counts are malformed")
    hours: list[tuple[int, int]] = []
    for entry in buckets:
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, int | float) or isinstance(key, bool) or math.isnan(key):
            raise ResponseError(BACKEND, f"aggregation bucket has an hour without a time: {entry!r:.80}")
        hours.append((int(key) // HOUR_MS, _count(entry, "events in an hour")))
    try:
        return HourCounts.of(hours)
    except ValueError as exc:
        raise ResponseError(BACKEND, f"aggregation bucket's {exc}: not an answer to a read of LOOKBACK") from exc


# -- the schema ---------------------------------------------------------------------------------------------
# gc=False: these structs hold no cycles, and several of them a bucket need not be tracked by the cyclic collector.


class _Count(msgspec.Struct, gc=False):
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # `_checked_page` refuses a negative count


class _Hour(msgspec.Struct, gc=False):
    key: float
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class _Hours(msgspec.Struct, gc=False):
    buckets: list[_Hour]


class _Settled(msgspec.Struct, gc=False):
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class _SettledByHour(msgspec.Struct, gc=False):
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
    h: _Hours


class _Max(msgspec.Struct, gc=False):
    value: float | None = None  # a `max` over no value is null: no last event


class _AgentKey(msgspec.Struct, gc=False):
    agent: str


class _LocationKey(msgspec.Struct, gc=False):
    agent: str
    location: str
    channel: str | None = None  # `missing_bucket`: a non-Windows event has no channel


class _Shards(msgspec.Struct, gc=False):
    total: int | None = None
    failed: int = 0


@cache
def _decoder(names: tuple[str, ...], parts: Parts) -> msgspec.json.Decoder[Any]:
    """The page's schema for keys of `names` and these parts, made once for each."""
    key = _AgentKey if names == AGENT_KEY else _LocationKey
    fields: list[tuple[str, Any]] = [
        ("key", key),
        ("doc_count", Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]),
        ("last", _Max),
    ]
    if parts.settled:
        fields.append(("s", _SettledByHour if parts.hours else _Settled))
    if parts.window:
        fields.append(("w", _Count))
    if parts.split:
        fields.append(("p", _Count))
    bucket = msgspec.defstruct("Bucket", fields, gc=False)
    agg = msgspec.defstruct("Agg", [("buckets", list[bucket]), ("after_key", dict[str, Any] | None, None)])  # type: ignore[valid-type]
    aggs = msgspec.defstruct("Aggs", [("agents", agg)])
    page = msgspec.defstruct(
        "SearchPage",
        [
            ("aggregations", aggs),
            ("timed_out", bool, False),
            ("shards", _Shards | None, msgspec.field(default=None, name="_shards")),
        ],
    )
    return msgspec.json.Decoder(page)
