"""The simulated indexer's searches: composite and terms aggregations, date_histogram, documents visited."""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
import re
from typing import Protocol

from log_monitor.simulator.documents import Documents, DocumentsHost, Key, order
from log_monitor.simulator.fleet import from_ms, to_ms
from log_monitor.simulator.httpd import JSON, Host
from log_monitor.simulator.querydsl import UNIT_SECONDS, DocFilter, QueryHost, QueryParser, SearchError, field_kind
from log_monitor.simulator.stats import SimStats


def opensearch_time(millis: int) -> str:
    return from_ms(millis).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _names_4x_fields(payload: object) -> bool:
    """Whether a query names a field only 4.x maps (`agent.id`, `timestamp`, `location`), anywhere in it.

    As a `field` value, a terms filter's key (a list of values) or a range's key (its bounds); a composite
    source named `location` is a name, not a field.
    """
    if isinstance(payload, dict):
        return any(
            (key == "field" and value in _ONLY_4X)
            or (key in _ONLY_4X and isinstance(value, list | str | int))
            or (key == "timestamp" and isinstance(value, dict) and bool({"gte", "lte", "gt", "lt"} & set(value)))
            or _names_4x_fields(value)
            for key, value in payload.items()
        )
    if isinstance(payload, list):
        return any(_names_4x_fields(item) for item in payload)
    return False


_ONLY_4X = ("agent.id", "timestamp", "location")

# A sub-aggregation of each bucket: name, kind, its counts' slice [first, last), a `filters` map's keys, and a
# filter's own date_histogram (name, interval in ms), if any.
_SubPlan = tuple[str, str, int, int, list[str] | None, tuple[str, int] | None]


@functools.lru_cache(maxsize=4096)
def _interval_time(millis: int) -> str:
    """A histogram key's text: the same few hours for every bucket of a request."""
    return opensearch_time(millis)


def _nested_histogram(name: str, spec: object) -> tuple[str, int] | None:
    """A filter sub-aggregation's own `date_histogram` (name, fixed interval in ms), as the pass's reads ask it."""
    if not isinstance(spec, dict):
        return None
    inner = spec.get("aggs", spec.get("aggregations"))
    if inner is None:
        return None
    if not isinstance(inner, dict) or len(inner) != 1:
        raise SearchError("illegal_argument_exception", f"[{name}]: one date_histogram is simulated under a filter")
    inner_name, inner_spec = next(iter(inner.items()))
    body = inner_spec.get("date_histogram") if isinstance(inner_spec, dict) and len(inner_spec) == 1 else None
    if not isinstance(body, dict) or field_kind(body.get("field")) != "time" or body.get("min_doc_count") != 1:
        raise SearchError("illegal_argument_exception", f"[{inner_name}]: only a date_histogram with min_doc_count 1")
    interval = body.get("fixed_interval")
    match = re.fullmatch(r"(\d+)([smhd])", interval) if isinstance(interval, str) else None
    if match is None or set(body) - {"field", "fixed_interval", "min_doc_count"}:
        raise SearchError("illegal_argument_exception", f"[{inner_name}]: a fixed_interval like 1h is simulated")
    return inner_name, int(match.group(1)) * UNIT_SECONDS[match.group(2)] * 1000


class SearchHost(Host, QueryHost, DocumentsHost, Protocol):
    """What a search reads of the SimulatorServer: the faults, counters, schema, retention and bucket limit."""

    stats: SimStats
    retention_s: float | None
    max_buckets: int


class Searcher:
    """The indexer's `_search` and `_count` over a Fleet's documents, with the counts a real one would cost."""

    def __init__(self, owner: SearchHost, documents: Documents) -> None:
        self._owner = owner
        self._queries = QueryParser(owner)
        self._documents = documents
        # Every bucket of an aggregation counts the same sub-aggregations: planned once per request.
        self._plan_cache: tuple[DocFilter, JSON, list[DocFilter], list[_SubPlan]] | None = None

    def _shards(self) -> JSON:
        if self._owner.faults.lost_shard_agents:
            return {"total": 6, "successful": 5, "skipped": 0, "failed": 1}
        if self._owner.faults.indexer_mode == "shard_failure":
            return {
                "total": 2,
                "successful": 1,
                "skipped": 0,
                "failed": 1,
                "failures": [
                    {
                        "shard": 1,
                        "index": "wazuh-alerts-4.x-sim",
                        "node": "wazuh-indexer-2",
                        "reason": {"type": "node_disconnected_exception", "reason": "[wazuh-indexer-2] disconnected"},
                    }
                ],
            }
        return {"total": 1, "successful": 1, "skipped": 0, "failed": 0}

    # -- _count ---------------------------------------------------------------------------

    def count(self, payload: JSON) -> JSON:
        unknown = set(payload) - {"query"}
        if unknown:
            raise SearchError("parsing_exception", f"request does not support [{sorted(unknown)[0]}]")
        selection = self._queries.query(payload.get("query", {"match_all": {}}))
        total = self._documents.total(selection)
        return {"count": total, "_shards": self._shards()}

    # -- _search --------------------------------------------------------------------------

    def search(self, payload: JSON) -> JSON:
        unknown = set(payload) - {"size", "track_total_hits", "query", "aggs", "aggregations", "timeout", "_source"}
        if unknown:
            raise SearchError("parsing_exception", f"Unknown key for a START_OBJECT in [{sorted(unknown)[0]}].")
        size = payload.get("size", 10)
        if size != 0:
            raise SearchError("illegal_argument_exception", "the simulator answers only size=0 (aggregation) searches")
        if self._owner.schema == "5.x" and _names_4x_fields(payload):
            return self._matching_nothing(payload)
        selection = self._queries.query(payload.get("query", {"match_all": {}}))
        if self._owner.retention_s is not None:  # older documents were deleted with their index
            selection = selection.narrowed(DocFilter(lo=self._retained_from()))
        aggs = payload.get("aggs", payload.get("aggregations", {}))
        if not isinstance(aggs, dict):
            raise SearchError("parsing_exception", "aggregations must be an object")
        visited = self._documents.total(selection)
        self._owner.stats.add("indexer_docs_visited", visited)
        # timed_out: the search ran past its time budget and answers with what it had (a partial result).
        timed_out = self._owner.faults.indexer_mode == "timed_out"
        answer: JSON = {"took": 3, "timed_out": timed_out, "_shards": self._shards()}
        hits: JSON = {"max_score": None, "hits": []}
        if payload.get("track_total_hits", True) is not False:
            total = self._documents.total(selection)
            hits = {"total": {"value": min(total, 10_000), "relation": "eq" if total <= 10_000 else "gte"}, **hits}
        answer["hits"] = hits
        if aggs:
            answer["aggregations"] = {name: self._aggregation(name, spec, selection) for name, spec in aggs.items()}
        return answer

    @staticmethod
    def _matching_nothing(payload: JSON) -> JSON:
        """A query on a field that no index maps matches no document (5.0's indices map no 4.x name)."""
        aggs = payload.get("aggs", payload.get("aggregations", {}))
        answer: JSON = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        }
        answer["hits"] = {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}
        if isinstance(aggs, dict) and aggs:
            answer["aggregations"] = {name: {"buckets": []} for name in aggs}
        return answer

    def _aggregation(self, name: str, spec: object, selection: DocFilter) -> JSON:
        if not isinstance(spec, dict):
            raise SearchError("parsing_exception", f"aggregation [{name}] must be an object")
        kinds = [key for key in spec if key not in ("aggs", "aggregations")]
        subs = spec.get("aggs", spec.get("aggregations", {}))
        if len(kinds) != 1 or not isinstance(subs, dict):
            raise SearchError("parsing_exception", f"aggregation [{name}] must have exactly one type")
        kind = kinds[0]
        body = spec[kind]
        if kind == "composite":
            return self._composite(name, body, subs, selection)
        if kind == "terms":
            return self._terms(name, body, subs, selection)
        if kind == "min" and isinstance(body, dict) and field_kind(body.get("field")) == "time":
            return self._oldest(selection)
        raise SearchError("illegal_argument_exception", f"aggregation type [{kind}] is not simulated")

    def _oldest(self, selection: DocFilter) -> JSON:
        """A top-level `min` of the time field: the oldest event kept (the fleet's first, or the retention's edge)."""
        first = self._owner.fleet.first_event_ms()
        if first is None:
            return {"value": None}
        first = max(first, selection.lo, self._retained_from())
        return {"value": float(first), "value_as_string": opensearch_time(first)}

    def _retained_from(self) -> int:
        """The oldest millisecond the indices keep (SimulatorServer.retention_s; 5.0 may keep an hour)."""
        retention = self._owner.retention_s
        if retention is None:
            return 0
        return int((self._owner.clock.now().timestamp() - retention) * 1000)

    def _bucket(self, key: object, agent_id: str, location: str | None, selection: DocFilter, subs: JSON) -> JSON:
        selections, plans = self._plan(selection, subs)
        counts = self._documents.doc_counts(agent_id, location, selections)
        bucket: JSON = {"key": key, "doc_count": counts[0]}
        for name, kind, first, last, keys, nested in plans:
            if kind == "max":
                moment = self._documents.last(agent_id, location, selection)
                found: JSON = {"value": None}
                if moment is not None:
                    found = {"value": float(moment), "value_as_string": opensearch_time(moment)}
                bucket[name] = found
            elif kind == "filter":
                bucket[name] = {"doc_count": counts[first]}
                if nested is not None:
                    histogram = self._histogram(agent_id, location, selections[first], nested[1])
                    bucket[name][nested[0]] = {"buckets": histogram}
            elif keys is not None:
                bucket[name] = {"buckets": {k: {"doc_count": n} for k, n in zip(keys, counts[first:last], strict=True)}}
            else:
                bucket[name] = {"buckets": [{"doc_count": n} for n in counts[first:last]]}
        return bucket

    def _histogram(self, agent_id: str, location: str | None, selection: DocFilter, interval: int) -> list[JSON]:
        """A date_histogram with min_doc_count 1: the non-empty intervals of the selection's documents."""
        fleet = self._owner.fleet
        hi = min(selection.hi, to_ms(fleet.now()))
        if selection.lo > hi:
            return []
        locations = self._documents.locations(agent_id, location, selection)
        starts = range(selection.lo // interval * interval, hi + 1, interval)
        queries = [(locations, max(selection.lo, a), min(hi, a + interval - 1)) for a in starts]
        counts = fleet.count_ranges_ms(agent_id, queries) if locations else [0] * len(queries)
        return [
            {"key_as_string": _interval_time(a), "key": a, "doc_count": n}
            for a, n in zip(starts, counts, strict=True)
            if n > 0
        ]

    def _plan(self, selection: DocFilter, subs: JSON) -> tuple[list[DocFilter], list[_SubPlan]]:
        """What every bucket under `subs` counts (its own documents first), worked out once per request:
        OpenSearch's `max`, `filter` and `filters` (named filters answer a map of buckets, a list a list)."""
        cached = self._plan_cache
        if cached is not None and cached[0] is selection and cached[1] is subs:
            return cached[2], cached[3]
        selections = [selection]
        plans: list[_SubPlan] = []
        for name, spec in subs.items():
            nested = _nested_histogram(name, spec)
            if not isinstance(spec, dict) or len(spec) != (1 if nested is None else 2):
                raise SearchError("parsing_exception", f"sub-aggregation [{name}] must have exactly one type")
            kind, body = next((k, v) for k, v in spec.items() if k not in ("aggs", "aggregations"))
            first = len(selections)
            keys: list[str] | None = None
            if nested is not None and kind != "filter":
                raise SearchError(
                    "illegal_argument_exception", f"[{name}]: only a filter's sub-aggregation is simulated"
                )
            if kind == "max":
                if not isinstance(body, dict) or field_kind(body.get("field")) != "time":
                    reason = f"[{name}]: max is simulated on the timestamp only"
                    raise SearchError("illegal_argument_exception", reason)
            elif kind == "filter":
                selections.append(selection.narrowed(self._queries.parsed(body)))
            elif kind == "filters":
                if not isinstance(body, dict) or set(body) != {"filters"}:
                    raise SearchError(
                        "illegal_argument_exception", f"[{name}]: only a plain filters list or map is simulated"
                    )
                filters = body["filters"]
                if isinstance(filters, dict):
                    keys = list(filters)
                    queries = list(filters.values())
                elif isinstance(filters, list):
                    queries = filters
                else:
                    raise SearchError("parsing_exception", f"[{name}]: [filters] must be an object or an array")
                selections += [selection.narrowed(self._queries.parsed(query)) for query in queries]
            else:
                raise SearchError("illegal_argument_exception", f"sub-aggregation type [{kind}] is not simulated")
            plans.append((name, kind, first, len(selections), keys, nested))
        # Both inputs are kept with the plan, so their ids are never another request's.
        self._plan_cache = (selection, subs, selections, plans)
        return selections, plans

    def _composite(self, name: str, body: object, subs: JSON, selection: DocFilter) -> JSON:
        if not isinstance(body, dict):
            raise SearchError("parsing_exception", f"[{name}]: composite must be an object")
        unknown = set(body) - {"size", "sources", "after"}
        if unknown:
            raise SearchError("parsing_exception", f"[composite] unknown field [{sorted(unknown)[0]}]")
        size = body.get("size", 10)
        sources = body.get("sources")
        if not isinstance(size, int) or size < 1 or not isinstance(sources, list) or not sources:
            raise SearchError("parsing_exception", f"[{name}]: composite needs sources and a positive size")
        source_names: list[str] = []
        kinds: list[str] = []
        allow_missing: list[bool] = []
        for source in sources:
            if not isinstance(source, dict) or len(source) != 1:
                raise SearchError("parsing_exception", "each composite source must have exactly one name")
            source_name, definition = next(iter(source.items()))
            terms = definition.get("terms") if isinstance(definition, dict) else None
            if not isinstance(terms, dict) or set(terms) - {"field", "missing_bucket", "order"}:
                raise SearchError("illegal_argument_exception", f"composite source [{source_name}] is not simulated")
            if terms.get("order", "asc") != "asc":
                raise SearchError("illegal_argument_exception", "only ascending composite sources are simulated")
            source_names.append(source_name)
            kinds.append(field_kind(terms.get("field")))
            allow_missing.append(terms.get("missing_bucket") is True)
        after = body.get("after")
        after_key: Key | None = None
        if after is not None:
            if not isinstance(after, dict) or set(after) != set(source_names):
                raise SearchError("illegal_argument_exception", f"[after] must name exactly the sources {source_names}")
            after_key = tuple(None if after[n] is None else str(after[n]) for n in source_names)
        candidates, values_only = self._documents.sorted_keys(kinds, selection)
        start = bisect.bisect_right(values_only, order(after_key)) if after_key is not None else 0
        buckets: list[JSON] = []
        lost = self._owner.faults.lost_shard_agents
        for values, agent_id, location in itertools.islice(candidates, start, None):
            if agent_id in lost or self._documents.doc_count(agent_id, location, selection) == 0:
                continue
            if any(v is None and not ok for v, ok in zip(values, allow_missing, strict=True)):
                continue  # without missing_bucket, documents lacking the field are left out
            key = dict(zip(source_names, values, strict=True))
            buckets.append(self._bucket(key, agent_id, location, selection, subs))
            if len(buckets) >= size:
                break
        self._check_max_buckets(len(buckets), subs)
        result: JSON = {}
        if buckets:
            result["after_key"] = buckets[-1]["key"]
        result["buckets"] = buckets
        return result

    def _check_max_buckets(self, count: int, subs: JSON) -> None:
        """`search.max_buckets` counts the composite's buckets and each of their `filters` sub-buckets (503)."""
        per_bucket = 1
        for spec in subs.values():
            filters = spec.get("filters", {}).get("filters") if isinstance(spec, dict) else None
            per_bucket += len(filters) if isinstance(filters, dict) else 0
        limit = self._owner.max_buckets
        if count * per_bucket > limit:
            reason = (
                f"Trying to create too many buckets. Must be less than or equal to: [{limit}] but was "
                f"[{limit + 1}]. This limit can be set by changing the [search.max_buckets] cluster level setting."
            )
            raise SearchError("too_many_buckets_exception", reason, 503)

    def _terms(self, name: str, body: object, subs: JSON, selection: DocFilter) -> JSON:
        if not isinstance(body, dict) or set(body) - {"field", "size", "shard_size", "min_doc_count"}:
            raise SearchError("illegal_argument_exception", f"[{name}]: terms options are not simulated")
        size = body.get("size", 10)
        if not isinstance(size, int) or size < 1:
            raise SearchError("parsing_exception", f"[{name}]: size must be a positive integer")
        if body.get("min_doc_count", 1) != 1:
            raise SearchError("illegal_argument_exception", f"[{name}]: only min_doc_count 1 is simulated")
        kind = field_kind(body.get("field"))
        counted = [
            (values[0] or "", agent_id, location, self._documents.doc_count(agent_id, location, selection))
            for values, agent_id, location in self._documents.keys([kind], selection)
        ]
        if kind == "location":
            return self._location_terms(counted, size, subs, selection)
        present = [entry for entry in counted if entry[3] > 0]
        present.sort(key=lambda entry: (-entry[3], entry[0]))
        shown = present[:size]
        return {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(entry[3] for entry in present[size:]),
            "buckets": [
                self._bucket(value, agent_id, location, selection, subs) for value, agent_id, location, _ in shown
            ],
        }

    def _location_terms(
        self, counted: list[tuple[str, str, str | None, int]], size: int, subs: JSON, selection: DocFilter
    ) -> JSON:
        # A location bucket spans every agent with that path, which the per-agent helpers cannot express.
        if subs:
            raise SearchError("illegal_argument_exception", "sub-aggregations under a location terms are not simulated")
        totals: dict[str, int] = collections.Counter()
        for value, _agent, _location, count in counted:
            totals[value] += count
        present = sorted(((v, c) for v, c in totals.items() if c > 0), key=lambda e: (-e[1], e[0]))
        return {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(c for _, c in present[size:]),
            "buckets": [{"key": v, "doc_count": c} for v, c in present[:size]],
        }
