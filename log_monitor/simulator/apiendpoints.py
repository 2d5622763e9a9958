"""What the Wazuh API's endpoints answer, from the Fleet: agents, groups, statistics, configuration, cluster."""

from __future__ import annotations

import bisect
import json
import re
from typing import Protocol

from log_monitor.simulator.apiquery import (
    AGENTS_PARAMS,
    FIELD_FILTERS,
    ID_AFTER,
    agent_item,
    bad_request,
    int_param,
    lookup,
    parse_q,
    select_fields,
    sort_items,
    wazuh_time,
)
from log_monitor.simulator.fleet import MANAGER_ID, NODE_NAME, STATUSES, Fleet, SimAgent
from log_monitor.simulator.httpd import JSON, Host, HttpError
from log_monitor.simulator.stats import SimStats

API_VERSION = "4.14.7"
API_TITLE = "Wazuh API REST"
MAX_LIMIT = 100_000


class EndpointsHost(Host, Protocol):
    """What the endpoints read of the SimulatorServer: the fleet, the schema (5.0 says API 5.0.0), the counters."""

    fleet: Fleet
    stats: SimStats
    schema: str


class Endpoints:
    """The answers of the API's endpoints once a request is let in; the agents listing is cached between pages."""

    def __init__(self, owner: EndpointsHost) -> None:
        self._owner = owner
        self._listing_cache: tuple[object, list[JSON]] | None = None

    def info(self) -> JSON:
        return {
            "title": API_TITLE,
            "api_version": "5.0.0" if self._owner.schema == "5.x" else API_VERSION,
            "revision": "rc1",
            "license_name": "GPL 2.0",
            "license_url": f"https://github.com/wazuh/wazuh/blob/v{API_VERSION}/LICENSE",
            "hostname": "wazuh-manager",
            "timestamp": wazuh_time(self._owner.clock.now()),
        }

    def groups(self, params: dict[str, str]) -> JSON:
        """GET /groups: every agent group with its agent count, paged like /agents."""
        unknown = sorted(set(params) - {"pretty", "wait_for_complete", "offset", "limit", "select", "sort", "search"})
        if unknown:
            raise bad_request(f"Extra query parameter(s) {', '.join(unknown)} not in spec")
        offset = int_param(params, "offset", 0, 0, None)
        limit = int_param(params, "limit", 500, 1, MAX_LIMIT)
        items: list[JSON] = [
            {"name": name, "count": count, "mergedSum": "", "configSum": ""}
            for name, count in sorted(self._owner.fleet.groups().items())
        ]
        return {
            "data": {
                "affected_items": items[offset : offset + limit],
                "total_affected_items": len(items),
                "total_failed_items": 0,
                "failed_items": [],
            },
            "message": "All selected groups information was returned",
            "error": 0,
        }

    def agents(self, params: dict[str, str]) -> JSON:
        unknown = sorted(set(params) - AGENTS_PARAMS)
        if unknown:
            raise bad_request(f"Extra query parameter(s) {', '.join(unknown)} not in spec")
        offset = int_param(params, "offset", 0, 0, None)
        limit = int_param(params, "limit", 500, 1, MAX_LIMIT)
        fleet = self._owner.fleet
        # Paging by id (q=id>N, sort=+id) asks the same listing from a later id: the listing is cached without
        # that q, and the page found by bisection, so 100,000 agents paged by id cost one build, as by offset.
        after = ID_AFTER.fullmatch(params.get("q", "")) if params.get("sort") == "+id" else None
        if after is not None:
            params = {k: v for k, v in params.items() if k != "q"}
        # Paging re-asks the same listing: keep it while neither the fleet nor the second changes,
        # so a 100,000-agent listing costs one build, not one per page.
        cache_key = (
            tuple(sorted((k, v) for k, v in params.items() if k not in ("offset", "limit", "select"))),
            fleet.version,
            int(fleet.now().timestamp()),
        )
        cached = self._listing_cache
        if cached is not None and cached[0] == cache_key:
            items = cached[1]
        else:
            items = self._listing(params)
            self._listing_cache = (cache_key, items)
        first = 0
        if after is not None:
            first = bisect.bisect_right(items, int(after.group(1)), key=lambda item: int(item["id"]))
        total = len(items) - first
        page = items[first + offset : first + offset + limit]
        if params.get("select"):
            fields = [part.strip() for part in params["select"].split(",") if part.strip()]
            page = [select_fields(item, fields) for item in page]
        self._owner.stats.bump("api_agents_pages")
        return {
            "data": {
                "affected_items": page,
                "total_affected_items": total,
                "total_failed_items": 0,
                "failed_items": [],
            },
            "message": "All selected agents information was returned" if total else "No agent information was returned",
            "error": 0,
        }

    def _listing(self, params: dict[str, str]) -> list[JSON]:
        """Every agent item the filters and sort of a GET /agents select, before paging."""
        items = [agent_item(agent) for agent in self._owner.fleet.agents()]
        if "agents_list" in params:
            wanted = {part.strip() for part in params["agents_list"].split(",") if part.strip()}
            items = [item for item in items if item["id"] in wanted]
        if "status" in params:
            statuses = [part.strip() for part in params["status"].split(",")]
            bad = [s for s in statuses if s not in STATUSES]
            if bad or not statuses:
                raise bad_request(f"'{bad[0] if bad else ''}' is not one of {list(STATUSES)}")
            items = [item for item in items if item["status"] in statuses]
        for name in FIELD_FILTERS:
            if name in params:
                items = [item for item in items if str(lookup(item, name)) == params[name]]
        if "group" in params:
            items = [item for item in items if params["group"] in item.get("group", [])]
        if "search" in params:
            needle = params["search"].lower()
            items = [item for item in items if needle in json.dumps(item).lower()]
        if params.get("q"):
            predicate = parse_q(params["q"])
            items = [item for item in items if predicate(item)]
        if params.get("sort"):
            items = sort_items(items, params["sort"])
        return items

    def component_stats(self, agent_id: str, component: str, params: dict[str, str]) -> JSON:
        extra = set(params) - {"pretty", "wait_for_complete"}
        if extra:
            raise bad_request(f"Extra query parameter(s) {', '.join(sorted(extra))} not in spec")
        if component not in ("logcollector", "agent"):
            raise bad_request(f"'{component}' is not one of ['logcollector', 'agent']")
        if not re.fullmatch(r"\d{3,}", agent_id):
            raise bad_request(f"'{agent_id}' does not match '^[0-9]{{3,}}$'")
        agents = {agent.id: agent for agent in self._owner.fleet.agents()}
        agent = agents.get(agent_id)
        failure = self._stats_failure(agent)
        if failure is not None:
            code, message = failure
            return {
                "data": {
                    "affected_items": [],
                    "total_affected_items": 0,
                    "total_failed_items": 1,
                    "failed_items": [{"error": {"code": code, "message": message}, "id": [agent_id]}],
                },
                "message": "Could not read statistical information for any agent",
                "error": 1,
            }
        now = self._owner.clock.now()
        if component == "logcollector":
            if agent_id == MANAGER_ID:
                item: JSON = {
                    "global": {"start": wazuh_time(now), "end": wazuh_time(now), "files": []},
                    "interval": {"start": wazuh_time(now), "end": wazuh_time(now), "files": []},
                }
            else:
                item = self._owner.fleet.logcollector_stats(agent_id)
        else:
            keepalive = wazuh_time(agent.last_keepalive or now) if agent is not None else wazuh_time(now)
            item = {
                "status": "connected",
                "last_keepalive": keepalive,
                "last_ack": keepalive,
                "msg_count": 0,
                "msg_sent": 0,
                "msg_buffer": 0,
                "buffer_enabled": True,
            }
        return {
            "data": {
                "affected_items": [item],
                "total_affected_items": 1,
                "total_failed_items": 0,
                "failed_items": [],
            },
            "message": "Statistical information for each agent was successfully read",
            "error": 0,
        }

    def healthcheck(self) -> JSON:
        """GET /cluster/healthcheck: the connected nodes only (a worker that left is absent; REALITY.md §9)."""
        now = wazuh_time(self._owner.clock.now())
        items: list[JSON] = []
        for name, active in self._owner.fleet.nodes().items():
            master = name == NODE_NAME
            info = {"name": name, "type": "master" if master else "worker", "version": API_VERSION, "ip": name}
            item: JSON = {"info": {**info, "n_active_agents": active}}
            if not master:
                item["status"] = {"sync_integrity_free": True, "sync_agent_info_free": True, "last_keep_alive": now}
            items.append(item)
        return {
            "data": {
                "affected_items": items,
                "total_affected_items": len(items),
                "total_failed_items": 0,
                "failed_items": [],
            },
            "message": "All selected nodes healthcheck information was returned",
            "error": 0,
        }

    def agent_config(self, agent_id: str, component: str, configuration: str) -> JSON:
        """GET /agents/{id}/config/logcollector/localfile: the <localfile>s as logcollector reports them
        (src/logcollector getLocalfileConfig: `file`, `logformat`, `target`), forwarded like the statistics."""
        if (component, configuration) != ("logcollector", "localfile"):
            raise bad_request(f"the simulator serves logcollector/localfile only, not {component}/{configuration}")
        agent = next((a for a in self._owner.fleet.agents() if a.id == agent_id), None)
        if agent is None or agent.id == MANAGER_ID:
            raise bad_request("Agent does not exist", 1701)
        self._check_reachable(agent)
        if agent.status != "active":
            raise bad_request("Cannot send request, agent is not active", 1707)
        files = [
            {"file": location, "logformat": logformat, "target": ["agent"]}
            for location, logformat in self._owner.fleet.localfiles(agent_id)
        ]
        return {"data": {"localfile": files}, "error": 0}

    def _stats_failure(self, agent: SimAgent | None) -> tuple[int, str] | None:
        """The failed_items error for one agent's statistics, or None; raises for the HTTP errors of REALITY.md §8."""
        if agent is None:
            return 1701, "Agent does not exist"
        self._check_reachable(agent)
        if agent.status == "never_connected":
            return 1015, "Agent version is null. Was the agent ever connected?"
        if agent.status != "active":
            return 1707, "Cannot send request, agent is not active"
        return None

    def _check_reachable(self, agent: SimAgent) -> None:
        """The master forwards the request to the agent's node, which asks the agent (REALITY.md §8)."""
        if agent.id == MANAGER_ID:
            return
        _, up = self._owner.fleet.node_of(agent.id)
        if not up:
            raise HttpError(
                400,
                {
                    "title": "Bad Request",
                    "detail": "Unknown node ID",
                    "remediation": "Check the name of the node",
                    "error": 3022,
                },
            )
        if agent.status == "disconnected":
            # remoted answers `err Cannot send request`, which the framework cannot parse as JSON.
            raise HttpError(500, {"title": "Wazuh Internal Error", "detail": "JSON couldn't be loaded", "error": 3036})
