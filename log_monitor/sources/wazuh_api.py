"""Agent status and lastKeepAlive from the Wazuh server API, one paged listing per pass."""

from __future__ import annotations

from log_monitor.wazuh.api import AgentInfo, WazuhAPIHandler


class ApiStatusSource:
    """The status of every agent, read once per pass so each check uses a fresh status."""

    name = "api"

    def __init__(self, api: WazuhAPIHandler) -> None:
        self._api = api

    def agents(self) -> dict[str, AgentInfo]:
        """Every registered agent but the manager (000), by id."""
        return {agent.id: agent for agent in self._api.list_agents(exclude_manager=True)}
