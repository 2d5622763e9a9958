"""Agent status and lastKeepAlive from the Wazuh server API: the not-active agents each pass, everyone now and then."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from log_monitor.errors import BackendError
from log_monitor.models import Observation, Target, TargetKind
from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler

# The statuses that change a verdict; an agent the API does not list with one of them is active.
NOT_ACTIVE = "disconnected,never_connected,pending"
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

    __slots__ = ("names", "others")

    def __init__(self, names: Mapping[str, str], others: Mapping[str, AgentInfo]) -> None:
        self.names = names
        self.others = others

    def __getitem__(self, agent_id: str) -> AgentInfo:
        other = self.others.get(agent_id)
        if other is not None:
            return other
        return AgentInfo(agent_id, self.names[agent_id], "active")

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.others or agent_id in self.names

    def __iter__(self) -> Iterator[str]:
        yield from self.names
        yield from (agent_id for agent_id in self.others if agent_id not in self.names)

    def __len__(self) -> int:
        return len(self.names) + sum(1 for agent_id in self.others if agent_id not in self.names)


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
        # Ids a full listing has answered for that the last one does not have (asked and not registered, removed).
        self._seen: set[str] = set()
        self.full_listings = 0

    def new_pass(self) -> None:
        """Forget the last listing: each pass reads a fresh status."""
        self._listed = None

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
            not_active: dict[str, AgentInfo] = {}
            # Keyed by the targets' own id strings where they have one: the listing's copies (5 MB at 100,000
            # agents) are let go with its pages.
            own = {agent_id: agent_id for agent_id in wanted}
            for agent in self._api.iter_agents(exclude_manager=True):
                names[own.get(agent.id, agent.id)] = agent.name
                if agent.status != "active":
                    not_active[agent.id] = agent
            gone = self._names.keys() - names.keys()
            self._names, self._full_not_active = names, not_active
            self._full_at = now
            # The listing's own ids are not stored twice (100,000 strings): `_seen` keeps the others.
            self._seen = (self._seen | gone | set(wanted)).difference(names)
            self.full_listings += 1
            return Listing(names, not_active)
        # The agents the full listing had as not active and no longer are, are active (only named) now;
        # those registered since the full listing and not active yet are known now, named at the next one.
        listed = {agent.id: agent for agent in self._api.list_agents(NOT_ACTIVE, exclude_manager=True)}
        return Listing(self._names, listed)

    def handles(self, target: Target) -> bool:
        return target.kind in (TargetKind.AGENT, TargetKind.LOCATION) and target.agent_id is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        if not targets:
            return {}
        # The ids matter only to the pass's first listing (the monitor's, most often): not sorted again per slice.
        listing = self.agents(now, {t.agent_id or "" for t in targets} if self._listed is None else ())
        names, others = listing.names, listing.others
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
                )
                continue
            name = names.get(agent_id)
            if name is None:
                observations[target.key] = Observation(
                    target.key, now, agent_status="not registered", detail=not_registered(agent_id)
                )
                continue
            observations[target.key] = Observation(target.key, now, agent_status="active", agent_name=name)
        return observations
