"""Agent status and lastKeepAlive from the Wazuh server API: the not-active agents each pass, everyone now and then."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from log_monitor.errors import BackendError
from log_monitor.models import Observation, Target, TargetKind
from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler

# The statuses that change a verdict; an agent the API does not list with one of them is active.
NOT_ACTIVE = "disconnected,never_connected,pending"
# The full listing (every agent, so names, registrations and removals) is this old at most.
FULL_LISTING_EVERY = timedelta(minutes=15)


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
        self._listed: dict[str, AgentInfo] | BackendError | None = None  # this pass's view of every agent
        self._full: dict[str, AgentInfo] = {}  # the last full listing
        self._full_at: datetime | None = None
        self._seen: set[str] = set()  # agent ids a full listing has answered for (listed, or asked and not registered)
        self.full_listings = 0

    def new_pass(self) -> None:
        """Forget the last listing: each pass reads a fresh status."""
        self._listed = None

    def agents(self, now: datetime | None = None, wanted: Sequence[str] = ()) -> dict[str, AgentInfo]:
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

    def _list(self, now: datetime | None, wanted: Sequence[str]) -> dict[str, AgentInfo]:
        stale = self._full_at is None or now is None or now - self._full_at >= self._full_every or now < self._full_at
        if stale or not self._seen.issuperset(wanted):
            self._full = {agent.id: agent for agent in self._api.list_agents(exclude_manager=True)}
            self._full_at = now
            self._seen = set(self._full) | self._seen | set(wanted)
            self.full_listings += 1
            return self._full
        not_active = {agent.id: agent for agent in self._api.list_agents(NOT_ACTIVE, exclude_manager=True)}
        listed: dict[str, AgentInfo] = {}
        for agent_id, agent in self._full.items():
            found = not_active.get(agent_id)
            if found is not None:
                listed[agent_id] = found
            elif agent.status == "active":
                listed[agent_id] = agent
            else:
                listed[agent_id] = AgentInfo(agent.id, agent.name, "active", None, agent.ip)
        # Registered since the full listing and not active yet: known now, named at the next full listing.
        listed.update((agent_id, agent) for agent_id, agent in not_active.items() if agent_id not in listed)
        return listed

    def handles(self, target: Target) -> bool:
        return target.kind in (TargetKind.AGENT, TargetKind.LOCATION) and target.agent_id is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        mine = [t for t in targets if self.handles(t)]
        if not mine:
            return {}
        agents = self.agents(now, sorted({t.agent_id or "" for t in mine}))
        observations: dict[str, Observation] = {}
        for target in mine:
            agent = agents.get(target.agent_id or "")
            if agent is None:
                observations[target.key] = Observation(target.key, now, agent_status="not registered")
                continue
            observations[target.key] = Observation(
                target.key,
                now,
                agent_status=agent.status,
                last_keepalive=agent.last_keepalive,
                agent_name=agent.name,
            )
        return observations
