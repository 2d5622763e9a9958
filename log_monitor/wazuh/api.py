"""WazuhAPIHandler: the Wazuh server API client (JWT login, re-login on 401, request budget, paging)."""

from __future__ import annotations

import base64
import binascii
import collections
import email.utils
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from log_monitor.clock import Clock, SystemClock
from log_monitor.config.keys import DEFAULTS
from log_monitor.errors import AgentError, AuthError, BackendError, RateLimitedError, ResponseError
from log_monitor.httpboundary import read_json
from log_monitor.models import Secret
from log_monitor.wazuh.client import BackendClient, Connection

log = logging.getLogger(__name__)

BACKEND = "Wazuh API"
DEFAULT_TOKEN_TTL_S = 900.0  # the API's default auth_token_exp_timeout
TOKEN_MARGIN_S = 30.0  # renew this long before expiry, so a token never dies mid-request
# ...but never more than this share of the token's lifetime: an API configured with 20 s tokens would
# otherwise be asked for a login before every request.
TOKEN_MARGIN_SHARE = 0.1
RATE_LIMIT_CODE = 6001
MAX_RATE_LIMIT_WAITS = 3
MANAGER_ID = "000"
# What the API says about ONE agent while it answers for every other (REALITY.md §8), in the SOC's words.
AGENT_ERRORS = {
    3022: "its cluster node is not in the cluster (Wazuh error 3022, Unknown node ID): the worker it reports to "
    "is down or left",
    3036: "the manager could not reach it (Wazuh error 3036): it is most likely disconnected",
    1015: "it never connected (Wazuh error 1015, Agent version is null)",
    1735: "it runs a version older than 4.2, which keeps no statistics to read (Wazuh error 1735)",
    1701: "Wazuh does not know it (error 1701): not registered",
    1707: "it is not active (Wazuh error 1707)",
}
_COMMAND_FORMATS = frozenset({"command", "full_command"})
_AGENT_PATH = re.compile(r"^/agents/(\d{3,})/")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """One agent as the API lists it: what the monitor needs of it."""

    id: str
    name: str
    status: str  # active, disconnected, never_connected, pending
    last_keepalive: datetime | None = None
    ip: str | None = None
    groups: tuple[str, ...] = ()  # its Wazuh agent groups: read only when listing by group (members_of)
    status_code: int = 0  # why it is in that status (REALITY.md §9); 0 when not listed
    node_name: str = ""  # the cluster node it is connected to


class WazuhAPIHandler(BackendClient):
    """A logged-in session with the Wazuh server API, on one shared httpx.Client."""

    backend = BACKEND
    default_retries = 4

    def __init__(
        self,
        connection: Connection,
        *,
        max_rpm: int = DEFAULTS["WAZUH_API_MAX_RPM"],
        clock: Clock | None = None,
        page_size: int = 500,
    ) -> None:
        super().__init__(connection)  # logs in for a token: no basic auth on every request
        self._user = connection.user
        self._password = connection.password
        self._clock = clock or SystemClock()
        self._max_rpm = max(1, max_rpm)
        self._page_size = page_size
        self._token: Secret | None = None
        self._token_expires: datetime | None = None
        self._token_renew_at: datetime | None = None
        self._sent: collections.deque[float] = collections.deque()  # monotonic times of our recent requests
        self.server_time: datetime | None = None  # the manager's clock at the last answer (its Date header)
        # Our clock minus the manager's, both read as that answer arrived: how old or late the answer is
        # does not enter it (a slow listing, or a pass long after the last answer, is not a wrong clock).
        self.clock_offset_s: float | None = None
        self.logins = 0

    # -- public calls ---------------------------------------------------------------

    def list_agents(self, status: str | None = None, *, exclude_manager: bool = True) -> list[AgentInfo]:
        """Every agent (optionally of one status), paged by total_affected_items."""
        return list(self.iter_agents(status, exclude_manager=exclude_manager))

    def iter_agents(self, status: str | None = None, *, exclude_manager: bool = True) -> Iterator[AgentInfo]:
        """As list_agents, a page at a time: at 100,000 agents the whole list is 30 MB the pass never needs."""
        params: dict[str, str] = {"select": "id,name,status,lastKeepAlive,ip,status_code,node_name", "sort": "+id"}
        if status:
            params["status"] = status
        for item in self._paged_by_id("/agents", params, after=MANAGER_ID if exclude_manager else None):
            agent = _agent(item)
            if not (exclude_manager and agent.id == MANAGER_ID):
                yield agent

    def members_of(self, group: str) -> Iterator[AgentInfo]:
        """Every agent of one Wazuh agent group (`GET /agents?group=`), with all of its groups."""
        params = {"select": "id,name,status,lastKeepAlive,ip,group,status_code,node_name", "group": group}
        for item in self._paged_by_id("/agents", params, after=MANAGER_ID):
            agent = _agent(item)
            if agent.id != MANAGER_ID:
                yield agent

    def group_names(self) -> list[str]:
        """Every agent group the manager has (`GET /groups`)."""
        return [str(item.get("name", "")) for item in self._paged("/groups", {"select": "name"})]

    def logcollector_stats(self, agent_id: str) -> dict[str, Any]:
        """The agent's logcollector counters (events and bytes per location)."""
        data = _data(self._get(f"/agents/{agent_id}/stats/logcollector", {}))
        items = data.get("affected_items") or []
        if not items:
            # A 200 with the agent among failed_items (never connected, too old, unknown): that agent's error.
            code, message = _failed_item(data)
            if code is not None:
                raise AgentError(BACKEND, agent_problem(agent_id, code, message), code=code)
            return {}
        first = items[0]
        return first if isinstance(first, dict) else {}

    def localfiles(self, agent_id: str) -> list[str]:
        """The log locations in the agent's active configuration (`GET /agents/{id}/config/logcollector/localfile`).

        Commands (their output is named by the command) and wildcard paths (events name each file) are left out.
        """
        data = _data(self._get(f"/agents/{agent_id}/config/logcollector/localfile", {}))
        entries = data.get("localfile")
        found = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("command") or entry.get("logformat") in _COMMAND_FORMATS:
                continue
            location = entry.get("file")
            if isinstance(location, str) and location and not any(c in location for c in "*?["):
                found.append(location)
        return found

    def cluster_nodes(self) -> list[str]:
        """The names of the nodes connected to the cluster (`GET /cluster/healthcheck`, RBAC `cluster:read`).

        A worker that left is absent (REALITY.md §9). AuthError when the user lacks `cluster:read`.
        """
        items = _data(self._get("/cluster/healthcheck", {})).get("affected_items")
        names = []
        for item in items if isinstance(items, list) else []:
            info = item.get("info") if isinstance(item, dict) else None
            if isinstance(info, dict) and isinstance(info.get("name"), str):
                names.append(info["name"])
        return names

    def info(self) -> str:
        """The API's title and version, for `check-config --connect`."""
        data = _data(self._get("/", {}))
        return f"{data.get('title', 'Wazuh API')} {data.get('api_version', '?')}"

    # -- session --------------------------------------------------------------------

    def _login(self) -> Secret:
        """POST /security/user/authenticate with Basic auth; the token is reused until near expiry."""
        response = self._send("POST", "/security/user/authenticate", auth=(self._user, self._password.reveal()))
        if response.status_code in (401, 403):
            raise AuthError(BACKEND, f"login refused for user {self._user!r}: {_detail(response)}")
        _raise_for_status(response)
        try:
            token = str(read_json(response.content)["data"]["token"])
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ResponseError(BACKEND, "login answer holds no token") from exc
        self.logins += 1
        self._token = Secret(token)
        now = self._clock.now()
        lifetime = _token_lifetime(token, now) or DEFAULT_TOKEN_TTL_S
        # Timed by our clock from the token's own lifetime (exp - nbf, both the API's clock), so a clock
        # skew between us and the API neither expires a fresh token nor keeps a dead one.
        self._token_expires = now + timedelta(seconds=lifetime)
        self._token_renew_at = self._token_expires - timedelta(
            seconds=min(TOKEN_MARGIN_S, lifetime * TOKEN_MARGIN_SHARE)
        )
        log.debug("logged in to the Wazuh API as %s; token valid until %s", self._user, self._token_expires)
        return self._token

    def _valid_token(self) -> Secret:
        if self._token is None or self._token_renew_at is None or self._clock.now() >= self._token_renew_at:
            return self._login()
        return self._token

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        token = self._valid_token()
        response = self._send("GET", path, params=params, token=token)
        if response.status_code == 401:
            # Tokens die early when the API restarts or a user's roles change: log in again, once.
            log.info("Wazuh API answered 401 (%s); logging in again", _detail(response))
            token = self._login()
            response = self._send("GET", path, params=params, token=token)
            if response.status_code == 401:
                raise AuthError(BACKEND, f"401 after a fresh login: {_detail(response)}")
        if response.status_code == 403:
            raise AuthError(BACKEND, f"permission denied for {path}: {_detail(response)}")
        _raise_for_status(response)
        return self._json(response, path)

    def _paged_by_id(self, path: str, params: Mapping[str, str], *, after: str | None) -> Iterator[dict[str, Any]]:
        """Every item, a page at a time, each page the ids after the last one seen (`q=id>N`, `sort=+id`).

        Not by offset: an agent deleted between two pages would shift the rest by one and the first of the
        next page would be skipped (REALITY.md §9). Wazuh compares `id` as the INTEGER column it is.
        """
        while True:
            page = dict(params, limit=str(self._page_size), sort="+id")
            if after is not None:
                page["q"] = f"id>{after}"
            data = _data(self._get(path, page))
            items = data.get("affected_items")
            total = data.get("total_affected_items")  # of the ids after `after`: what is left
            if not isinstance(items, list) or not isinstance(total, int):
                raise ResponseError(BACKEND, f"{path}: answer lacks affected_items/total_affected_items")
            last = None
            for item in items:
                if isinstance(item, dict):
                    last = item.get("id", last)
                    yield item
            if not items or len(items) >= total or not isinstance(last, str) or last == after:
                return
            after = last

    def _paged(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """Every item of a listing that has no numeric id (groups), by offset."""
        offset = 0
        while True:
            page = dict(params, limit=str(self._page_size), offset=str(offset))
            data = _data(self._get(path, page))
            items = data.get("affected_items")
            total = data.get("total_affected_items")
            if not isinstance(items, list) or not isinstance(total, int):
                raise ResponseError(BACKEND, f"{path}: answer lacks affected_items/total_affected_items")
            for item in items:
                if isinstance(item, dict):
                    yield item
            offset += len(items)
            if not items or offset >= total:
                return

    # -- transport: budget, 429, retries ----------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        token: Secret | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """One request under the budget, retried on connection errors and 5xx, waiting out 429s."""
        for _ in range(MAX_RATE_LIMIT_WAITS + 1):
            response = self._retrying(lambda: self._send_once(method, path, params=params, token=token, auth=auth))
            if response.status_code != 429:
                return response
            # The API sends no Retry-After: its counter resets each minute, so wait for the window to roll.
            wait = self._rate_limit_wait()
            log.warning("Wazuh API request budget exhausted (429, error %s); waiting %.0f s", RATE_LIMIT_CODE, wait)
            self._sleep(wait)
        raise RateLimitedError(BACKEND, f"still rate limited after {MAX_RATE_LIMIT_WAITS} waits")

    def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        token: Secret | None,
        auth: tuple[str, str] | None,
    ) -> httpx.Response:
        self._spend_budget()
        headers = {"Authorization": f"Bearer {token.reveal()}"} if token is not None else {}
        return self._exchange(method, path, params=params, headers=headers, auth=auth)

    def _observe(self, response: httpx.Response) -> None:
        stamp = _server_time(response)
        if stamp is not None:
            self.server_time = stamp
            self.clock_offset_s = (self._clock.now() - stamp).total_seconds()

    def _server_error(self, what: str, response: httpx.Response) -> BackendError:
        # A 500 about one agent (3036, disconnected) fails again at once: not retried, and not the API's.
        return _agent_error(response) or super()._server_error(what, response)

    def _spend_budget(self) -> None:
        """Keep under WAZUH_API_MAX_RPM requests in any 60 s, so other API users keep their share."""
        now = self._clock.monotonic()
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) >= self._max_rpm:
            wait = 60.0 - (now - self._sent[0])
            log.info("request budget of %d/min reached; waiting %.1f s", self._max_rpm, wait)
            self._sleep(max(wait, 0.0))
            now = self._clock.monotonic()
            while self._sent and now - self._sent[0] >= 60.0:
                self._sent.popleft()
        self._sent.append(now)

    def _rate_limit_wait(self) -> float:
        """Seconds until the API's minute window has surely rolled over."""
        now = self._clock.monotonic()
        if self._sent:
            return max(1.0, 60.0 - (now - self._sent[0]) + 1.0)
        return 60.0


def _server_time(response: httpx.Response) -> datetime | None:
    """The manager's clock from the Date header (uvicorn sends it; the indexer does not: REALITY.md §5)."""
    try:
        stamp = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ResponseError(BACKEND, "answer lacks its data object")
    return data


def _agent(item: Mapping[str, Any]) -> AgentInfo:
    return AgentInfo(
        id=str(item.get("id", "")),
        name=str(item.get("name", "")),
        status=str(item.get("status", "unknown")),
        last_keepalive=parse_time(item.get("lastKeepAlive")),
        ip=str(item["ip"]) if item.get("ip") else None,
        groups=tuple(str(g) for g in groups) if isinstance(groups := item.get("group"), list) else (),
        status_code=code if isinstance(code := item.get("status_code"), int) and not isinstance(code, bool) else 0,
        node_name=str(item.get("node_name") or ""),
    )


def parse_time(value: object) -> datetime | None:
    """The API's timestamps (`Z`, `+00:00` or none, read as UTC); never_connected agents carry none (or 9999)."""
    if not isinstance(value, str) or not value or value.startswith("9999"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _token_lifetime(token: str, now: datetime) -> float | None:
    """Seconds a JWT lives, from its claims read without verifying them (the API verifies; we only plan renewal).

    `exp - nbf` (or `iat`) when the token has them, else `exp` against our clock; None when unreadable
    or not positive.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expires = float(claims["exp"])
        issued = claims.get("nbf", claims.get("iat"))
        lifetime = expires - float(issued) if issued is not None else expires - now.timestamp()
    except (IndexError, ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        return None
    return lifetime if 0 < lifetime < 10 * 365 * 86400 else None


def _detail(response: httpx.Response) -> str:
    try:
        body = read_json(response.content)
    except (ValueError, RecursionError):
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def agent_problem(agent_id: str, code: int, message: str = "") -> str:
    """An error about one agent in words: what it means, with Wazuh's code."""
    words = AGENT_ERRORS.get(code) or f"Wazuh error {code}" + (f": {message}" if message else "")
    return f"statistics of agent {agent_id} unreadable: {words}"


def _error_code(response: httpx.Response) -> int | None:
    try:
        body = read_json(response.content)
    except (ValueError, RecursionError):
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _agent_error(response: httpx.Response) -> AgentError | None:
    """The AgentError for an error answer about one agent (a per-agent path and an AGENT_ERRORS code), else None."""
    found = _AGENT_PATH.match(response.request.url.path)
    code = _error_code(response) if found else None
    if found is None or code not in AGENT_ERRORS:
        return None
    assert code is not None
    return AgentError(BACKEND, agent_problem(found.group(1), code), code=code)


def _failed_item(data: Mapping[str, Any]) -> tuple[int | None, str]:
    failed = data.get("failed_items")
    first = failed[0] if isinstance(failed, list) and failed and isinstance(failed[0], dict) else {}
    error = first.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return None, ""
    return int(error["code"]), str(error.get("message", ""))


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        agent_error = _agent_error(response)
        if agent_error is not None:
            raise agent_error
        raise ResponseError(BACKEND, f"{response.request.method} {response.request.url.path}: {_detail(response)}")
