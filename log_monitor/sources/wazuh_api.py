"""Agent status and lastKeepAlive from the Wazuh server API, one paged listing per pass."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from log_monitor.errors import BackendError
from log_monitor.models import Observation, Target, TargetKind
from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler


class ApiStatusSource:
    """The status of every agent, read once per pass so each check uses a fresh status; it counts no events."""

    name = "api"
    backend = "api"
    counts_events = False

    def __init__(self, api: WazuhAPIHandler) -> None:
        self._api = api
        self._listed: dict[str, AgentInfo] | BackendError | None = None

    def new_pass(self) -> None:
        """Forget the last listing: each pass reads a fresh status."""
        self._listed = None

    def agents(self) -> dict[str, AgentInfo]:
        """Every registered agent but the manager (000), by id; listed (or failed) once per pass."""
        if self._listed is None:
            try:
                self._listed = {agent.id: agent for agent in self._api.list_agents(exclude_manager=True)}
            except BackendError as exc:
                self._listed = exc
        if isinstance(self._listed, BackendError):
            raise self._listed
        return self._listed

    def handles(self, target: Target) -> bool:
        return target.kind in (TargetKind.AGENT, TargetKind.LOCATION) and target.agent_id is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        mine = [t for t in targets if self.handles(t)]
        if not mine:
            return {}
        agents = self.agents()
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
