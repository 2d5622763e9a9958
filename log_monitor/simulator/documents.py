"""The simulated indexer's documents, as the Fleet makes them: what a selection admits, counts and bucket keys."""

from __future__ import annotations

from typing import Protocol

from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.querydsl import DocFilter, SearchError

Key = tuple[str | None, ...]  # composite key values; None is the missing bucket (a non-Windows event's channel)
Order = tuple[tuple[bool, str], ...]


def order(values: Key) -> Order:
    """Composite order: ascending, the missing bucket first (OpenSearch's default for missing_bucket)."""
    return tuple((value is not None, value or "") for value in values)


class DocumentsHost(Protocol):
    """What the documents read of the SimulatorServer: the fleet and the schema (5.0 maps no channel field)."""

    fleet: Fleet
    schema: str


class Documents:
    """Which (agent, location) documents a selection admits and how many, asked of the Fleet with caches."""

    def __init__(self, owner: DocumentsHost) -> None:
        self._owner = owner
        self._keys_cache: tuple[object, list[tuple[Key, str, str | None]], list[Order]] | None = None
        # What a bucket's documents are made of depends on the fleet alone: kept while its version holds.
        self._locations_cache: tuple[int, dict[tuple[object, ...], list[str]]] = (-1, {})
        self._names_cache: tuple[int, dict[str, str]] = (-1, {})

    def admitted(self, selection: DocFilter) -> list[str]:
        """The agents whose documents the selection may match: a term on agent.id need not visit the others."""
        agents = self._owner.fleet.agent_ids()
        if selection.agents is not None and len(selection.agents) < len(agents):
            known = set(agents)
            return sorted(agent for agent in selection.agents if agent in known)
        return agents

    def total(self, selection: DocFilter) -> int:
        """Every document the selection matches: what a search visits."""
        return sum(self.doc_count(agent, None, selection) for agent in self.admitted(selection))

    def sorted_keys(
        self, kinds: list[str], selection: DocFilter
    ) -> tuple[list[tuple[Key, str, str | None]], list[Order]]:
        """The bucket keys in composite order; cached while the fleet is unchanged, as paging re-asks them."""
        cache_key = (tuple(kinds), selection.agents, selection.names, self._owner.fleet.version)
        cached = self._keys_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1], cached[2]
        candidates = sorted(self.keys(kinds, selection), key=lambda entry: order(entry[0]))
        values_only = [order(entry[0]) for entry in candidates]
        self._keys_cache = (cache_key, candidates, values_only)
        return candidates, values_only

    def keys(self, kinds: list[str], selection: DocFilter) -> list[tuple[Key, str, str | None]]:
        """Every (key values, agent id, location or None) whose documents a bucket would hold."""
        fleet = self._owner.fleet
        names = self._names()
        five = self._owner.schema == "5.x"
        keys: list[tuple[Key, str, str | None]] = []
        for agent_id in fleet.agent_ids():
            if selection.agents is not None and agent_id not in selection.agents:
                continue
            if selection.names is not None and names.get(agent_id) not in selection.names:
                continue
            per_source = "location" in kinds or "channel" in kinds
            locations: list[str | None] = list(fleet.locations(agent_id)) if per_source else [None]
            for location in locations:
                indexed, channel = fleet.indexed_as(agent_id, location) if location is not None else ("", None)
                values: list[str | None] = []
                for kind in kinds:
                    if kind == "agent":
                        values.append(agent_id)
                    elif kind == "name":
                        values.append(names.get(agent_id, ""))
                    elif kind == "location" and location is not None:
                        values.append(indexed)
                    elif kind == "channel":
                        values.append(None if five else channel)  # 5.0 maps no channel field: always missing
                    else:
                        raise SearchError("illegal_argument_exception", f"cannot bucket by a [{kind}] field")
                keys.append((tuple(values), agent_id, location))
        return keys

    def doc_count(self, agent_id: str, location: str | None, selection: DocFilter) -> int:
        return self.doc_counts(agent_id, location, [selection])[0]

    def doc_counts(self, agent_id: str, location: str | None, selections: list[DocFilter]) -> list[int]:
        """The documents of (agent, location) each selection matches: one trip to the fleet for all of them."""
        names = self._names() if any(s.names is not None for s in selections) else {}
        queries: list[tuple[list[str], int, int]] = []
        for selection in selections:
            if (
                (selection.names is not None and names.get(agent_id) not in selection.names)
                or (selection.agents is not None and agent_id not in selection.agents)
                or selection.lo > selection.hi
            ):
                queries.append(([], 0, -1))
            else:
                queries.append((self.locations(agent_id, location, selection), selection.lo, selection.hi))
        if not any(locations for locations, _, _ in queries):
            return [0] * len(queries)  # an agent no selection admits
        return self._owner.fleet.count_ranges_ms(agent_id, queries)

    def last(self, agent_id: str, location: str | None, selection: DocFilter) -> int | None:
        fleet = self._owner.fleet
        found = [
            fleet.last_event_ms(agent_id, loc, selection.lo, selection.hi)
            for loc in self.locations(agent_id, location, selection)
        ]
        moments = [m for m in found if m is not None]
        return max(moments) if moments else None

    def _names(self) -> dict[str, str]:
        """Agent id to name, as the fleet lists them."""
        fleet = self._owner.fleet
        version = fleet.version  # read first: a change while building leaves the cache stale, never wrong
        cached = self._names_cache
        if cached[0] != version:
            cached = (version, {agent.id: agent.name for agent in fleet.agents()})
            self._names_cache = cached
        return cached[1]

    def locations(self, agent_id: str, location: str | None, selection: DocFilter) -> list[str]:
        """The agent's locations (or the one given) whose documents the selection admits; asked ~10 times a bucket."""
        fleet = self._owner.fleet
        version = fleet.version
        cached = self._locations_cache
        if cached[0] != version or len(cached[1]) > 100_000:
            cached = (version, {})
            self._locations_cache = cached
        key: tuple[object, ...] = (agent_id, location, selection.locations, selection.channels)
        key += (selection.not_locations, selection.not_prefixes)
        found = cached[1].get(key)
        if found is None:
            candidates = [location] if location is not None else fleet.locations(agent_id)
            found = [loc for loc in candidates if selection.admits(*fleet.indexed_as(agent_id, loc))]
            cached[1][key] = found
        return found
