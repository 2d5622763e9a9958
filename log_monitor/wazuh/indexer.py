"""WazuhIndexer: event counts and last-event times from the Wazuh indexer, in one aggregation per pass."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from log_monitor.config.keys import DEFAULTS
from log_monitor.errors import AuthError, BackendError, ResponseError, UnreachableError
from log_monitor.httpboundary import read_json
from log_monitor.ledger import hour_before, hour_index
from log_monitor.wazuh.aggpage import (
    AGENT_KEY,
    BACKEND,
    LOCATION_KEY,
    EventStats,
    Page,
    Parts,
    read_page,
)
from log_monitor.wazuh.client import BackendClient, Connection
from log_monitor.wazuh.hosts import HostHealth, HostPool
from log_monitor.wazuh.pagecheck import PageCheck, shortfall
from log_monitor.wazuh.refusals import Refusal, read_refusal, refusal_error
from log_monitor.wazuh.schema import SCHEMA_4X, SCHEMA_5X, Schema, unmapped, unmapped_error

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 2500  # composite buckets per request; a steady read's bucket is about 90 bytes
# Windows events carry one of these as their location; the channel is in its own field (REALITY.md §3).
WINDOWS_LOCATIONS = frozenset({"EventChannel", "WinEvtLog"})
CHANNEL_FIELD = "data.win.system.channel"


class NoIndexError(ResponseError):
    """The index pattern matches no index: a configuration problem, not an outage and not silence."""


class TooManyBucketsError(ResponseError):
    """A page had more buckets than the cluster's `search.max_buckets` allows: asked again, halved."""


# OpenSearch's `search.max_buckets` default: composite buckets plus every sub-aggregation's, per request.
MAX_BUCKETS_PER_PAGE = 65_535
TOO_MANY_BUCKETS = "too_many_buckets_exception"


# Buckets one pass may page through: 1,000 pages of 5,000. No fleet comes near it; an indexer (or proxy)
# that keeps answering full pages with new keys is a runaway, reported rather than followed forever.
MAX_BUCKETS = 5_000_000
# Distinct (agent, location) pairs one query may hold, per agent asked (or in all when every agent is asked):
# pages of ever-new locations took 1.6 GB before the page cap refused them. A real agent has a few dozen.
MAX_LOCATIONS_PER_AGENT = 200
MAX_LOCATION_KEYS = 500_000


class WazuhIndexer(BackendClient):
    """Read-only queries against the indexer (OpenSearch) on one shared httpx.Client."""

    backend = BACKEND
    default_timeout_s = 30.0  # one aggregation over the whole fleet takes longer than an API page

    def __init__(
        self,
        connection: Connection,
        *,
        index_pattern: str = DEFAULTS["WAZUH_INDEX_PATTERN"],
        agent_id_field: str = DEFAULTS["WAZUH_AGENT_ID_FIELD"],
        timestamp_field: str = DEFAULTS["WAZUH_TIMESTAMP_FIELD"],
        location_field: str = DEFAULTS["WAZUH_LOCATION_FIELD"],
        non_log_locations: Sequence[str] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        schema: Schema = SCHEMA_4X,
    ) -> None:
        # WAZUH_INDEXER_URL may list the cluster's nodes: the client's base is the first, each request names its own.
        urls = [url.strip() for url in connection.url.split(",") if url.strip()]
        super().__init__(replace(connection, url=urls[0]), auth=(connection.user, connection.password.reveal()))
        self._hosts = HostPool(urls, monotonic)
        self._user = connection.user
        self._refusal: Refusal | None = None  # the latest error answer's, read as it came
        self._caps_refused = False
        self._fields_ok_at: float | None = None  # monotonic time of the last check that found every field mapped
        self._hosts_clock = monotonic
        self._pattern = index_pattern
        self._max_pages = max_pages or max(10, MAX_BUCKETS // max(1, page_size))
        self._index = quote(index_pattern, safe="*,-_.")
        self._not_logs = _location_clauses(location_field, non_log_locations)
        self._agent_field = agent_id_field
        self._ts_field = timestamp_field
        self._location_field = location_field
        self._page_size = page_size
        self._max_buckets = MAX_BUCKETS_PER_PAGE
        self._keys_per_agent = 4.0  # keys (locations, channels) per agent in a location query, as last seen
        self._warned_buckets = False
        self.answer_bytes = 0  # bytes of aggregation answers read: what a pass costs the indexer's network
        self._max_keys = MAX_LOCATION_KEYS
        self._schema = schema
        # 5.0 says which events are logs by their queue: the others (FIM, SCA, inventory) prove nothing of logs.
        self._only_logs = [{"terms": {schema.queue_field: list(schema.log_queues)}}] if schema.queue_field else []
        # What the latest last_events' answer lacked ("1 of 6 shards failed"), None when it was whole: its
        # figures prove recency, never silence (the missing shards may hold the newer events).
        self.partial: str | None = None

    def info(self) -> str:
        """Cluster name and version, for `check-config --connect`."""
        return _described(self._request("GET", "/", None))

    def node_info(self, url: str) -> str:
        """GET / of one node of the list, asked past the round robin: `check-config --connect` tries each."""
        response = BackendClient._exchange(self, "GET", f"{url}/")
        if response.status_code >= 400 and self._refusal is not None:
            raise refusal_error(f"GET {url}/", self._refusal, user=self._user, pattern=self._pattern)
        body = self._json(response, f"GET {url}/")
        return f"node {body.get('name', '?')} of {_described(body)}"

    def last_events(
        self,
        since: datetime,
        window_start: datetime,
        until: datetime,
        *,
        by_location: bool = False,
        agent_ids: Collection[str] | None = None,
    ) -> dict[tuple[str, ...], EventStats]:
        """For every agent (or agent, location) with events in [since, until]: last event and count since window_start.

        A whole read of the span (learning locations, `check-config --connect`); the pass reads incrementally
        (`read`).
        """
        return self.read(since, until, window_start=window_start, by_location=by_location, agent_ids=agent_ids)

    def read(
        self,
        start: datetime,
        until: datetime,
        *,
        settled: tuple[datetime, datetime] | None = None,
        window_start: datetime | None = None,
        by_location: bool = False,
        agent_ids: Collection[str] | None = None,
    ) -> dict[tuple[str, ...], EventStats]:
        """For every key with events in [start, until]: the newest and how many; the settled span's count.

        One `_search` with `size: 0` and a composite aggregation, paged by `after_key`, so a fleet of any size
        costs a handful of requests and no agent is cut off by a top-N limit; keys missing from the answer had
        no event in the span. `settled` = [a, b) adds a filter counting those events, by UTC hour (a
        date_histogram) when the span crosses an hour; `window_start` adds one counting the events since then.
        Every document in the query's range is visited once per page, so a read of many keys is split into
        queries of one page each by agent id, each page within `search.max_buckets` with its sub-buckets.
        """
        ids = sorted(set(agent_ids)) if agent_ids else None
        crossed = hour_before(settled[1]) - hour_index(settled[0]) if settled is not None else 0
        parts = Parts(
            window=window_start is not None, settled=settled is not None, hours=crossed > 1, split=crossed == 1
        )
        hours = crossed + 1 if parts.hours else 0
        # Buckets per key: its own, each filter's, each hour's (search.max_buckets counts them all).
        keys = self._page_keys(1 + int(parts.window) + int(parts.settled) + int(parts.split) + hours)
        stats: dict[tuple[str, ...], EventStats] = {}
        names = LOCATION_KEY if by_location else AGENT_KEY
        self.partial = None
        for chunk in self._chunks(ids, by_location, keys):
            query = self._query(start, until, settled, window_start, by_location, chunk, parts)
            query["aggs"]["agents"]["composite"]["size"] = keys
            # By agent alone, a bucket per agent asked is all there can be: no empty page needed to say so.
            most = len(chunk) if chunk and not by_location else None
            self._max_keys = (
                min(MAX_LOCATION_KEYS, len(chunk) * MAX_LOCATIONS_PER_AGENT) if chunk else MAX_LOCATION_KEYS
            )
            check = PageCheck(names, keys, chunk, until)
            found = self._pages(query, by_location, parts, most, check)
            if by_location and chunk:
                self._learn_keys_per_agent(len(found), len(chunk))
            stats.update(found)
        return stats

    def _page_keys(self, per_key: int) -> int:
        """Keys in one page: the page size, fewer when their buckets would pass `search.max_buckets`."""
        return max(1, min(self._page_size, self._max_buckets // per_key))

    def _chunks(self, ids: list[str] | None, by_location: bool, keys: int) -> list[list[str] | None]:
        """The agent ids split so that each query's answer is one page (a page more visits every document again)."""
        if not ids:
            return [None]
        agents = max(1, int(keys / self._keys_per_agent)) if by_location else keys
        return [ids[i : i + agents] for i in range(0, len(ids), agents)]

    def _learn_keys_per_agent(self, keys: int, agents: int) -> None:
        # Locations (and channels) per agent, as last seen: sizes the next location queries' chunks of agents.
        self._keys_per_agent = max(1.0, min(200.0, 1.25 * keys / max(1, agents)))

    def _query(
        self,
        start: datetime,
        until: datetime,
        settled: tuple[datetime, datetime] | None,
        window_start: datetime | None,
        by_location: bool,
        agent_ids: list[str] | None,
        parts: Parts,
    ) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"range": {self._ts_field: _range(start, until)}}]
        if agent_ids:
            filters.append({"terms": {self._agent_field: agent_ids}})
        filters += self._only_logs
        sources: list[dict[str, Any]] = [{"agent": {"terms": {"field": self._agent_field}}}]
        if by_location:
            sources.append({"location": {"terms": {"field": self._location_field}}})
            # Only Windows events have a channel; the others land in its null bucket, costing nothing more.
            sources.append({"channel": {"terms": {"field": CHANNEL_FIELD, "missing_bucket": True}}})
        boolean: dict[str, Any] = {"filter": filters}
        if self._not_logs:
            # FIM, SCA, the manager's own 504/506... carry the agent's id but prove nothing of its logs.
            boolean["must_not"] = self._not_logs
        per_bucket: dict[str, Any] = {"last": {"max": {"field": self._ts_field}}}
        if settled is not None:
            counted: dict[str, Any] = {"filter": {"range": {self._ts_field: _half_open(*settled)}}}
            if parts.hours:
                histogram = {"field": self._ts_field, "fixed_interval": "1h", "min_doc_count": 1}
                counted["aggs"] = {"h": {"date_histogram": histogram}}
            per_bucket["s"] = counted
            if parts.split:
                boundary = settled[1].replace(minute=0, second=0, microsecond=0)
                per_bucket["p"] = {"filter": {"range": {self._ts_field: _half_open(settled[0], boundary)}}}
        if window_start is not None:
            per_bucket["w"] = {"filter": {"range": {self._ts_field: _range(window_start, until)}}}
        composite = {"size": self._page_size, "sources": sources}
        return {
            "size": 0,
            "track_total_hits": False,
            "query": {"bool": boolean},
            "aggs": {"agents": {"composite": composite, "aggs": per_bucket}},
        }

    def _pages(
        self, query: dict[str, Any], by_location: bool, parts: Parts, most: int | None, check: PageCheck
    ) -> dict[tuple[str, ...], EventStats]:
        """The composite aggregation page by page (`after_key`), which must advance, up to the page cap."""
        composite: dict[str, Any] = query["aggs"]["agents"]["composite"]
        names = LOCATION_KEY if by_location else AGENT_KEY
        stats: dict[tuple[str, ...], EventStats] = {}
        previous: tuple[object, ...] | None = None
        for _ in range(self._max_pages):
            page = self._page(query, names, parts)
            check.check(page)  # the keys asked, each once, in order: else a live agent could look silent
            buckets, after = page.buckets, page.after
            if by_location:
                for key, value in buckets:
                    log_key = _log_key(key)
                    stats[log_key] = _merge_stats(stats.get(log_key), value)
                if len(stats) > self._max_keys:
                    raise ResponseError(
                        BACKEND,
                        f"aggregation gave more than {self._max_keys} distinct (agent, location) pairs: "
                        "a runaway answer, refused before it fills the memory",
                    )
            else:
                stats.update(buckets)
            if not buckets or not isinstance(after, dict) or len(buckets) < composite["size"]:
                return stats
            if most is not None and len(stats) >= most:
                return stats
            previous = _advanced(after, previous, names)
            composite["after"] = after
        raise ResponseError(
            BACKEND, f"aggregation still had full pages after {self._max_pages} pages: the after_key runs away"
        )

    @property
    def schema(self) -> Schema:
        return self._schema

    def check_fields(self, *, every_s: float = 0.0) -> None:
        """UnmappedFieldsError when the pattern maps no agent id, timestamp or location field (`_field_caps`).

        A query on a field no index maps matches nothing: the whole fleet would look silent (REALITY.md §7).
        Asked again only after `every_s` since the last good check. A user not allowed to read the mappings
        is told once; the check is then skipped, not failed.
        """
        now = self._hosts_clock()
        if self._fields_ok_at is not None and now - self._fields_ok_at < every_s:
            return
        missing, five = self.field_check()
        if missing:
            raise unmapped_error(missing, self._pattern, self._schema, five)
        self._fields_ok_at = now

    def fields_checked(self) -> None:
        """Every field was just found mapped (by `field_check`): `check_fields` need not ask for a while."""
        self._fields_ok_at = self._hosts_clock()

    def field_check(self) -> tuple[list[str] | None, bool]:
        """(the fields the pattern does not map, None when it matches no index; whether 5.0 events are indexed).

        Whether 5.0 events are there is asked only when it can matter: some field unmapped, or no index.
        """
        fields = [self._agent_field, self._ts_field, self._location_field]
        try:
            missing = unmapped(self.field_caps(self._pattern, fields), fields)
            five = self._schema.name != "5.x" and missing != [] and self._unmapped_5x() == []
        except AuthError as exc:
            if not self._caps_refused:
                log.warning(
                    "cannot check the index's field mappings (%s): grant indices:admin/mappings/fields/get", exc
                )
            self._caps_refused = True
            return [], False
        return missing, five

    def _unmapped_5x(self) -> list[str] | None:
        field = SCHEMA_5X.agent_id_field
        return unmapped(self.field_caps(SCHEMA_5X.index_pattern, [field]), [field])

    def field_caps(self, pattern: str, fields: Sequence[str]) -> dict[str, Any]:
        """The `_field_caps` answer for `fields` in the indices `pattern` matches."""
        index = quote(pattern, safe="*,-_.")
        return self._request("GET", f"/{index}/_field_caps?fields={quote(','.join(fields), safe=',@')}", None)

    def oldest_event(self) -> datetime | None:
        """The oldest log event the pattern still holds (one `min` aggregation): how far back history reaches."""
        query: dict[str, Any] = {
            "size": 0,
            "track_total_hits": False,
            "aggs": {"oldest": {"min": {"field": self._ts_field}}},
        }
        if self._only_logs:
            query["query"] = {"bool": {"filter": self._only_logs}}
        body = self._request("POST", f"/{self._index}/_search", query)
        aggs = body.get("aggregations")
        oldest = aggs.get("oldest") if isinstance(aggs, dict) else None
        value = oldest.get("value") if isinstance(oldest, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        try:
            return datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            return None

    def unsearchable_indices(self) -> list[str] | None:
        """Indices of the pattern that hold documents the user cannot search; None when they cannot be listed.

        With the security plugin's `do_not_fail_on_forbidden`, a search leaves the forbidden indices out
        silently (REALITY.md §10): compared one by one with what `_cat/indices` lists, they show.
        """
        try:
            listed = self._request_list(f"/_cat/indices/{self._index}?format=json&h=index,docs.count")
        except AuthError:
            return None
        lacking = []
        for entry in listed:
            name, docs = entry.get("index"), entry.get("docs.count")
            if not isinstance(name, str) or not str(docs or "0").isdigit() or int(str(docs or "0")) == 0:
                continue
            try:
                body = self._request(
                    "POST", f"/{quote(name, safe='-_.')}/_search", {"size": 0, "track_total_hits": True}
                )
            except AuthError:
                lacking.append(name)
                continue
            shards = body.get("_shards")
            if isinstance(shards, dict) and shards.get("total") == 0:
                lacking.append(name)
        return sorted(lacking)

    def _request_list(self, path: str) -> list[dict[str, Any]]:
        """A GET whose answer is a JSON list (the `_cat` APIs with format=json)."""
        response = self._retrying(lambda: self._answer("GET", path, None))
        try:
            body = read_json(response.content)
        except ValueError as exc:
            raise ResponseError(BACKEND, f"GET {path}: answer is not JSON") from exc
        return [entry for entry in body if isinstance(entry, dict)] if isinstance(body, list) else []

    def probe(self) -> int:
        """Documents the index pattern holds, for `check-config --connect`; NoIndexError when it matches none."""
        body = self._request("POST", f"/{self._index}/_search", {"size": 0, "track_total_hits": True})
        self._check_matched(body)
        hits = body.get("hits")
        total = hits.get("total") if isinstance(hits, dict) else None
        value = total.get("value") if isinstance(total, dict) else total
        return value if isinstance(value, int) else 0

    def _check_matched(self, body: Mapping[str, Any]) -> None:
        """OpenSearch answers a pattern that matches no index with 200, no shard and no aggregation (REALITY.md §4)."""
        shards = body.get("_shards")
        if isinstance(shards, dict) and shards.get("total") == 0:
            hint = (
                " (wazuh-archives-* is only written with <logall_json>yes</logall_json> in ossec.conf)"
                if "archives" in self._pattern
                else " (check WAZUH_INDEX_PATTERN against the indices the indexer holds)"
            )
            raise NoIndexError(BACKEND, f"the index pattern {self._pattern!r} matches no index{hint}")

    # -- transport ----------------------------------------------------------------

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._retrying(lambda: self._request_once(method, path, body))

    def _request_once(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        data = self._json(self._answer(method, path, body), f"{method} {path}")
        _check_complete(data)
        return data

    def _page(self, query: dict[str, Any], names: Sequence[str], parts: Parts) -> Page:
        """One page of the aggregation: read by its schema when plain and complete, else checked part by part.

        A `too_many_buckets_exception` (an admin lowered `search.max_buckets`) halves the page and asks again.
        """
        while True:
            try:
                return self._retrying(lambda: self._page_once(query, names, parts))
            except TooManyBucketsError:
                composite = query["aggs"]["agents"]["composite"]
                if composite["size"] <= 1:
                    raise
                composite["size"] //= 2
                self._max_buckets = max(1, self._max_buckets // 2)
                if not self._warned_buckets:
                    self._warned_buckets = True
                    log.warning(
                        "the indexer refused a page of aggregation buckets (too_many_buckets_exception): pages are "
                        "halved to %d keys; raise the cluster setting search.max_buckets (default 65535) to read "
                        "in fewer requests",
                        composite["size"],
                    )

    def _page_once(self, query: Mapping[str, Any], names: Sequence[str], parts: Parts) -> Page:
        path = f"/{self._index}/_search"
        response = self._answer("POST", path, query, params={"filter_path": _filter_path(parts)})
        self.answer_bytes += len(response.content)
        return read_page(response.content, names, parts, what=f"POST {path}", vet=self._vet_page)

    def _vet_page(self, body: dict[str, Any]) -> None:
        """A page's whole answer, when not plain: what it lacks noted as the pass's shortfall, no index refused."""
        lacking = shortfall(body)
        if lacking is not None:
            self.partial = lacking if self.partial in (None, lacking) else f"{self.partial}; {lacking}"
        self._check_matched(body)

    def _answer(
        self, method: str, path: str, body: Mapping[str, Any] | None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """The answer to one attempt, refused (AuthError, ResponseError) when its status is an error."""
        try:
            response = self._exchange(method, path, json=body, params=params)
        except ResponseError as exc:
            if TOO_MANY_BUCKETS in str(exc):
                raise TooManyBucketsError(BACKEND, str(exc)) from exc
            raise
        if response.status_code >= 400 and self._refusal is not None:
            # A 429 is the indexer shedding load: worth another attempt after the backoff.
            raise refusal_error(f"{method} {path}", self._refusal, user=self._user, pattern=self._pattern)
        status = response.status_code
        if status in (401, 403):
            raise AuthError(BACKEND, f"{method} {path}: HTTP {self._explain(response)}")
        if status >= 400:
            # A 429 is the indexer shedding load: worth another attempt after the backoff.
            raise ResponseError(BACKEND, f"{method} {path}: HTTP {self._explain(response)}", retryable=status == 429)
        return response

    def hosts(self) -> list[HostHealth]:
        """Each node's health, for the status page, the metrics and `check-config --connect`."""
        return self._hosts.health()

    def _observe(self, response: httpx.Response) -> None:
        status = response.status_code
        self._refusal = read_refusal(status, _error_body(response)) if status >= 400 else None

    def _exchange(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One attempt, on the nodes in turn: a node that cannot be reached or answers as down (502, 503) is set
        aside and the next one asked at once; only when none answers does the attempt fail."""
        many = len(self._hosts.urls) > 1
        failure: BackendError | None = None
        for host in self._hosts.order():
            self._refusal = None
            try:
                response = super()._exchange(method, f"{host}{path}" if many else path, **kwargs)
            except UnreachableError as exc:
                self._hosts.failed(host, exc.message)
                failure = exc
                continue
            except ResponseError as exc:
                refusal = self._refusal
                if refusal is None:
                    raise
                mapped = refusal_error(f"{method} {path}", refusal, user=self._user, pattern=self._pattern)
                if not refusal.node_down:
                    self._hosts.answered(host)
                    raise mapped from exc
                self._hosts.failed(host, mapped.message)
                failure = mapped
                continue
            self._hosts.answered(host)
            return response
        assert failure is not None  # order() names at least one node
        if many:
            raise type(failure)(BACKEND, f"no indexer node answered: {failure.message}", retryable=failure.retryable)
        raise failure

    def _explain(self, response: httpx.Response) -> str:
        if response.status_code == 503 and TOO_MANY_BUCKETS.encode() in response.content[:4096]:
            # Its type may be the search phase's, with the bucket limit as the cause: name the cause.
            return f"{response.status_code} ({TOO_MANY_BUCKETS})"
        return f"{response.status_code} ({_reason(response)})"


def _described(body: Mapping[str, Any]) -> str:
    version = body.get("version")
    if not isinstance(version, dict):
        version = {}
    distribution = version.get("distribution", "opensearch")
    return f"{body.get('cluster_name', '?')} ({distribution} {version.get('number', '?')})"


def _advanced(
    after: Mapping[str, Any], previous: tuple[object, ...] | None, names: Sequence[str]
) -> tuple[object, ...]:
    """The after_key as a tuple, checked to be past the previous one: a key that does not move would loop forever."""
    # The missing bucket (a non-Windows event's channel) sorts first, as OpenSearch orders it.
    current = tuple((after.get(name) is not None, after.get(name)) for name in names)
    if previous is None:
        return current
    try:
        moved = current > previous
    except TypeError:  # keys of mixed types: all that can be said is whether they changed
        moved = current != previous
    if not moved:
        raise ResponseError(
            BACKEND, f"aggregation after_key did not advance ({_short(after)} after {_short(previous)})"
        )
    return current


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:119] + "…"


def _range(start: datetime, end: datetime) -> dict[str, str]:
    return {"gte": _iso(start), "lte": _iso(end), "format": "strict_date_optional_time"}


def _half_open(start: datetime, end: datetime) -> dict[str, str]:
    # Half-open, so consecutive windows never count an event twice.
    return {"gte": _iso(start), "lt": _iso(end), "format": "strict_date_optional_time"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _check_complete(body: Mapping[str, Any]) -> None:
    """A partial answer would make the agents on the missing shards look silent: treat it as unreadable."""
    lacking = shortfall(dict(body))
    if lacking is not None:
        raise ResponseError(BACKEND, f"{lacking}: the answer is partial")


def _location_clauses(field: str, locations: Sequence[str]) -> list[dict[str, Any]]:
    """must_not clauses for NON_LOG_LOCATIONS: exact names in one terms query, `prefix*` names as prefix queries."""
    exact = sorted({loc for loc in locations if loc and not loc.endswith("*")})
    clauses: list[dict[str, Any]] = [{"terms": {field: exact}}] if exact else []
    clauses += [{"prefix": {field: loc[:-1]}} for loc in sorted(set(locations)) if loc.endswith("*") and loc[:-1]]
    return clauses


def _log_key(key: tuple[str, ...]) -> tuple[str, str]:
    """(agent, location, channel) as the targets name it: a Windows channel by its own name (`Security`)."""
    agent, location, channel = key
    return (agent, channel) if location in WINDOWS_LOCATIONS and channel else (agent, location)


def _merge_stats(seen: EventStats | None, value: EventStats) -> EventStats:
    """EventChannel and WinEvtLog buckets of one channel are one location."""
    if seen is None:
        return value
    return add_stats(seen, value)


def add_stats(seen: EventStats, value: EventStats) -> EventStats:
    """Two buckets' figures together (an agent's locations, a channel under two names): the newest, the sums."""
    moments = [m for m in (seen.last_event, value.last_event) if m is not None]
    hours = seen.hours + value.hours if seen.hours and value.hours else seen.hours or value.hours
    return EventStats(
        last_event=max(moments) if moments else None,
        count_in_window=seen.count_in_window + value.count_in_window,
        settled=seen.settled + value.settled,
        hours=hours,
        before_hour=seen.before_hour + value.before_hour,
    )


# What a page's reader reads, and nothing else (`filter_path`): no `value_as_string`, no hits, no timings.
_FILTER_ALWAYS = (
    "_shards",
    "timed_out",
    "aggregations.agents.after_key",
    "aggregations.agents.buckets.key",
    "aggregations.agents.buckets.doc_count",
    "aggregations.agents.buckets.last.value",
)


def _filter_path(parts: Parts) -> str:
    paths = list(_FILTER_ALWAYS)
    if parts.settled:
        paths.append("aggregations.agents.buckets.s.doc_count")
    if parts.hours:
        paths += ["aggregations.agents.buckets.s.h.buckets.key", "aggregations.agents.buckets.s.h.buckets.doc_count"]
    if parts.window:
        paths.append("aggregations.agents.buckets.w.doc_count")
    if parts.split:
        paths.append("aggregations.agents.buckets.p.doc_count")
    return ",".join(paths)


def _error_body(response: httpx.Response) -> object:
    try:
        return read_json(response.content)
    except (ValueError, RecursionError):
        return None


def _reason(response: httpx.Response) -> str:
    """OpenSearch's error type, never the request (which holds no secret, but can be long)."""
    try:
        body = read_json(response.content)
    except (ValueError, RecursionError):
        return "no JSON body"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("type") or error.get("reason") or "error")
    return str(error or "error")
