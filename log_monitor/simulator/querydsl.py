"""OpenSearch's query DSL as the simulated indexer reads it (bool, range, term, terms, date math); its 4xx errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from log_monitor.clock import Clock
from log_monitor.simulator.fleet import Fleet, ceil_ms, to_ms
from log_monitor.simulator.httpd import JSON


class SearchError(Exception):
    """An OpenSearch 4xx answer (the request, not the cluster, is wrong)."""

    def __init__(self, kind: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


def opensearch_error(kind: str, reason: str, status: int) -> JSON:
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], "type": kind, "reason": reason}, "status": status}


@dataclass
class DocFilter:
    """The documents a query matches, in the simulator's terms."""

    lo: int = 0  # inclusive epoch milliseconds
    hi: int = 1 << 62
    agents: frozenset[str] | None = None
    names: frozenset[str] | None = None
    locations: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    not_locations: frozenset[str] = frozenset()  # bool must_not: exact locations
    not_prefixes: tuple[str, ...] = ()  # bool must_not: location prefixes

    def narrowed(self, other: DocFilter) -> DocFilter:
        return DocFilter(
            lo=max(self.lo, other.lo),
            hi=min(self.hi, other.hi),
            agents=_meet(self.agents, other.agents),
            names=_meet(self.names, other.names),
            locations=_meet(self.locations, other.locations),
            channels=_meet(self.channels, other.channels),
            not_locations=self.not_locations | other.not_locations,
            not_prefixes=self.not_prefixes + other.not_prefixes,
        )

    def admits(self, location: str, channel: str | None) -> bool:
        """Whether documents indexed with this location (and Windows channel) match."""
        if self.locations is not None and location not in self.locations:
            return False
        if self.channels is not None and channel not in self.channels:
            return False
        return location not in self.not_locations and not location.startswith(self.not_prefixes or ("\0",))


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def field_kind(name: object) -> str:
    """What a field means: the server takes field names from the query, so 4.x and 5.x names both work."""
    if not isinstance(name, str):
        raise SearchError("parsing_exception", f"field name must be a string, got {name!r}")
    if name.endswith("agent.id") or name == "agent_id":
        return "agent"
    if name.endswith("agent.name"):
        return "name"
    if name.endswith("location"):
        return "location"
    if name.endswith("win.system.channel"):
        return "channel"
    if name == "wazuh.protocol.queue":
        return "queue"
    if name.endswith("timestamp") or name.endswith("@timestamp"):
        return "time"
    raise SearchError("illegal_argument_exception", f"the simulator does not index field [{name}]")


_DATE_MATH = re.compile(r"^now(?:([+-])(\d+)([smhd]))?$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class QueryHost(Protocol):
    """What the query reader reads of the SimulatorServer: the fleet (5.0's queues) and the clock (date math)."""

    fleet: Fleet
    clock: Clock


class QueryParser:
    """OpenSearch's query DSL as the simulator reads it: a query becomes the DocFilter of the documents it matches."""

    def __init__(self, owner: QueryHost) -> None:
        self._owner = owner
        self._parsed_cache: dict[int, tuple[object, DocFilter]] = {}

    def parsed(self, query: object) -> DocFilter:
        """A sub-aggregation's query, parsed once per request rather than once per bucket (same object each time)."""
        cached = self._parsed_cache.get(id(query))
        if cached is not None and cached[0] is query:
            return cached[1]
        if len(self._parsed_cache) > 256:
            self._parsed_cache.clear()
        parsed = self.query(query)
        # The query itself is kept, so its id cannot be reused by another object while cached.
        self._parsed_cache[id(query)] = (query, parsed)
        return parsed

    def query(self, query: object) -> DocFilter:
        if not isinstance(query, dict) or len(query) != 1:
            raise SearchError("parsing_exception", "a query must be an object with exactly one clause")
        kind, body = next(iter(query.items()))
        if kind == "match_all":
            return DocFilter()
        if kind == "bool":
            return self._bool(body)
        if kind == "range":
            return self._range(body)
        if kind in ("term", "match", "match_phrase"):
            if not isinstance(body, dict) or len(body) != 1:
                raise SearchError("parsing_exception", f"[{kind}] query must name exactly one field")
            field_name, value = next(iter(body.items()))
            if isinstance(value, dict):
                value = value.get("value", value.get("query"))
            return self._values(field_name, [value])
        if kind == "terms":
            if not isinstance(body, dict):
                raise SearchError("parsing_exception", "[terms] query must be an object")
            fields = [key for key in body if key != "boost"]
            if len(fields) != 1 or not isinstance(body[fields[0]], list):
                raise SearchError("parsing_exception", "[terms] query must name one field with a list of values")
            return self._values(fields[0], body[fields[0]])
        raise SearchError("parsing_exception", f"unknown query [{kind}] (not simulated)")

    def _bool(self, body: object) -> DocFilter:
        if not isinstance(body, dict):
            raise SearchError("parsing_exception", "[bool] query must be an object")
        unsupported = set(body) - {"filter", "must", "must_not", "boost"}
        if unsupported:
            raise SearchError("parsing_exception", f"[bool] clause [{sorted(unsupported)[0]}] is not simulated")
        result = DocFilter()
        for clause in ("filter", "must"):
            parts = body.get(clause, [])
            for part in parts if isinstance(parts, list) else [parts]:
                result = result.narrowed(self.query(part))
        excluded = body.get("must_not", [])
        for part in excluded if isinstance(excluded, list) else [excluded]:
            result = result.narrowed(self._excluded(part))
        return result

    def _excluded(self, query: object) -> DocFilter:
        """A must_not clause: the simulator excludes by location (terms, term or prefix), as NON_LOG_LOCATIONS does."""
        if not isinstance(query, dict) or len(query) != 1:
            raise SearchError("parsing_exception", "a query must be an object with exactly one clause")
        kind, body = next(iter(query.items()))
        if not isinstance(body, dict) or len(body) != 1:
            raise SearchError("parsing_exception", f"[{kind}] query must name exactly one field")
        field_name, value = next(iter(body.items()))
        if field_kind(field_name) != "location" or kind not in ("terms", "term", "prefix"):
            raise SearchError("parsing_exception", f"must_not [{kind}] on [{field_name}] is not simulated")
        if isinstance(value, dict):
            value = value.get("value")
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise SearchError("parsing_exception", f"[{kind}] values must be strings")
        if kind == "prefix":
            return DocFilter(not_prefixes=tuple(str(v) for v in values))
        return DocFilter(not_locations=frozenset(str(v) for v in values))

    def _values(self, field_name: object, values: list[object]) -> DocFilter:
        kind = field_kind(field_name)
        if kind == "time" or not all(isinstance(v, str | int) for v in values):
            raise SearchError("parsing_exception", f"term queries on [{field_name}] are not simulated")
        texts = frozenset(str(v) for v in values)
        if kind == "queue":
            return self._queues(frozenset(int(str(v)) for v in values))
        if kind == "agent":
            return DocFilter(agents=texts)
        if kind == "name":
            return DocFilter(names=texts)
        if kind == "channel":
            return DocFilter(channels=texts)
        return DocFilter(locations=texts)

    def _queues(self, wanted: frozenset[int]) -> DocFilter:
        """5.0's queue (49 log files, 102 Windows channels, others not logs) as the locations it leaves out."""
        fleet = self._owner.fleet
        left_out: set[str] = set()
        for agent_id in fleet.agent_ids():
            for location in fleet.locations(agent_id):
                indexed, _ = fleet.indexed_as(agent_id, location)
                queue = (
                    102 if indexed in ("EventChannel", "WinEvtLog") else 49 if fleet.is_log(agent_id, location) else 0
                )
                if queue not in wanted:
                    left_out.add(indexed)
        return DocFilter(not_locations=frozenset(left_out))

    def _range(self, body: object) -> DocFilter:
        if not isinstance(body, dict) or len(body) != 1:
            raise SearchError("parsing_exception", "[range] query must name exactly one field")
        field_name, bounds = next(iter(body.items()))
        if field_kind(field_name) != "time" or not isinstance(bounds, dict):
            raise SearchError("parsing_exception", f"range queries on [{field_name}] are not simulated")
        unknown = set(bounds) - {"gte", "gt", "lte", "lt", "format", "time_zone"}
        if unknown or bounds.get("time_zone", "Z") not in ("Z", "UTC", "+00:00"):
            raise SearchError("parsing_exception", f"[range] options {sorted(unknown)} are not simulated")
        result = DocFilter()
        if "gte" in bounds:
            result.lo = max(result.lo, ceil_ms(self._date(bounds["gte"])))
        if "gt" in bounds:
            result.lo = max(result.lo, to_ms(self._date(bounds["gt"])) + 1)
        if "lte" in bounds:
            result.hi = min(result.hi, to_ms(self._date(bounds["lte"])))
        if "lt" in bounds:
            result.hi = min(result.hi, ceil_ms(self._date(bounds["lt"])) - 1)
        return result

    def _date(self, value: object) -> datetime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
        if not isinstance(value, str):
            raise SearchError("parse_exception", f"failed to parse date field [{value}]")
        math = _DATE_MATH.match(value.strip())
        if math is not None:
            now = self._owner.clock.now()
            sign, amount, unit = math.groups()
            if amount is None:
                return now
            delta = timedelta(seconds=int(amount) * UNIT_SECONDS[unit])
            return now - delta if sign == "-" else now + delta
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise SearchError(
                "parse_exception", f"failed to parse date field [{value}] with format [strict_date_optional_time]"
            ) from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
