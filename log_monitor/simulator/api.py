"""The Wazuh server API 4.14.7's front door as the spec says: faults, rate limit, routes, login and JWT checks."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from log_monitor.simulator.apiendpoints import Endpoints, EndpointsHost
from log_monitor.simulator.apiquery import bad_request
from log_monitor.simulator.httpd import JSON, App, HttpError, Reply, basic_credentials, json_reply

RATE_LIMIT_ERROR = 6001
DOCS = "https://documentation.wazuh.com/4.14/user-manual/api"


class ApiHost(EndpointsHost, Protocol):
    """What the API reads of the SimulatorServer: its users, rate limit and tokens (and what the endpoints read)."""

    api_users: dict[str, str]
    max_rpm: int

    def issue_token(self, user: str) -> str: ...

    def verify_token(self, token: str) -> str | None: ...


# As the spec's PermissionDeniedResponse example (shared/wazuh/examples/error_403_permission_denied.json).
_PERMISSION_DENIED: JSON = {
    "title": "Permission Denied",
    "detail": "Permission denied: Resource type: *:*",
    "remediation": "Please, make sure you have permissions to execute the current request. For more information "
    "on how to set up permissions, please visit "
    "https://documentation.wazuh.com/4.14/user-manual/api/rbac/configuration.html",
    "error": 4000,
    "dapi_errors": {"unknown-node": {"error": "Permission denied: Resource type: *:*"}},
}


class WazuhApi(App[ApiHost]):
    """The Wazuh server API's front: its middlewares (faults, rate limit), routes and authentication."""

    def __init__(self, owner: ApiHost) -> None:
        super().__init__(owner)
        # The API's fixed window (api/middlewares.py check_rate_limit): it opens at a request, counts every request
        # for 60 s, rejected ones too, and the request that opens the next window counts 0.
        self._window_start: float | None = None
        self._window_count = 0
        self._lock = threading.Lock()
        self._endpoints = Endpoints(owner)

    def transport_fault(self) -> str:
        return self._owner.faults.api_transport

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        owner = self._owner
        stats = owner.stats
        stats.bump("api_requests")
        split = urlsplit(target)
        path = unquote(split.path).rstrip("/") or "/"
        stats.record("last_api_path", path)
        try:
            self._check_faults()
            self._check_rate()
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            return self._route(method, path, params, headers)
        except HttpError as exc:
            if exc.status == 401:
                stats.bump("api_401")
            elif exc.status == 429:
                stats.bump("api_429")
            elif exc.status >= 500:
                stats.bump("api_500")
            return json_reply(exc.status, exc.body, exc.headers)

    def _check_faults(self) -> None:
        faults = self._owner.faults
        with self._lock:
            failing = faults.fail_next_api > 0
            if failing:
                faults.fail_next_api -= 1
        if failing or faults.api_mode == "down":
            raise HttpError(
                500,
                {
                    "title": "Internal Error",
                    "detail": "Wazuh Internal Error: the simulator was told to fail",
                    "error": 1000,
                },
            )

    def _check_rate(self) -> None:
        # Counted before authentication, as the real API's middleware does: failed logins use the budget too.
        now = self._owner.clock.monotonic()
        with self._lock:
            if self._window_start is None:
                self._window_start = now
            if now - 60.0 <= self._window_start:
                self._window_count += 1
            else:
                self._window_start, self._window_count = now, 0
            # max_rpm 0 is the tests' 429 storm: every request refused, the one opening a window too.
            if self._window_count > self._owner.max_rpm or self._owner.max_rpm <= 0:
                raise HttpError(
                    429,
                    {
                        "title": "Too Many Requests",
                        "detail": "Maximum number of requests per minute reached",
                        "remediation": "This limit can be changed in api.yaml file. More information here: "
                        f"{DOCS}/security/configuration.html",
                        "error": RATE_LIMIT_ERROR,
                    },
                )

    def _route(self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Reply:
        if path == "/security/user/authenticate":
            self._allow(method, ("GET", "POST"))
            return self._login(params, headers)
        parts = path.strip("/").split("/")
        if path == "/":
            self._allow(method, ("GET",))
            self._authorize(headers)
            return json_reply(200, {"data": self._endpoints.info(), "error": 0})
        if parts == ["agents"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            return json_reply(200, self._endpoints.agents(params))
        if parts == ["groups"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            return json_reply(200, self._endpoints.groups(params))
        if parts == ["cluster", "healthcheck"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            if self._owner.faults.cluster_denied:
                raise HttpError(403, _PERMISSION_DENIED)
            return json_reply(200, self._endpoints.healthcheck())
        if len(parts) == 5 and parts[0] == "agents" and parts[2] == "config":
            self._allow(method, ("GET",))
            self._authorize(headers)
            return json_reply(200, self._endpoints.agent_config(parts[1], parts[3], parts[4]))
        if len(parts) == 4 and parts[0] == "agents" and parts[2] == "stats":
            self._allow(method, ("GET",))
            self._authorize(headers)
            if self._owner.faults.api_stats_denied:
                raise HttpError(403, _PERMISSION_DENIED)
            return json_reply(200, self._endpoints.component_stats(parts[1], parts[3], params))
        raise HttpError(404, {"title": "Not Found", "detail": "404: Not Found"})

    @staticmethod
    def _allow(method: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise HttpError(
                405, {"title": "Method Not Allowed", "detail": "Specified method is invalid for this resource"}
            )

    # -- authentication ------------------------------------------------------------------

    def _login(self, params: dict[str, str], headers: Mapping[str, str]) -> Reply:
        extra = set(params) - {"raw", "pretty", "wait_for_complete"}
        if extra:
            raise bad_request(f"Extra query parameter(s) {', '.join(sorted(extra))} not in spec")
        raw = params.get("raw", "false").lower()
        if raw not in ("true", "false"):
            raise bad_request(f"'{params['raw']}' is not of type 'boolean'")
        credentials = basic_credentials(headers)
        if credentials is None:
            raise HttpError(401, {"title": "Unauthorized", "detail": "No authorization token provided"})
        user, password = credentials
        expected = self._owner.api_users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise HttpError(401, {"title": "Unauthorized", "detail": "Invalid credentials"})
        token = self._owner.issue_token(user)
        self._owner.stats.bump("api_logins")
        if raw == "true":
            return Reply(200, token.encode(), content_type="text/plain")
        return json_reply(200, {"data": {"token": token}, "error": 0})

    def _authorize(self, headers: Mapping[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if not value:
            raise HttpError(401, {"title": "Unauthorized", "detail": "No authorization token provided"})
        user = self._owner.verify_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HttpError(401, {"title": "Unauthorized", "detail": "Invalid token"})
        return user
