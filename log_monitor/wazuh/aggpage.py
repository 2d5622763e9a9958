"""One page of the indexer's composite aggregation read into each key's event figures, by schema where it can."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from log_monitor.errors import ResponseError

BACKEND = "Wazuh indexer"
AGENT_KEY = ("agent",)
LOCATION_KEY = ("agent", "location", "channel")

Key = tuple[str, ...]
# OpenSearch counts documents in a Java long: a count past it (or below zero) is not a count.
MAX_COUNT = 2**63 - 1


# A struct, as the schema's: made once per bucket (100,000 a pass), its C __init__ costs a third of a
# dataclass's, and holding no cycle it need not be tracked by the cyclic collector.
class EventStats(msgspec.Struct, gc=False):
    """One agent's (or one agent location's) events: the latest, and how many fell in the window."""

    last_event: datetime | None
    count_in_window: int
    day_counts: tuple[int, ...] = ()  # events in each rate window: today's first, then 1..7 days back


@dataclass(slots=True)
class Page:
    """A page's buckets as (key, figures), in the answer's order, and the after_key to ask the next page with."""

    buckets: list[tuple[Key, EventStats]]
    after: object


def read_page(content: bytes, names: Sequence[str], days: int) -> Page | None:
    """The page read by its schema when it is a plain, complete answer; None for anything else.

    msgspec makes a small struct for each part of a bucket that the schema names and skips the rest
    (`value_as_string`, the bucket's own `doc_count`): half the CPU of a dict per part read afterwards,
    100,000 buckets a pass at 100,000 agents. What the schema refuses (a missing or null part, a wrong
    type, a negative count, a partial or empty answer, not JSON at all) is read by `checked_page`, which
    says what is wrong in the same words for every answer, however it came.
    """
    names = tuple(names)
    try:
        page = _decoder(names, days).decode(content)
    except (msgspec.DecodeError, RecursionError):
        return None
    shards = page.shards
    if page.timed_out or (shards is not None and (shards.failed != 0 or shards.total == 0)):
        return None
    agents = page.aggregations.agents
    if not _members_once(content, names, len(agents.buckets), days, agents.after_key is not None):
        return None
    fields = _fields(names, days)
    buckets: list[tuple[Key, EventStats]] = []
    add = buckets.append
    fromtimestamp = datetime.fromtimestamp
    try:
        if names == AGENT_KEY:
            for row in map(fields, agents.buckets):
                value = row[1]
                moment = fromtimestamp(value / 1000.0, UTC) if value is not None else None
                add(((row[0],), EventStats(moment, row[2], row[3:])))
        else:
            for row in map(fields, agents.buckets):
                value = row[3]
                moment = fromtimestamp(value / 1000.0, UTC) if value is not None else None
                add(((row[0], row[1], row[2] or ""), EventStats(moment, row[4], row[5:])))
    except (OverflowError, OSError, ValueError):  # an epoch no datetime holds: `checked_page` says which
        return None
    return Page(buckets, agents.after_key)


def _members_once(content: bytes, names: Sequence[str], buckets: int, days: int, after: bool) -> bool:
    """Whether each member the schema reads is written as often as a plain page of this many buckets writes it.

    A JSON reader (msgspec's, the stdlib's) keeps the last of a member named twice, silently: `"agent"` twice
    in a key, a second `in_window` of 0. A quoted name followed by a colon can only be a member's name (a quote
    inside a string is escaped), so counting them finds the duplicate; a page whose counts are off (a duplicate,
    or merely a proxy's spacing) is left to the checked reader, which names what it finds.
    """
    count = content.count
    # A second "key", "last_event", "in_window" or "after_key" brings a second agent, value or doc_count with it.
    if any(count(f'"{name}":'.encode()) != buckets + after for name in names):  # the after_key repeats a key
        return False
    # Each bucket's own doc_count (unless a filter_path left it out), its window's, and each rate window's.
    if count(b'"doc_count":') not in (buckets * (1 + days), buckets * (2 + days)):
        return False
    values = count(b'"value":') - buckets  # each last_event's; hits.total has one when it is asked for
    if values and (values != 1 or not count(b'"relation":')):
        return False
    return count(b'"failed":') <= 1


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def checked_page(body: Mapping[str, Any], names: Sequence[str], days: int) -> Page:
    """The page from any decoded answer, each part checked: a ResponseError says what is missing or wrong."""
    aggs = body.get("aggregations")
    agg = aggs.get("agents") if isinstance(aggs, dict) else None
    if not isinstance(agg, dict):
        raise ResponseError(BACKEND, "answer lacks the 'agents' aggregation")
    buckets = agg.get("buckets")
    if not isinstance(buckets, list):
        raise ResponseError(BACKEND, "aggregation answer lacks buckets")
    return Page([_checked_bucket(bucket, names, days) for bucket in buckets], agg.get("after_key"))


def _checked_bucket(bucket: object, names: Iterable[str], days: int) -> tuple[Key, EventStats]:
    """One bucket: a missing or null part read as none (no last event, no count), a malformed one refused."""
    if not isinstance(bucket, dict) or not isinstance(bucket.get("key"), dict):
        raise ResponseError(BACKEND, "malformed aggregation bucket")
    key_data = bucket["key"]
    parts = [key_data.get(name) for name in names]
    if any(part is not None and not isinstance(part, str) for part in parts):
        # agent.id is a keyword: a number in its place is some other field's answer (1 is not agent 001).
        raise ResponseError(BACKEND, f"aggregation bucket key is not text: {_short(key_data)}")
    key = tuple(["" if part is None else part for part in parts])
    last = bucket.get("last_event")
    window = bucket.get("in_window")
    value = last.get("value") if isinstance(last, dict) else None
    try:
        last_event = datetime.fromtimestamp(float(value) / 1000.0, UTC) if isinstance(value, int | float) else None
    except (OverflowError, OSError, ValueError) as exc:  # a NaN, infinite or out-of-range epoch
        raise ResponseError(BACKEND, f"aggregation bucket has an impossible last_event {value!r}") from exc
    in_window = window.get("doc_count") if isinstance(window, dict) else None
    if isinstance(in_window, int) and not 0 <= in_window <= MAX_COUNT:
        raise ResponseError(BACKEND, f"aggregation bucket has an impossible count in the window {_short(in_window)}")
    return key, EventStats(
        last_event=last_event,
        count_in_window=in_window if isinstance(in_window, int) else 0,
        day_counts=_day_counts(bucket.get("rate"), days) if days else (),
    )


def _day_counts(rate: object, days: int) -> tuple[int, ...]:
    """The keyed `filters` answer (`{"buckets": {"d0": {"doc_count": n}, ...}}`) as counts, today's first."""
    buckets = rate.get("buckets") if isinstance(rate, dict) else None
    if not isinstance(buckets, dict):
        raise ResponseError(BACKEND, "aggregation bucket lacks the rate windows' counts")
    counts: list[int] = []
    for day in range(days):
        entry = buckets.get(f"d{day}")
        count = entry.get("doc_count") if isinstance(entry, dict) else None
        if not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
            raise ResponseError(BACKEND, f"aggregation bucket has no count for rate window d{day}")
        counts.append(count)
    return tuple(counts)


# -- the schema ---------------------------------------------------------------------------------------------
# gc=False: these structs hold no cycles, and 14 of them a bucket need not be tracked by the cyclic collector.


class _Count(msgspec.Struct, gc=False):
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # `checked_page` refuses an impossible count


class _WindowCount(msgspec.Struct, gc=False):
    doc_count: Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # `checked_page` refuses an impossible count


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
def _decoder(names: tuple[str, ...], days: int) -> msgspec.json.Decoder[Any]:
    """The page's schema for keys of `names` and `days` rate windows, made once for each."""
    key = _AgentKey if names == AGENT_KEY else _LocationKey
    fields: list[tuple[str, Any]] = [("key", key), ("last_event", _Max), ("in_window", _Count)]
    if days:
        windows = msgspec.defstruct("Windows", [(f"d{day}", _WindowCount) for day in range(days)], gc=False)
        fields.append(("rate", msgspec.defstruct("Rate", [("buckets", windows)], gc=False)))
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


@cache
def _fields(names: tuple[str, ...], days: int) -> Callable[[Any], tuple[Any, ...]]:
    """A bucket's values in one C call: its key's parts, last event, count in the window, rate window counts."""
    keys = [f"key.{name}" for name in names]
    windows = [f"rate.buckets.d{day}.doc_count" for day in range(days)]
    return attrgetter(*keys, "last_event.value", "in_window.doc_count", *windows)
