"""The simulated Wazuh indexer's HTTP face: its routes, credentials, index security, load and outage answers."""

from __future__ import annotations

import fnmatch
import hmac
import json
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from log_monitor.simulator.documents import Documents
from log_monitor.simulator.filterpath import filtered
from log_monitor.simulator.httpd import JSON, App, Reply, basic_credentials, json_reply
from log_monitor.simulator.querydsl import DocFilter, SearchError, opensearch_error
from log_monitor.simulator.search import Searcher, SearchHost

# The fields each kind of index maps, and their types (Wazuh's 4.x template; 5.0's events templates).
FIELDS_4X = {
    "agent.id": "keyword",
    "agent.name": "keyword",
    "timestamp": "date",
    "location": "keyword",
    "data.win.system.channel": "keyword",
}
FIELDS_5X = {
    "wazuh.agent.id": "keyword",
    "wazuh.agent.name": "keyword",
    "@timestamp": "date",
    "wazuh.protocol.location": "keyword",
    "wazuh.protocol.queue": "byte",
}


class IndexerHost(SearchHost, Protocol):
    """What the indexer reads of the SimulatorServer: its indices, users and their roles."""

    indices: tuple[str, ...]
    indexer_users: dict[str, str]
    indexer_permissions: dict[str, tuple[str, ...]]
    do_not_fail_on_forbidden: bool


class Indexer(App[IndexerHost]):
    """The Wazuh indexer (OpenSearch 2.x): `_search`, `_count`, `_field_caps`, `_cat/indices`, its security and load."""

    sends_date = False

    def __init__(self, owner: IndexerHost) -> None:
        super().__init__(owner)
        self._documents = Documents(owner)
        self._searcher = Searcher(owner, self._documents)

    def transport_fault(self) -> str:
        return self._owner.faults.indexer_transport

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        owner = self._owner
        owner.stats.bump("indexer_requests")
        try:
            return self._handle(method, target, headers, body)
        except SearchError as exc:
            owner.stats.bump("indexer_errors")
            return json_reply(exc.status, opensearch_error(exc.kind, exc.reason, exc.status))

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        credentials = basic_credentials(headers)
        refused = self._refusal(credentials)
        if refused is not None:
            return refused
        assert credentials is not None  # refused otherwise
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        if path.endswith(("/_search", "/_count")):
            self._check_search_faults()
        if path == "/":
            if method != "GET":
                raise SearchError("illegal_argument_exception", f"no handler for [{method} /]", 405)
            return json_reply(200, self._cluster_info())
        parts = path.lstrip("/").split("/")
        if parts[:2] == ["_cat", "indices"] and method == "GET":
            return json_reply(200, self._cat_indices(unquote(parts[2]) if len(parts) > 2 else "*"))
        if len(parts) == 2 and parts[1] == "_field_caps" and method in ("GET", "POST"):
            return json_reply(200, self._field_caps(unquote(parts[0]), parse_qs(split.query).get("fields", [""])[0]))
        if len(parts) != 2 or parts[1] not in ("_count", "_search") or method not in ("GET", "POST"):
            raise SearchError("illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")
        return self._read(credentials[0], unquote(parts[0]), parts[1], split.query, body)

    def _refusal(self, credentials: tuple[str, str] | None) -> Reply | None:
        """The 401 of wrong credentials or the 503 of a cluster not recovered, before any route is looked at."""
        owner = self._owner
        mode = owner.faults.indexer_mode
        user_ok = credentials is not None and hmac.compare_digest(
            owner.indexer_users.get(credentials[0], "\0").encode(), credentials[1].encode()
        )
        if mode == "unauthorized" or not user_ok:
            owner.stats.bump("indexer_errors")
            reply = opensearch_error("security_exception", "Unauthorized", 401)
            reply["error"]["header"] = {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'}
            return json_reply(401, reply, {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'})
        if mode == "down":
            owner.stats.bump("indexer_errors")
            reason = "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"
            return json_reply(503, opensearch_error("cluster_block_exception", reason, 503))
        return None

    def _read(self, user: str, pattern: str, action: str, query: str, body: bytes) -> Reply:
        """A `_search` or `_count` (action) on an index pattern, as far as the user may read it."""
        owner = self._owner
        self._check_index(pattern)
        payload = self._json_body(body)
        pattern = self._searchable(user, pattern)
        if not any(fnmatch.fnmatchcase(index, part) for part in pattern.split(",") for index in owner.indices):
            # A wildcard matching no index: success, no shard, no hit and no aggregations (REALITY.md §4).
            owner.stats.bump("indexer_empty_patterns")
            shards = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
            if action == "_count":
                return json_reply(200, {"count": 0, "_shards": shards})
            empty: JSON = {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}
            return json_reply(200, {"took": 0, "timed_out": False, "_shards": shards, "hits": empty})
        if action == "_count":
            owner.stats.bump("indexer_counts")
            owner.stats.record("last_count_body", payload)
            return json_reply(200, self._searcher.count(payload))
        owner.stats.bump("indexer_searches")
        owner.stats.record("last_search_body", payload)
        found = self._searcher.search(payload)
        filter_path = dict(parse_qsl(query)).get("filter_path")
        answered = json_reply(200, filtered(found, filter_path) if filter_path else found, compact=True)
        owner.stats.add("indexer_answer_bytes", len(answered.body))
        return answered

    def _field_caps(self, pattern: str, fields: str) -> JSON:
        """OpenSearch's `_field_caps`: the fields that some index of the pattern maps, by type (REALITY.md §7).

        A 4.x alerts index maps 4.x's names; a 5.0 events data stream maps 5.0's (no `timestamp`, no
        `agent.id`, no `location`, no Windows channel field).
        """
        indices = sorted(i for i in self._owner.indices if any(fnmatch.fnmatchcase(i, p) for p in pattern.split(",")))
        mapped: dict[str, str] = {}
        for index in indices:
            five = index.startswith("wazuh-events-v5") or self._owner.schema == "5.x"  # 5.x: 5.0's templates
            mapped.update(FIELDS_5X if five else FIELDS_4X)
        caps: JSON = {}
        for name in (f for f in fields.split(",") if f):
            kind = mapped.get(name)
            if kind is not None:
                entry = {"type": kind, "searchable": True, "aggregatable": True}
                caps[name] = {kind: entry}
        return {"indices": indices, "fields": caps}

    def _cat_indices(self, pattern: str) -> list[JSON]:
        """`_cat/indices/<pattern>?format=json`: every index the pattern matches (the user may list them all)."""
        docs = self._documents.total(DocFilter())
        return [
            {"index": index, "docs.count": str(docs)}
            for index in sorted(self._owner.indices)
            if any(fnmatch.fnmatchcase(index, p) for p in pattern.split(","))
        ]

    def _check_search_faults(self) -> None:
        """Load and outage answers of a search, with OpenSearch's error bodies (REALITY.md §10)."""
        faults = self._owner.faults
        mode = faults.indexer_mode
        if faults.overloaded_next > 0 or mode == "overloaded":
            faults.overloaded_next = max(0, faults.overloaded_next - 1)
            reason = (
                "rejected execution of org.opensearch.common.util.concurrent.TimedRunnable on "
                "OpenSearchThreadPoolExecutor[name = wazuh-indexer-1/search, queue capacity = 1000]"
            )
            raise SearchError("rejected_execution_exception", reason, 429)
        if mode == "breaker":
            reason = "[parent] Data too large, data for [<http_request>] would be [1031798784/984mb]"
            raise SearchError("circuit_breaking_exception", reason, 429)
        if mode == "all_shards_failed":
            raise SearchError("search_phase_execution_exception", "all shards failed", 503)

    def _searchable(self, user: str, pattern: str) -> str:
        """The indices the user may search, as a pattern: a 403 for a forbidden one, or it is dropped silently."""
        forbidden = self._forbidden(user, pattern)
        if not forbidden:
            return pattern
        if not self._owner.do_not_fail_on_forbidden:
            # The security plugin refuses the whole request for one forbidden index the pattern matches.
            reason = (
                f"no permissions for [indices:data/read/search] and User [name={user}, "
                "backend_roles=[], requestedTenant=null]"
            )
            raise SearchError("security_exception", reason, 403)
        # do_not_fail_on_forbidden: the forbidden indices are dropped, silently; the simulator's documents are
        # in every index at once, so a user left with any index sees them all, one left with none sees none.
        parts = pattern.split(",")
        kept = [i for i in self._owner.indices if i not in forbidden and any(fnmatch.fnmatchcase(i, p) for p in parts)]
        return ",".join(kept) or "-none-"

    def _forbidden(self, user: str, pattern: str) -> list[str]:
        """The indices the pattern resolves to that the user's roles do not let it search."""
        allowed = self._owner.indexer_permissions.get(user)
        if allowed is None:
            return []
        resolved = [i for i in self._owner.indices if any(fnmatch.fnmatchcase(i, p) for p in pattern.split(","))]
        return [i for i in resolved if not any(fnmatch.fnmatchcase(i, p) for p in allowed)]

    @staticmethod
    def _cluster_info() -> JSON:
        return {
            "name": "wazuh-indexer-1",
            "cluster_name": "wazuh-cluster",
            "cluster_uuid": "Hb1rPgvxQ3y3kW0m9iqF5w",
            "version": {
                "distribution": "opensearch",
                "number": "7.10.2",
                "build_type": "rpm",
                "lucene_version": "9.12.1",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }

    @staticmethod
    def _check_index(pattern: str) -> None:
        for part in pattern.split(","):
            if not part or ("*" not in part and not part.startswith("wazuh-")):
                raise SearchError("index_not_found_exception", f"no such index [{part}]", 404)

    @staticmethod
    def _json_body(body: bytes) -> JSON:
        if not body.strip():
            return {}
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SearchError("parsing_exception", f"request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise SearchError("parsing_exception", "request body must be a JSON object")
        return payload
