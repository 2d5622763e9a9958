"""Agent status and lastKeepAlive from the Wazuh server API: the not-active agents each pass, everyone now and then."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from log_monitor.errors import AuthError, BackendError
from log_monitor.models import Cluster, Observation, Target, TargetKind
from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler

# The statuses that change a verdict; an agent the API does not list with one of them is active.
NOT_ACTIVE = "disconnected,never_connected,pending"
log = logging.getLogger(__name__)

# Which cluster nodes are connected is read this often at most (one request).
HEALTHCHECK_EVERY = timedelta(minutes=1)
# Why an agent is not active, from its status_code (src/wazuh_db/wdb.h; REALITY.md §9), so the SOC knows whom
# to call. 4 (no keepalive) is what "disconnected" already says.
STATUS_CODE_WORDS = {
    1: "the manager refuses this agent: its version is newer than the manager's (status_code 1); "
    "upgrade the manager or install the manager's version on the agent",
    2: "the manager refuses this agent's version (status_code 2)",
    3: "the agent was stopped on purpose (a clean shutdown of the service or the host, status_code 3)",
    5: "its status was reset by a manager restart (status_code 5)",
}
# The full listing (every agent, so names, registrations and removals) is this old at most.
FULL_LISTING_EVERY = timedelta(minutes=15)


def not_registered(agent_id: str) -> str:
    """Why an expected agent id is missing from the listing, in words."""
    return (
        f"not registered: Wazuh does not know agent id {agent_id} (removed, re-enrolled under a new id, "
        "or a wrong id in the agents file)"
    )


class Listing(Mapping[str, AgentInfo]):
    """Every agent of a pass: the names of the last full listing, the agents not active laid over them.

    An agent only named is active; its AgentInfo is made when asked for, so a pass over 100,000 agents
    holds 100,000 names, not 100,000 AgentInfo and their strings (the keepalive of an active agent is
    never judged).
    """

    __slots__ = ("names", "nodes", "others")

    def __init__(
        self, names: Mapping[str, str], others: Mapping[str, AgentInfo], nodes: Mapping[str, str] | None = None
    ) -> None:
        self.names = names
        self.others = others
        self.nodes = nodes or {}  # id -> cluster node, of the last full listing

    def __getitem__(self, agent_id: str) -> AgentInfo:
        other = self.others.get(agent_id)
        if other is not None:
            return other
        return AgentInfo(agent_id, self.names[agent_id], "active", node_name=self.nodes.get(agent_id, ""))

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.others or agent_id in self.names

    def __iter__(self) -> Iterator[str]:
        yield from self.names
        yield from (agent_id for agent_id in self.others if agent_id not in self.names)

    def __len__(self) -> int:
        return len(self.names) + sum(1 for agent_id in self.others if agent_id not in self.names)


class NodeMap(Mapping[str, str]):
    """Each listed agent's cluster node: the first listed agent's node held once, the other nodes by agent id.

    A single manager's 100,000 agents are on one node: a dict of them all would be 5 MB of a daemon's memory.
    """

    __slots__ = ("names", "odd", "usual")

    def __init__(self, names: Mapping[str, str], usual: str = "", odd: Mapping[str, str] | None = None) -> None:
        self.names = names  # the listed agents (id -> name)
        self.usual = usual
        self.odd = odd or {}  # id -> node, of the agents on another node than `usual`

    def __getitem__(self, agent_id: str) -> str:
        if agent_id not in self.names:
            raise KeyError(agent_id)
        return self.odd.get(agent_id, self.usual)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def counts(self) -> Counter[str]:
        """Agents by node."""
        found = Counter(self.odd.values())
        if len(self.names) > len(self.odd):
            found[self.usual] += len(self.names) - len(self.odd)
        return found


class ApiStatusSource:
    """The status of every agent, read once per pass so each check uses a fresh status; it counts no events.

    A pass lists only the agents that are not active (one page in a healthy fleet, where 10,000 agents
    would take 20): the full listing is read every FULL_LISTING_EVERY, and at once when a target names an
    agent id no full listing has answered for (a new line in the agents file).
    """

    name = "api"
    backend = "api"
    counts_events = False

    def __init__(self, api: WazuhAPIHandler, *, full_every: timedelta = FULL_LISTING_EVERY) -> None:
        self._api = api
        self._full_every = full_every
        self._listed: Listing | BackendError | None = None  # this pass's view of every agent
        self._names: dict[str, str] = {}  # id -> name, of the last full listing
        self._full_at: datetime | None = None
        self._full_not_active: dict[str, AgentInfo] = {}  # those the last full listing gave another status than active
        self._nodes = NodeMap({})  # id -> cluster node, of the last full listing
        self._node_names: frozenset[str] = frozenset()
        self._connected: frozenset[str] | None = None  # GET /cluster/healthcheck's nodes; None: not readable
        self._health_at: datetime | None = None
        # Ids a full listing has answered for that the last one does not have (asked and not registered, removed).
        self._seen: set[str] = set()
        self.full_listings = 0
        self._members: tuple[datetime, list[AgentInfo]] | None = None  # (when, agents of the discovered groups)
        self.fresh_full = False  # this pass read the full listing (every id and name)
        self._health_denied = False

    def new_pass(self) -> None:
        """Forget the last listing: each pass reads a fresh status."""
        self._listed = None
        self.fresh_full = False

    def agents(self, now: datetime | None = None, wanted: Collection[str] = ()) -> Listing:
        """Every registered agent but the manager (000), by id, as of this pass; listed (or failed) once per pass.

        Agents absent from this pass's not-active listing are taken as active, with the name and
        keepalive of the last full listing.
        """
        if self._listed is None:
            try:
                self._listed = self._list(now, wanted)
            except BackendError as exc:
                self._listed = exc
        if isinstance(self._listed, BackendError):
            raise self._listed
        return self._listed

    def _list(self, now: datetime | None, wanted: Collection[str]) -> Listing:
        stale = self._full_at is None or now is None or now - self._full_at >= self._full_every or now < self._full_at
        # Set differences, not a loop over 100,000 ids: which of them no full listing has answered for.
        if stale or (set(wanted) - self._names.keys()) - self._seen:
            # Of the full listing only the names are kept, and whole only the agents not active.
            names: dict[str, str] = {}
            odd: dict[str, str] = {}  # the agents on another node than the first listed agent's
            usual: str | None = None
            shared: dict[str, str] = {}  # one string per node name, not one per agent
            not_active: dict[str, AgentInfo] = {}
            # Keyed by the targets' own id strings where they have one: the listing's copies (5 MB at 100,000
            # agents) are let go with its pages.
            own = {agent_id: agent_id for agent_id in wanted}
            for agent in self._api.iter_agents(exclude_manager=True):
                key = own.get(agent.id, agent.id)
                names[key] = agent.name
                node = shared.setdefault(agent.node_name, agent.node_name)
                if usual is None:
                    usual = node
                elif node is not usual:
                    odd[key] = node
                if agent.status != "active":
                    not_active[agent.id] = agent
            gone = self._names.keys() - names.keys()
            self._names, self._full_not_active = names, not_active
            nodes = NodeMap(names, usual or "", odd)
            self._nodes, self._node_names = nodes, frozenset(shared) - {""}
            self._full_at = now
            # The listing's own ids are not stored twice (100,000 strings): `_seen` keeps the others.
            self._seen = (self._seen | gone | set(wanted)).difference(names)
            self.full_listings += 1
            self.fresh_full = True
            return Listing(names, not_active, nodes)
        # The agents the full listing had as not active and no longer are, are active (only named) now;
        # those registered since the full listing and not active yet are known now, named at the next one.
        listed = {agent.id: agent for agent in self._api.list_agents(NOT_ACTIVE, exclude_manager=True)}
        return Listing(self._names, listed, self._nodes)

    def agents_per_node(self) -> dict[str, tuple[int, bool | None]]:
        """Agents of the last full listing by cluster node, and whether each node is connected (None: unknown)."""
        counts = self._nodes.counts()
        connected = self._connected
        return {
            node: (count, None if connected is None else node in connected)
            for node, count in sorted(counts.items())
            if node
        }

    def cluster(self, now: datetime) -> Cluster | None:
        """The cluster's nodes for the judge's node alerts; None without a cluster (agents on fewer than 2 nodes).

        Which nodes are connected is read from `GET /cluster/healthcheck` at most every HEALTHCHECK_EVERY;
        a user without `cluster:read` still gets node alerts, without "the node left the cluster".
        """
        if len(self._node_names) < 2:
            return None
        due = self._health_at is None or not timedelta(0) <= now - self._health_at < HEALTHCHECK_EVERY
        if due:
            self._health_at = now
            try:
                self._connected = frozenset(self._api.cluster_nodes())
            except AuthError as exc:
                if self._connected is not None or not self._health_denied:
                    log.info("cluster health not readable (%s): node alerts cannot say whether a node left", exc)
                self._connected, self._health_denied = None, True
            except BackendError as exc:
                log.info("cluster health not readable: %s", exc)
                self._connected = None
        return Cluster(self._node_names, self._connected)

    def members(self, groups: Sequence[str], now: datetime) -> list[AgentInfo]:
        """The agents of these Wazuh agent groups (AGENT_DISCOVERY=groups:...), read again every FULL_LISTING_EVERY.

        Each agent once, with all of its groups; BackendError when the API cannot be read (the pass says so).
        """
        if self._members is None or now - self._members[0] >= self._full_every or now < self._members[0]:
            found: dict[str, AgentInfo] = {}
            for group in groups:
                for agent in self._api.members_of(group):
                    found.setdefault(agent.id, agent)
            self._members = (now, list(found.values()))
        return self._members[1]

    def handles(self, target: Target) -> bool:
        return target.kind in (TargetKind.AGENT, TargetKind.LOCATION) and target.agent_id is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        if not targets:
            return {}
        # The ids matter only to the pass's first listing (the monitor's, most often): not sorted again per slice.
        listing = self.agents(now, {t.agent_id or "" for t in targets} if self._listed is None else ())
        names, others, nodes = listing.names, listing.others, listing.nodes
        observations: dict[str, Observation] = {}
        for target in targets:
            agent_id = target.agent_id or ""
            agent = others.get(agent_id)
            if agent is not None:
                observations[target.key] = Observation(
                    target.key,
                    now,
                    agent_status=agent.status,
                    last_keepalive=agent.last_keepalive,
                    agent_name=agent.name,
                    status_code=agent.status_code,
                    detail=STATUS_CODE_WORDS.get(agent.status_code, ""),
                    node_name=agent.node_name or None,
                )
                continue
            name = names.get(agent_id)
            if name is None:
                observations[target.key] = Observation(
                    target.key, now, agent_status="not registered", detail=not_registered(agent_id)
                )
                continue
            observations[target.key] = Observation(
                target.key, now, agent_status="active", agent_name=name, node_name=nodes.get(agent_id)
            )
        return observations
