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
        self._full_not_active: list[str] = []  # ids the last full listing gave a status other than active
        # Ids a full listing has answered for that the last one does not have (asked and not registered, removed).
        self._seen: set[str] = set()
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
        if stale or not all(agent_id in self._full or agent_id in self._seen for agent_id in wanted):
            full = {agent.id: agent for agent in self._api.list_agents(exclude_manager=True)}
            gone = self._full.keys() - full.keys()
            self._full = full
            self._full_not_active = [agent.id for agent in self._full.values() if agent.status != "active"]
            self._full_at = now
            # The listing's own ids are not stored twice (100,000 strings): `_seen` keeps the others.
            self._seen = (self._seen | gone | set(wanted)).difference(full)
            self.full_listings += 1
            return self._full
        not_active = {agent.id: agent for agent in self._api.list_agents(NOT_ACTIVE, exclude_manager=True)}
        # The full listing as it stands (copied whole: a loop over 100,000 agents per pass costs more than the
        # rest of this source), then the agents it had as not active and no longer are, then those now listed.
        listed = dict(self._full)
        for agent_id in self._full_not_active:
            if agent_id not in not_active:
                agent = self._full[agent_id]
                listed[agent_id] = AgentInfo(agent.id, agent.name, "active", None, agent.ip)
        # Registered since the full listing and not active yet: known now, named at the next full listing.
        listed.update(not_active)
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
