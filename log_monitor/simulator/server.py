"""Loopback HTTP servers answering as the Wazuh server API 4.14.7 and the Wazuh indexer for a scripted Fleet."""

from __future__ import annotations

import abc
import base64
import binascii
import bisect
import collections
import contextlib
import email.utils
import fnmatch
import functools
import hashlib
import hmac
import itertools
import json
import logging
import re
import secrets
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from log_monitor.clock import Clock, SystemClock
from log_monitor.simulator.filterpath import filtered
from log_monitor.simulator.fleet import (
    MANAGER_ID,
    NODE_NAME,
    STATUSES,
    WAZUH_VERSION,
    Fleet,
    SimAgent,
    ceil_ms,
    from_ms,
    to_ms,
)

log = logging.getLogger(__name__)

API_VERSION = "4.14.7"
API_TITLE = "Wazuh API REST"
ISSUER = "wazuh"
AUDIENCE = "Wazuh API REST"
RATE_LIMIT_ERROR = 6001
DOCS = "https://documentation.wazuh.com/4.14/user-manual/api"
MAX_LIMIT = 100_000
MAX_BODY = 10 * 1024 * 1024

JSON = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Shared state


@dataclass
class SimStats:
    """Counters of what the simulator was asked; safe to read from any thread."""

    api_requests: int = 0
    api_logins: int = 0
    api_401: int = 0
    api_429: int = 0
    api_500: int = 0
    api_agents_pages: int = 0
    indexer_requests: int = 0
    indexer_searches: int = 0
    indexer_counts: int = 0
    indexer_errors: int = 0
    indexer_empty_patterns: int = 0  # searches on a pattern that matched no index
    # What a real indexer would visit: every document inside a search's query, once per request (each page of a
    # composite aggregation runs the query again), and the bytes of the answers.
    indexer_docs_visited: int = 0
    indexer_answer_bytes: int = 0
    last_search_body: JSON | None = None
    last_count_body: JSON | None = None
    last_api_path: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self, name, getattr(self, name) + 1)

    def add(self, name: str, amount: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def record(self, name: str, value: object) -> None:
        with self._lock:
            setattr(self, name, value)


@dataclass
class Faults:
    """Failures to inject; tests set these while the server runs (the demo never does).

    Each request reads them afresh; only `fail_next_api` is counted down, under the API's lock.
    """

    # ok, down, shard_failure, timed_out (partial search results), unauthorized; overloaded (429
    # rejected_execution_exception), breaker (429 circuit_breaking_exception), all_shards_failed (503
    # search_phase_execution_exception): the searches only, as OpenSearch's search thread pool and breakers do.
    indexer_mode: str = "ok"
    overloaded_next: int = 0  # the next N searches get 429 rejected_execution_exception
    api_mode: str = "ok"  # ok, down
    # RBAC: the user may list agents but not read their statistics (4000 Permission Denied on /agents/*/stats).
    api_stats_denied: bool = False
    cluster_denied: bool = False  # RBAC: the user lacks cluster:read (403 on /cluster/healthcheck)
    fail_next_api: int = 0  # the next N API requests get 500
    # Failures below HTTP, one of TRANSPORT_FAULTS, for every request to that service while set:
    api_transport: str = "ok"
    indexer_transport: str = "ok"
    # A shard with no live copy (REALITY.md §10): the searches answer 200 with `_shards.failed` 1 of 6 and no
    # `failures` entry, and lack these agents' documents (all on the lost shard).
    lost_shard_agents: frozenset[str] = frozenset()
    hang_s: float = 5.0  # how long "hang" holds a request before closing without an answer
    huge_bytes: int = 30 * 1024 * 1024  # the size of the "huge" answer


# ok; hang: hold the request hang_s seconds, then close without answering; reset: close with a TCP RST
# (SO_LINGER 0); garbage: 200 with an HTML body; malformed: 200 with JSON cut in the middle (a correct
# Content-Length); truncated: a Content-Length larger than the body, then close; huge: a 200 JSON body
# of huge_bytes.
TRANSPORT_FAULTS = ("ok", "hang", "reset", "garbage", "malformed", "truncated", "huge")


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _HttpError(Exception):
    """Ends a request with an error answer."""

    def __init__(self, status: int, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _json_reply(
    status: int, body: object, headers: Mapping[str, str] | None = None, *, compact: bool = False
) -> _Reply:
    # OpenSearch writes its answers without spaces: the answer bytes a search costs are counted as sent.
    separators = (",", ":") if compact else None
    return _Reply(status, json.dumps(body, separators=separators).encode(), headers=dict(headers or {}))


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class _App(abc.ABC):
    sends_date = True
    """One simulated service (the API or the indexer) of a SimulatorServer."""

    def __init__(self, owner: SimulatorServer) -> None:
        self._owner = owner

    @abc.abstractmethod
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        """The reply to one request."""

    @abc.abstractmethod
    def transport_fault(self) -> str:
        """The transport fault (one of TRANSPORT_FAULTS) the next request of this service meets."""

    def fault_settings(self) -> Faults:
        return self._owner.faults

    def clock_now(self) -> datetime:
        """The simulated world's time, for the Date header."""
        return self._owner.clock.now()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: _App) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.stopping = threading.Event()  # set by stop(): a hanging request ends at once
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal; never print a traceback to stderr.
        log.debug("simulator connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so httpx reuses connections as with the real services
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would delay each answer 40 ms
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)

    def send_header(self, keyword: str, value: str) -> None:
        # OpenSearch sends no Date on REST answers (REALITY.md §5); the Wazuh API (uvicorn) does.
        if keyword.lower() == "date" and not self.server.app.sends_date:
            return
        super().send_header(keyword, value)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header tells the time of the simulated world, as a real server tells its own.
        if timestamp is None:
            timestamp = self.server.app.clock_now().timestamp()
        return email.utils.formatdate(timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(_json_reply(400, {"error": "bad Content-Length", "status": 400}))
            return
        body = self.rfile.read(length) if length else b""
        fault = self.server.app.transport_fault()
        if fault != "ok":
            self._transport_fault(fault)
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            reply = self.server.app.handle(self.command, self.path, headers, body)
        except Exception:
            log.debug("simulator handler failed on %s %s", self.command, self.path, exc_info=True)
            reply = _json_reply(500, {"title": "Internal Error", "detail": "simulator failure", "error": 1000})
        self._send(reply)

    def _transport_fault(self, fault: str) -> None:
        """Fail below HTTP, as a crashed, overloaded or misrouted server does (the request was read)."""
        faults = self.server.app.fault_settings()
        self.close_connection = True
        if fault == "hang":
            self.server.stopping.wait(faults.hang_s)
        elif fault == "reset":
            # Linger 0: close() sends RST instead of FIN, so the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif fault == "garbage":
            page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            self._send(_Reply(200, page, content_type="text/html"))
        elif fault == "malformed":
            self._send(_Reply(200, b'{"data": {"affected_items": [{"id": "001", "na'))
        elif fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"data": {"affected_items": [')
        elif fault == "huge":
            self._send_huge(faults.huge_bytes)
        else:
            raise ValueError(f"unknown transport fault {fault!r}; expected one of {TRANSPORT_FAULTS}")

    def _send_huge(self, size: int) -> None:
        """A valid JSON object of `size` bytes (a long list of strings), written in chunks."""
        item = b'"' + b"x" * 1022 + b'",'
        head, tail = b'{"padding": [', b'""]}'
        count = max(0, (size - len(head) - len(tail)) // len(item))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + count * len(item) + len(tail)))
        self.end_headers()
        self.wfile.write(head)
        chunk = item * 1024
        written = 0
        while written + 1024 <= count:
            self.wfile.write(chunk)
            written += 1024
        self.wfile.write(item * (count - written) + tail)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)


def _basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _wazuh_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _opensearch_time(millis: int) -> str:
    return from_ms(millis).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# Wazuh server API


_AGENTS_PARAMS = frozenset(
    {
        "pretty",
        "wait_for_complete",
        "agents_list",
        "offset",
        "limit",
        "select",
        "sort",
        "search",
        "status",
        "q",
        "older_than",
        "os.platform",
        "os.version",
        "os.name",
        "manager",
        "version",
        "group",
        "node_name",
        "name",
        "ip",
        "registerIP",
        "group_config_status",
        "distinct",
    }
)
_FIELD_FILTERS = ("os.platform", "os.version", "os.name", "manager", "version", "node_name", "name", "ip", "registerIP")
_ID_AFTER = re.compile(r"id>(\d+)")
_Q_CONDITION = re.compile(r"^([\w.]+)(!=|=|<|>|~)(.*)$")
_OS_DETAILS = {
    "Ubuntu": {
        "arch": "x86_64",
        "codename": "Jammy Jellyfish",
        "major": "22",
        "minor": "04",
        "name": "Ubuntu",
        "platform": "ubuntu",
        "version": "22.04.4 LTS",
    },
    "CentOS Stream": {
        "arch": "x86_64",
        "major": "9",
        "name": "CentOS Stream",
        "platform": "centos",
        "version": "9",
    },
    "Microsoft Windows Server 2022 Datacenter": {
        "arch": "x86_64",
        "major": "10",
        "minor": "0",
        "name": "Microsoft Windows Server 2022 Datacenter",
        "platform": "windows",
        "version": "10.0.20348.2113",
    },
}


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


def _bad_request(detail: str, code: int | None = None) -> _HttpError:
    body: JSON = {"title": "Bad Request", "detail": detail}
    if code is not None:
        body["error"] = code
    return _HttpError(400, body)


class _ApiApp(_App):
    def __init__(self, owner: SimulatorServer) -> None:
        super().__init__(owner)
        # The API's fixed window (api/middlewares.py check_rate_limit): it opens at a request, counts every request
        # for 60 s, rejected ones too, and the request that opens the next window counts 0.
        self._window_start: float | None = None
        self._window_count = 0
        self._lock = threading.Lock()
        self._listing_cache: tuple[object, list[JSON]] | None = None

    def transport_fault(self) -> str:
        return self._owner.faults.api_transport

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
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
        except _HttpError as exc:
            if exc.status == 401:
                stats.bump("api_401")
            elif exc.status == 429:
                stats.bump("api_429")
            elif exc.status >= 500:
                stats.bump("api_500")
            return _json_reply(exc.status, exc.body, exc.headers)

    def _check_faults(self) -> None:
        faults = self._owner.faults
        with self._lock:
            failing = faults.fail_next_api > 0
            if failing:
                faults.fail_next_api -= 1
        if failing or faults.api_mode == "down":
            raise _HttpError(
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
                raise _HttpError(
                    429,
                    {
                        "title": "Too Many Requests",
                        "detail": "Maximum number of requests per minute reached",
                        "remediation": "This limit can be changed in api.yaml file. More information here: "
                        f"{DOCS}/security/configuration.html",
                        "error": RATE_LIMIT_ERROR,
                    },
                )

    def _route(self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str]) -> _Reply:
        if path == "/security/user/authenticate":
            self._allow(method, ("GET", "POST"))
            return self._login(params, headers)
        parts = path.strip("/").split("/")
        if path == "/":
            self._allow(method, ("GET",))
            self._authorize(headers)
            return _json_reply(200, {"data": self._info(), "error": 0})
        if parts == ["agents"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            return _json_reply(200, self._agents(params))
        if parts == ["groups"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            return _json_reply(200, self._groups(params))
        if parts == ["cluster", "healthcheck"]:
            self._allow(method, ("GET",))
            self._authorize(headers)
            if self._owner.faults.cluster_denied:
                raise _HttpError(403, _PERMISSION_DENIED)
            return _json_reply(200, self._healthcheck())
        if len(parts) == 5 and parts[0] == "agents" and parts[2] == "config":
            self._allow(method, ("GET",))
            self._authorize(headers)
            return _json_reply(200, self._agent_config(parts[1], parts[3], parts[4]))
        if len(parts) == 4 and parts[0] == "agents" and parts[2] == "stats":
            self._allow(method, ("GET",))
            self._authorize(headers)
            if self._owner.faults.api_stats_denied:
                raise _HttpError(403, _PERMISSION_DENIED)
            return _json_reply(200, self._component_stats(parts[1], parts[3], params))
        raise _HttpError(404, {"title": "Not Found", "detail": "404: Not Found"})

    @staticmethod
    def _allow(method: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise _HttpError(
                405, {"title": "Method Not Allowed", "detail": "Specified method is invalid for this resource"}
            )

    # -- authentication ------------------------------------------------------------------

    def _login(self, params: dict[str, str], headers: Mapping[str, str]) -> _Reply:
        extra = set(params) - {"raw", "pretty", "wait_for_complete"}
        if extra:
            raise _bad_request(f"Extra query parameter(s) {', '.join(sorted(extra))} not in spec")
        raw = params.get("raw", "false").lower()
        if raw not in ("true", "false"):
            raise _bad_request(f"'{params['raw']}' is not of type 'boolean'")
        credentials = _basic_credentials(headers)
        if credentials is None:
            raise _HttpError(401, {"title": "Unauthorized", "detail": "No authorization token provided"})
        user, password = credentials
        expected = self._owner.api_users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise _HttpError(401, {"title": "Unauthorized", "detail": "Invalid credentials"})
        token = self._owner.issue_token(user)
        self._owner.stats.bump("api_logins")
        if raw == "true":
            return _Reply(200, token.encode(), content_type="text/plain")
        return _json_reply(200, {"data": {"token": token}, "error": 0})

    def _authorize(self, headers: Mapping[str, str]) -> str:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if not value:
            raise _HttpError(401, {"title": "Unauthorized", "detail": "No authorization token provided"})
        user = self._owner.verify_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise _HttpError(401, {"title": "Unauthorized", "detail": "Invalid token"})
        return user

    # -- endpoints ------------------------------------------------------------------------

    def _info(self) -> JSON:
        return {
            "title": API_TITLE,
            "api_version": "5.0.0" if self._owner.schema == "5.x" else API_VERSION,
            "revision": "rc1",
            "license_name": "GPL 2.0",
            "license_url": f"https://github.com/wazuh/wazuh/blob/v{API_VERSION}/LICENSE",
            "hostname": "wazuh-manager",
            "timestamp": _wazuh_time(self._owner.clock.now()),
        }

    def _groups(self, params: dict[str, str]) -> JSON:
        """GET /groups: every agent group with its agent count, paged like /agents."""
        unknown = sorted(set(params) - {"pretty", "wait_for_complete", "offset", "limit", "select", "sort", "search"})
        if unknown:
            raise _bad_request(f"Extra query parameter(s) {', '.join(unknown)} not in spec")
        offset = _int_param(params, "offset", 0, 0, None)
        limit = _int_param(params, "limit", 500, 1, MAX_LIMIT)
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

    def _agents(self, params: dict[str, str]) -> JSON:
        unknown = sorted(set(params) - _AGENTS_PARAMS)
        if unknown:
            raise _bad_request(f"Extra query parameter(s) {', '.join(unknown)} not in spec")
        offset = _int_param(params, "offset", 0, 0, None)
        limit = _int_param(params, "limit", 500, 1, MAX_LIMIT)
        fleet = self._owner.fleet
        # Paging by id (q=id>N, sort=+id) asks the same listing from a later id: the listing is cached without
        # that q, and the page found by bisection, so 100,000 agents paged by id cost one build, as by offset.
        after = _ID_AFTER.fullmatch(params.get("q", "")) if params.get("sort") == "+id" else None
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
            page = [_select(item, fields) for item in page]
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
        items = [_agent_item(agent) for agent in self._owner.fleet.agents()]
        if "agents_list" in params:
            wanted = {part.strip() for part in params["agents_list"].split(",") if part.strip()}
            items = [item for item in items if item["id"] in wanted]
        if "status" in params:
            statuses = [part.strip() for part in params["status"].split(",")]
            bad = [s for s in statuses if s not in STATUSES]
            if bad or not statuses:
                raise _bad_request(f"'{bad[0] if bad else ''}' is not one of {list(STATUSES)}")
            items = [item for item in items if item["status"] in statuses]
        for name in _FIELD_FILTERS:
            if name in params:
                items = [item for item in items if str(_lookup(item, name)) == params[name]]
        if "group" in params:
            items = [item for item in items if params["group"] in item.get("group", [])]
        if "search" in params:
            needle = params["search"].lower()
            items = [item for item in items if needle in json.dumps(item).lower()]
        if params.get("q"):
            predicate = _parse_q(params["q"])
            items = [item for item in items if predicate(item)]
        if params.get("sort"):
            items = _sorted(items, params["sort"])
        return items

    def _component_stats(self, agent_id: str, component: str, params: dict[str, str]) -> JSON:
        extra = set(params) - {"pretty", "wait_for_complete"}
        if extra:
            raise _bad_request(f"Extra query parameter(s) {', '.join(sorted(extra))} not in spec")
        if component not in ("logcollector", "agent"):
            raise _bad_request(f"'{component}' is not one of ['logcollector', 'agent']")
        if not re.fullmatch(r"\d{3,}", agent_id):
            raise _bad_request(f"'{agent_id}' does not match '^[0-9]{{3,}}$'")
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
                    "global": {"start": _wazuh_time(now), "end": _wazuh_time(now), "files": []},
                    "interval": {"start": _wazuh_time(now), "end": _wazuh_time(now), "files": []},
                }
            else:
                item = self._owner.fleet.logcollector_stats(agent_id)
        else:
            keepalive = _wazuh_time(agent.last_keepalive or now) if agent is not None else _wazuh_time(now)
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

    def _healthcheck(self) -> JSON:
        """GET /cluster/healthcheck: the connected nodes only (a worker that left is absent; REALITY.md §9)."""
        now = _wazuh_time(self._owner.clock.now())
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

    def _agent_config(self, agent_id: str, component: str, configuration: str) -> JSON:
        """GET /agents/{id}/config/logcollector/localfile: the <localfile>s as logcollector reports them
        (src/logcollector getLocalfileConfig: `file`, `logformat`, `target`), forwarded like the statistics."""
        if (component, configuration) != ("logcollector", "localfile"):
            raise _bad_request(f"the simulator serves logcollector/localfile only, not {component}/{configuration}")
        agent = next((a for a in self._owner.fleet.agents() if a.id == agent_id), None)
        if agent is None or agent.id == MANAGER_ID:
            raise _bad_request("Agent does not exist", 1701)
        self._check_reachable(agent)
        if agent.status != "active":
            raise _bad_request("Cannot send request, agent is not active", 1707)
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
            raise _HttpError(
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
            raise _HttpError(500, {"title": "Wazuh Internal Error", "detail": "JSON couldn't be loaded", "error": 3036})


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise _bad_request(f"'{params[name]}' is not of type 'integer'") from None
    if value < low:
        raise _bad_request(f"{value} is less than the minimum of {low}")
    if high is not None and value > high:
        raise _bad_request(f"{value} is greater than the maximum of {high}")
    return value


def _agent_item(agent: SimAgent) -> JSON:
    os_details = dict(_OS_DETAILS.get(agent.os, {"arch": "x86_64", "name": agent.os, "platform": agent.os.lower()}))
    if os_details.get("platform") not in ("windows",):
        os_details["uname"] = f"Linux |{agent.name} |6.8.0-45-generic |#45-Ubuntu SMP x86_64 |x86_64"
    is_manager = agent.id == MANAGER_ID
    item: JSON = {
        "os": os_details,
        "id": agent.id,
        "dateAdd": _wazuh_time(agent.date_add),
        "group": list(agent.group),
        "registerIP": agent.ip if is_manager else "any",
        "ip": agent.ip,
        "name": agent.name,
        "status": agent.status,
        "version": agent.version if agent.status != "never_connected" else None,
        "manager": agent.manager,
        "node_name": agent.node_name,
        "status_code": agent.status_code,
    }
    if agent.last_keepalive is not None:
        # The real API shows the manager's keepalive as the far future: it never stops talking to itself.
        # Written with an explicit +00:00 offset, not Z (REALITY.md §6).
        item["lastKeepAlive"] = "9999-12-31T23:59:59+00:00" if is_manager else _offset_time(agent.last_keepalive)
    if not is_manager and agent.status != "never_connected":
        item["configSum"] = "ab73af41699f13fdd81903b5f23d8d00"
        item["mergedSum"] = "9a016508cea1e997ab8569f5cfab30f5"
        item["group_config_status"] = "synced"
    if agent.disconnection_time is not None:
        item["disconnection_time"] = _wazuh_time(agent.disconnection_time)
    if item["version"] is None:
        del item["version"]
    if is_manager:
        item["version"] = WAZUH_VERSION
    return item


def _lookup(item: Mapping[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


_KNOWN_FIELDS = frozenset(
    {
        "id",
        "name",
        "ip",
        "status",
        "status_code",
        "os",
        "version",
        "manager",
        "node_name",
        "dateAdd",
        "lastKeepAlive",
        "group",
        "registerIP",
        "configSum",
        "mergedSum",
        "group_config_status",
        "disconnection_time",
    }
)


def _known_field(dotted: str) -> bool:
    top, _, rest = dotted.partition(".")
    if top == "os":
        return rest in ("", "arch", "codename", "major", "minor", "name", "platform", "uname", "version")
    return not rest and top in _KNOWN_FIELDS


def _select(item: Mapping[str, Any], fields: list[str]) -> JSON:
    bad = [f for f in fields if not _known_field(f)]
    if bad:
        raise _bad_request(f"Select field(s) {bad} not valid for this request", 1724)
    selected: JSON = {"id": item["id"]}
    for dotted in fields:
        value = _lookup(item, dotted)
        if value is None:
            continue
        parts = dotted.split(".")
        target = selected
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return selected


def _sort_value(item: Mapping[str, Any], dotted: str) -> tuple[int, Any]:
    value = _lookup(item, dotted)
    if dotted == "id" and isinstance(value, str) and value.isdigit():
        return (0, int(value))
    return (0 if value is not None else 1, "" if value is None else str(value).lower())


def _sort_key(dotted: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda item: _sort_value(item, dotted)


def _sorted(items: list[JSON], spec: str) -> list[JSON]:
    keys = [part.strip() for part in spec.split(",") if part.strip()]
    for key in reversed(keys):
        descending = key.startswith("-")
        name = key.lstrip("+-")
        if not _known_field(name):
            raise _bad_request(f"Sort field(s) ['{name}'] not valid for this request", 1403)
        items = sorted(items, key=_sort_key(name), reverse=descending)
    return items


def _parse_q(query: str) -> Callable[[Mapping[str, Any]], bool]:
    """Wazuh's q: conditions joined by ';' (AND, binding tighter) and ',' (OR); no parentheses here."""
    if "(" in query or ")" in query:
        raise _bad_request("Parenthesised queries are not supported by the simulator", 1407)
    groups: list[list[Callable[[Mapping[str, Any]], bool]]] = []
    for group in query.split(","):
        conditions: list[Callable[[Mapping[str, Any]], bool]] = []
        for text in group.split(";"):
            match = _Q_CONDITION.match(text.strip())
            if match is None or not _known_field(match.group(1)):
                raise _bad_request(f"Query not valid: '{text}'", 1407)
            conditions.append(_condition(match.group(1), match.group(2), match.group(3)))
        groups.append(conditions)
    return lambda item: any(all(cond(item) for cond in conds) for conds in groups)


def _condition(name: str, operator: str, expected: str) -> Callable[[Mapping[str, Any]], bool]:
    def compare(item: Mapping[str, Any]) -> bool:
        value = _lookup(item, name)
        if value is None:
            return operator == "!="
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        if operator == "=":
            return text == expected
        if operator == "!=":
            return text != expected
        if operator == "~":
            return expected.lower() in text.lower()
        left: Any = text
        right: Any = expected
        if text.isdigit() and expected.isdigit():
            left, right = int(text), int(expected)
        return bool(left < right) if operator == "<" else bool(left > right)

    return compare


# ---------------------------------------------------------------------------------------------
# Indexer (OpenSearch)


# The fields each kind of index maps, and their types (Wazuh's 4.x template; 5.0's events templates).
FIELDS_4X = {
    "agent.id": "keyword",
    "agent.name": "keyword",
    "timestamp": "date",
    "location": "keyword",
    "data.win.system.channel": "keyword",
}
FIELDS_5X = {
    "wazuh.agent.id": "keyword",
    "wazuh.agent.name": "keyword",
    "@timestamp": "date",
    "wazuh.protocol.location": "keyword",
    "wazuh.protocol.queue": "byte",
}


def _names_4x_fields(payload: object) -> bool:
    """Whether a query names a field only 4.x maps (`agent.id`, `timestamp`, `location`), anywhere in it.

    As a `field` value, a terms filter's key (a list of values) or a range's key (its bounds); a composite
    source named `location` is a name, not a field.
    """
    if isinstance(payload, dict):
        return any(
            (key == "field" and value in _ONLY_4X)
            or (key in _ONLY_4X and isinstance(value, list | str | int))
            or (key == "timestamp" and isinstance(value, dict) and bool({"gte", "lte", "gt", "lt"} & set(value)))
            or _names_4x_fields(value)
            for key, value in payload.items()
        )
    if isinstance(payload, list):
        return any(_names_4x_fields(item) for item in payload)
    return False


_ONLY_4X = ("agent.id", "timestamp", "location")


class _SearchError(Exception):
    """An OpenSearch 4xx answer (the request, not the cluster, is wrong)."""

    def __init__(self, kind: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


def _opensearch_error(kind: str, reason: str, status: int) -> JSON:
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], "type": kind, "reason": reason}, "status": status}


@dataclass
class _DocFilter:
    """The documents a query matches, in the simulator's terms."""

    lo: int = 0  # inclusive epoch milliseconds
    hi: int = 1 << 62
    agents: frozenset[str] | None = None
    names: frozenset[str] | None = None
    locations: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    not_locations: frozenset[str] = frozenset()  # bool must_not: exact locations
    not_prefixes: tuple[str, ...] = ()  # bool must_not: location prefixes

    def narrowed(self, other: _DocFilter) -> _DocFilter:
        return _DocFilter(
            lo=max(self.lo, other.lo),
            hi=min(self.hi, other.hi),
            agents=_meet(self.agents, other.agents),
            names=_meet(self.names, other.names),
            locations=_meet(self.locations, other.locations),
            channels=_meet(self.channels, other.channels),
            not_locations=self.not_locations | other.not_locations,
            not_prefixes=self.not_prefixes + other.not_prefixes,
        )

    def admits(self, location: str, channel: str | None) -> bool:
        """Whether documents indexed with this location (and Windows channel) match."""
        if self.locations is not None and location not in self.locations:
            return False
        if self.channels is not None and channel not in self.channels:
            return False
        return location not in self.not_locations and not location.startswith(self.not_prefixes or ("\0",))


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _field_kind(name: object) -> str:
    """What a field means: the server takes field names from the query, so 4.x and 5.x names both work."""
    if not isinstance(name, str):
        raise _SearchError("parsing_exception", f"field name must be a string, got {name!r}")
    if name.endswith("agent.id") or name == "agent_id":
        return "agent"
    if name.endswith("agent.name"):
        return "name"
    if name.endswith("location"):
        return "location"
    if name.endswith("win.system.channel"):
        return "channel"
    if name == "wazuh.protocol.queue":
        return "queue"
    if name.endswith("timestamp") or name.endswith("@timestamp"):
        return "time"
    raise _SearchError("illegal_argument_exception", f"the simulator does not index field [{name}]")


_DATE_MATH = re.compile(r"^now(?:([+-])(\d+)([smhd]))?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


_Key = tuple[str | None, ...]  # composite key values; None is the missing bucket (a non-Windows event's channel)
_Order = tuple[tuple[bool, str], ...]
# A sub-aggregation of each bucket: name, kind, its counts' slice [first, last), a `filters` map's keys, and a
# filter's own date_histogram (name, interval in ms), if any.
_SubPlan = tuple[str, str, int, int, list[str] | None, tuple[str, int] | None]


@functools.lru_cache(maxsize=4096)
def _interval_time(millis: int) -> str:
    """A histogram key's text: the same few hours for every bucket of a request."""
    return _opensearch_time(millis)


def _nested_histogram(name: str, spec: object) -> tuple[str, int] | None:
    """A filter sub-aggregation's own `date_histogram` (name, fixed interval in ms), as the pass's reads ask it."""
    if not isinstance(spec, dict):
        return None
    inner = spec.get("aggs", spec.get("aggregations"))
    if inner is None:
        return None
    if not isinstance(inner, dict) or len(inner) != 1:
        raise _SearchError("illegal_argument_exception", f"[{name}]: one date_histogram is simulated under a filter")
    inner_name, inner_spec = next(iter(inner.items()))
    body = inner_spec.get("date_histogram") if isinstance(inner_spec, dict) and len(inner_spec) == 1 else None
    if not isinstance(body, dict) or _field_kind(body.get("field")) != "time" or body.get("min_doc_count") != 1:
        raise _SearchError("illegal_argument_exception", f"[{inner_name}]: only a date_histogram with min_doc_count 1")
    interval = body.get("fixed_interval")
    match = re.fullmatch(r"(\d+)([smhd])", interval) if isinstance(interval, str) else None
    if match is None or set(body) - {"field", "fixed_interval", "min_doc_count"}:
        raise _SearchError("illegal_argument_exception", f"[{inner_name}]: a fixed_interval like 1h is simulated")
    return inner_name, int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1000


def _order(values: _Key) -> _Order:
    """Composite order: ascending, the missing bucket first (OpenSearch's default for missing_bucket)."""
    return tuple((value is not None, value or "") for value in values)


class _Indexer(_App):
    sends_date = False

    def __init__(self, owner: SimulatorServer) -> None:
        super().__init__(owner)
        self._keys_cache: tuple[object, list[tuple[_Key, str, str | None]], list[_Order]] | None = None
        self._parsed_cache: dict[int, tuple[object, _DocFilter]] = {}
        # Every bucket of an aggregation counts the same sub-aggregations: planned once per request.
        self._plan_cache: tuple[_DocFilter, JSON, list[_DocFilter], list[_SubPlan]] | None = None
        # What a bucket's documents are made of depends on the fleet alone: kept while its version holds.
        self._locations_cache: tuple[int, dict[tuple[object, ...], list[str]]] = (-1, {})
        self._names_cache: tuple[int, dict[str, str]] = (-1, {})

    def transport_fault(self) -> str:
        return self._owner.faults.indexer_transport

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        owner = self._owner
        owner.stats.bump("indexer_requests")
        try:
            return self._handle(method, target, headers, body)
        except _SearchError as exc:
            owner.stats.bump("indexer_errors")
            return _json_reply(exc.status, _opensearch_error(exc.kind, exc.reason, exc.status))

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        owner = self._owner
        mode = owner.faults.indexer_mode
        credentials = _basic_credentials(headers)
        user_ok = credentials is not None and hmac.compare_digest(
            owner.indexer_users.get(credentials[0], "\0").encode(), credentials[1].encode()
        )
        if mode == "unauthorized" or not user_ok:
            owner.stats.bump("indexer_errors")
            reply = _opensearch_error("security_exception", "Unauthorized", 401)
            reply["error"]["header"] = {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'}
            return _json_reply(401, reply, {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'})
        if mode == "down":
            owner.stats.bump("indexer_errors")
            reason = "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"
            return _json_reply(503, _opensearch_error("cluster_block_exception", reason, 503))
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        if path.endswith(("/_search", "/_count")):
            self._check_search_faults()
        if path == "/":
            if method != "GET":
                raise _SearchError("illegal_argument_exception", f"no handler for [{method} /]", 405)
            return _json_reply(200, self._cluster_info())
        parts = path.lstrip("/").split("/")
        if parts[:2] == ["_cat", "indices"] and method == "GET":
            return _json_reply(200, self._cat_indices(unquote(parts[2]) if len(parts) > 2 else "*"))
        if len(parts) == 2 and parts[1] == "_field_caps" and method in ("GET", "POST"):
            return _json_reply(200, self._field_caps(unquote(parts[0]), parse_qs(split.query).get("fields", [""])[0]))
        if len(parts) != 2 or parts[1] not in ("_count", "_search") or method not in ("GET", "POST"):
            raise _SearchError("illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")
        pattern = unquote(parts[0])
        self._check_index(pattern)
        payload = self._json_body(body)
        assert credentials is not None  # checked above
        pattern = self._searchable(credentials[0], pattern)
        if not any(fnmatch.fnmatchcase(index, part) for part in pattern.split(",") for index in owner.indices):
            # A wildcard matching no index: success, no shard, no hit and no aggregations (REALITY.md §4).
            owner.stats.bump("indexer_empty_patterns")
            shards = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
            if parts[1] == "_count":
                return _json_reply(200, {"count": 0, "_shards": shards})
            empty: JSON = {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}
            return _json_reply(200, {"took": 0, "timed_out": False, "_shards": shards, "hits": empty})
        if parts[1] == "_count":
            owner.stats.bump("indexer_counts")
            owner.stats.record("last_count_body", payload)
            return _json_reply(200, self._count(payload))
        owner.stats.bump("indexer_searches")
        owner.stats.record("last_search_body", payload)
        found = self._search(payload)
        filter_path = dict(parse_qsl(split.query)).get("filter_path")
        answered = _json_reply(200, filtered(found, filter_path) if filter_path else found, compact=True)
        owner.stats.add("indexer_answer_bytes", len(answered.body))
        return answered

    def _field_caps(self, pattern: str, fields: str) -> JSON:
        """OpenSearch's `_field_caps`: the fields that some index of the pattern maps, by type (REALITY.md §7).

        A 4.x alerts index maps 4.x's names; a 5.0 events data stream maps 5.0's (no `timestamp`, no
        `agent.id`, no `location`, no Windows channel field).
        """
        indices = sorted(i for i in self._owner.indices if any(fnmatch.fnmatchcase(i, p) for p in pattern.split(",")))
        mapped: dict[str, str] = {}
        for index in indices:
            five = index.startswith("wazuh-events-v5") or self._owner.schema == "5.x"  # 5.x: 5.0's templates
            mapped.update(FIELDS_5X if five else FIELDS_4X)
        caps: JSON = {}
        for name in (f for f in fields.split(",") if f):
            kind = mapped.get(name)
            if kind is not None:
                entry = {"type": kind, "searchable": True, "aggregatable": True}
                caps[name] = {kind: entry}
        return {"indices": indices, "fields": caps}

    def _cat_indices(self, pattern: str) -> list[JSON]:
        """`_cat/indices/<pattern>?format=json`: every index the pattern matches (the user may list them all)."""
        docs = sum(self._doc_count(agent, None, _DocFilter()) for agent in self._owner.fleet.agent_ids())
        return [
            {"index": index, "docs.count": str(docs)}
            for index in sorted(self._owner.indices)
            if any(fnmatch.fnmatchcase(index, p) for p in pattern.split(","))
        ]

    def _check_search_faults(self) -> None:
        """Load and outage answers of a search, with OpenSearch's error bodies (REALITY.md §10)."""
        faults = self._owner.faults
        mode = faults.indexer_mode
        if faults.overloaded_next > 0 or mode == "overloaded":
            faults.overloaded_next = max(0, faults.overloaded_next - 1)
            reason = (
                "rejected execution of org.opensearch.common.util.concurrent.TimedRunnable on "
                "OpenSearchThreadPoolExecutor[name = wazuh-indexer-1/search, queue capacity = 1000]"
            )
            raise _SearchError("rejected_execution_exception", reason, 429)
        if mode == "breaker":
            reason = "[parent] Data too large, data for [<http_request>] would be [1031798784/984mb]"
            raise _SearchError("circuit_breaking_exception", reason, 429)
        if mode == "all_shards_failed":
            raise _SearchError("search_phase_execution_exception", "all shards failed", 503)

    def _searchable(self, user: str, pattern: str) -> str:
        """The indices the user may search, as a pattern: a 403 for a forbidden one, or it is dropped silently."""
        forbidden = self._forbidden(user, pattern)
        if not forbidden:
            return pattern
        if not self._owner.do_not_fail_on_forbidden:
            # The security plugin refuses the whole request for one forbidden index the pattern matches.
            reason = (
                f"no permissions for [indices:data/read/search] and User [name={user}, "
                "backend_roles=[], requestedTenant=null]"
            )
            raise _SearchError("security_exception", reason, 403)
        # do_not_fail_on_forbidden: the forbidden indices are dropped, silently; the simulator's documents are
        # in every index at once, so a user left with any index sees them all, one left with none sees none.
        parts = pattern.split(",")
        kept = [i for i in self._owner.indices if i not in forbidden and any(fnmatch.fnmatchcase(i, p) for p in parts)]
        return ",".join(kept) or "-none-"

    def _forbidden(self, user: str, pattern: str) -> list[str]:
        """The indices the pattern resolves to that the user's roles do not let it search."""
        allowed = self._owner.indexer_permissions.get(user)
        if allowed is None:
            return []
        resolved = [i for i in self._owner.indices if any(fnmatch.fnmatchcase(i, p) for p in pattern.split(","))]
        return [i for i in resolved if not any(fnmatch.fnmatchcase(i, p) for p in allowed)]

    @staticmethod
    def _cluster_info() -> JSON:
        return {
            "name": "wazuh-indexer-1",
            "cluster_name": "wazuh-cluster",
            "cluster_uuid": "Hb1rPgvxQ3y3kW0m9iqF5w",
            "version": {
                "distribution": "opensearch",
                "number": "7.10.2",
                "build_type": "rpm",
                "lucene_version": "9.12.1",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }

    @staticmethod
    def _check_index(pattern: str) -> None:
        for part in pattern.split(","):
            if not part or ("*" not in part and not part.startswith("wazuh-")):
                raise _SearchError("index_not_found_exception", f"no such index [{part}]", 404)

    @staticmethod
    def _json_body(body: bytes) -> JSON:
        if not body.strip():
            return {}
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _SearchError("parsing_exception", f"request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise _SearchError("parsing_exception", "request body must be a JSON object")
        return payload

    def _shards(self) -> JSON:
        if self._owner.faults.lost_shard_agents:
            return {"total": 6, "successful": 5, "skipped": 0, "failed": 1}
        if self._owner.faults.indexer_mode == "shard_failure":
            return {
                "total": 2,
                "successful": 1,
                "skipped": 0,
                "failed": 1,
                "failures": [
                    {
                        "shard": 1,
                        "index": "wazuh-alerts-4.x-sim",
                        "node": "wazuh-indexer-2",
                        "reason": {"type": "node_disconnected_exception", "reason": "[wazuh-indexer-2] disconnected"},
                    }
                ],
            }
        return {"total": 1, "successful": 1, "skipped": 0, "failed": 0}

    # -- _count ---------------------------------------------------------------------------

    def _count(self, payload: JSON) -> JSON:
        unknown = set(payload) - {"query"}
        if unknown:
            raise _SearchError("parsing_exception", f"request does not support [{sorted(unknown)[0]}]")
        selection = self._query(payload.get("query", {"match_all": {}}))
        total = sum(self._doc_count(agent, None, selection) for agent in self._admitted(selection))
        return {"count": total, "_shards": self._shards()}

    def _admitted(self, selection: _DocFilter) -> list[str]:
        """The agents whose documents the selection may match: a term on agent.id need not visit the others."""
        agents = self._owner.fleet.agent_ids()
        if selection.agents is not None and len(selection.agents) < len(agents):
            known = set(agents)
            return sorted(agent for agent in selection.agents if agent in known)
        return agents

    # -- _search --------------------------------------------------------------------------

    def _search(self, payload: JSON) -> JSON:
        unknown = set(payload) - {"size", "track_total_hits", "query", "aggs", "aggregations", "timeout", "_source"}
        if unknown:
            raise _SearchError("parsing_exception", f"Unknown key for a START_OBJECT in [{sorted(unknown)[0]}].")
        size = payload.get("size", 10)
        if size != 0:
            raise _SearchError("illegal_argument_exception", "the simulator answers only size=0 (aggregation) searches")
        if self._owner.schema == "5.x" and _names_4x_fields(payload):
            return self._matching_nothing(payload)
        selection = self._query(payload.get("query", {"match_all": {}}))
        if self._owner.retention_s is not None:  # older documents were deleted with their index
            selection = selection.narrowed(_DocFilter(lo=self._retained_from()))
        aggs = payload.get("aggs", payload.get("aggregations", {}))
        if not isinstance(aggs, dict):
            raise _SearchError("parsing_exception", "aggregations must be an object")
        visited = sum(self._doc_count(agent, None, selection) for agent in self._admitted(selection))
        self._owner.stats.add("indexer_docs_visited", visited)
        # timed_out: the search ran past its time budget and answers with what it had (a partial result).
        timed_out = self._owner.faults.indexer_mode == "timed_out"
        answer: JSON = {"took": 3, "timed_out": timed_out, "_shards": self._shards()}
        hits: JSON = {"max_score": None, "hits": []}
        if payload.get("track_total_hits", True) is not False:
            total = sum(self._doc_count(agent, None, selection) for agent in self._admitted(selection))
            hits = {"total": {"value": min(total, 10_000), "relation": "eq" if total <= 10_000 else "gte"}, **hits}
        answer["hits"] = hits
        if aggs:
            answer["aggregations"] = {name: self._aggregation(name, spec, selection) for name, spec in aggs.items()}
        return answer

    @staticmethod
    def _matching_nothing(payload: JSON) -> JSON:
        """A query on a field that no index maps matches no document (5.0's indices map no 4.x name)."""
        aggs = payload.get("aggs", payload.get("aggregations", {}))
        answer: JSON = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        }
        answer["hits"] = {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []}
        if isinstance(aggs, dict) and aggs:
            answer["aggregations"] = {name: {"buckets": []} for name in aggs}
        return answer

    def _aggregation(self, name: str, spec: object, selection: _DocFilter) -> JSON:
        if not isinstance(spec, dict):
            raise _SearchError("parsing_exception", f"aggregation [{name}] must be an object")
        kinds = [key for key in spec if key not in ("aggs", "aggregations")]
        subs = spec.get("aggs", spec.get("aggregations", {}))
        if len(kinds) != 1 or not isinstance(subs, dict):
            raise _SearchError("parsing_exception", f"aggregation [{name}] must have exactly one type")
        kind = kinds[0]
        body = spec[kind]
        if kind == "composite":
            return self._composite(name, body, subs, selection)
        if kind == "terms":
            return self._terms(name, body, subs, selection)
        if kind == "min" and isinstance(body, dict) and _field_kind(body.get("field")) == "time":
            return self._oldest(selection)
        raise _SearchError("illegal_argument_exception", f"aggregation type [{kind}] is not simulated")

    def _oldest(self, selection: _DocFilter) -> JSON:
        """A top-level `min` of the time field: the oldest event kept (the fleet's first, or the retention's edge)."""
        first = self._owner.fleet.first_event_ms()
        if first is None:
            return {"value": None}
        first = max(first, selection.lo, self._retained_from())
        return {"value": float(first), "value_as_string": _opensearch_time(first)}

    def _retained_from(self) -> int:
        """The oldest millisecond the indices keep (SimulatorServer.retention_s; 5.0 may keep an hour)."""
        retention = self._owner.retention_s
        if retention is None:
            return 0
        return int((self._owner.clock.now().timestamp() - retention) * 1000)

    def _sorted_keys(
        self, kinds: list[str], selection: _DocFilter
    ) -> tuple[list[tuple[_Key, str, str | None]], list[_Order]]:
        """The bucket keys in composite order; cached while the fleet is unchanged, as paging re-asks them."""
        cache_key = (tuple(kinds), selection.agents, selection.names, self._owner.fleet.version)
        cached = self._keys_cache
        if cached is not None and cached[0] == cache_key:
            return cached[1], cached[2]
        candidates = sorted(self._keys(kinds, selection), key=lambda entry: _order(entry[0]))
        values_only = [_order(entry[0]) for entry in candidates]
        self._keys_cache = (cache_key, candidates, values_only)
        return candidates, values_only

    def _keys(self, kinds: list[str], selection: _DocFilter) -> list[tuple[_Key, str, str | None]]:
        """Every (key values, agent id, location or None) whose documents a bucket would hold."""
        fleet = self._owner.fleet
        names = self._names()
        five = self._owner.schema == "5.x"
        keys: list[tuple[_Key, str, str | None]] = []
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
                        raise _SearchError("illegal_argument_exception", f"cannot bucket by a [{kind}] field")
                keys.append((tuple(values), agent_id, location))
        return keys

    def _doc_count(self, agent_id: str, location: str | None, selection: _DocFilter) -> int:
        return self._doc_counts(agent_id, location, [selection])[0]

    def _doc_counts(self, agent_id: str, location: str | None, selections: list[_DocFilter]) -> list[int]:
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
                queries.append((self._locations(agent_id, location, selection), selection.lo, selection.hi))
        if not any(locations for locations, _, _ in queries):
            return [0] * len(queries)  # an agent no selection admits
        return self._owner.fleet.count_ranges_ms(agent_id, queries)

    def _last(self, agent_id: str, location: str | None, selection: _DocFilter) -> int | None:
        fleet = self._owner.fleet
        found = [
            fleet.last_event_ms(agent_id, loc, selection.lo, selection.hi)
            for loc in self._locations(agent_id, location, selection)
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

    def _locations(self, agent_id: str, location: str | None, selection: _DocFilter) -> list[str]:
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

    def _bucket(self, key: object, agent_id: str, location: str | None, selection: _DocFilter, subs: JSON) -> JSON:
        selections, plans = self._plan(selection, subs)
        counts = self._doc_counts(agent_id, location, selections)
        bucket: JSON = {"key": key, "doc_count": counts[0]}
        for name, kind, first, last, keys, nested in plans:
            if kind == "max":
                moment = self._last(agent_id, location, selection)
                found: JSON = {"value": None}
                if moment is not None:
                    found = {"value": float(moment), "value_as_string": _opensearch_time(moment)}
                bucket[name] = found
            elif kind == "filter":
                bucket[name] = {"doc_count": counts[first]}
                if nested is not None:
                    histogram = self._histogram(agent_id, location, selections[first], nested[1])
                    bucket[name][nested[0]] = {"buckets": histogram}
            elif keys is not None:
                bucket[name] = {"buckets": {k: {"doc_count": n} for k, n in zip(keys, counts[first:last], strict=True)}}
            else:
                bucket[name] = {"buckets": [{"doc_count": n} for n in counts[first:last]]}
        return bucket

    def _histogram(self, agent_id: str, location: str | None, selection: _DocFilter, interval: int) -> list[JSON]:
        """A date_histogram with min_doc_count 1: the non-empty intervals of the selection's documents."""
        fleet = self._owner.fleet
        hi = min(selection.hi, to_ms(fleet.now()))
        if selection.lo > hi:
            return []
        locations = self._locations(agent_id, location, selection)
        starts = range(selection.lo // interval * interval, hi + 1, interval)
        queries = [(locations, max(selection.lo, a), min(hi, a + interval - 1)) for a in starts]
        counts = fleet.count_ranges_ms(agent_id, queries) if locations else [0] * len(queries)
        return [
            {"key_as_string": _interval_time(a), "key": a, "doc_count": n}
            for a, n in zip(starts, counts, strict=True)
            if n > 0
        ]

    def _plan(self, selection: _DocFilter, subs: JSON) -> tuple[list[_DocFilter], list[_SubPlan]]:
        """What every bucket under `subs` counts (its own documents first), worked out once per request:
        OpenSearch's `max`, `filter` and `filters` (named filters answer a map of buckets, a list a list)."""
        cached = self._plan_cache
        if cached is not None and cached[0] is selection and cached[1] is subs:
            return cached[2], cached[3]
        selections = [selection]
        plans: list[_SubPlan] = []
        for name, spec in subs.items():
            nested = _nested_histogram(name, spec)
            if not isinstance(spec, dict) or len(spec) != (1 if nested is None else 2):
                raise _SearchError("parsing_exception", f"sub-aggregation [{name}] must have exactly one type")
            kind, body = next((k, v) for k, v in spec.items() if k not in ("aggs", "aggregations"))
            first = len(selections)
            keys: list[str] | None = None
            if nested is not None and kind != "filter":
                raise _SearchError(
                    "illegal_argument_exception", f"[{name}]: only a filter's sub-aggregation is simulated"
                )
            if kind == "max":
                if not isinstance(body, dict) or _field_kind(body.get("field")) != "time":
                    reason = f"[{name}]: max is simulated on the timestamp only"
                    raise _SearchError("illegal_argument_exception", reason)
            elif kind == "filter":
                selections.append(selection.narrowed(self._parsed(body)))
            elif kind == "filters":
                if not isinstance(body, dict) or set(body) != {"filters"}:
                    raise _SearchError(
                        "illegal_argument_exception", f"[{name}]: only a plain filters list or map is simulated"
                    )
                filters = body["filters"]
                if isinstance(filters, dict):
                    keys = list(filters)
                    queries = list(filters.values())
                elif isinstance(filters, list):
                    queries = filters
                else:
                    raise _SearchError("parsing_exception", f"[{name}]: [filters] must be an object or an array")
                selections += [selection.narrowed(self._parsed(query)) for query in queries]
            else:
                raise _SearchError("illegal_argument_exception", f"sub-aggregation type [{kind}] is not simulated")
            plans.append((name, kind, first, len(selections), keys, nested))
        # Both inputs are kept with the plan, so their ids are never another request's.
        self._plan_cache = (selection, subs, selections, plans)
        return selections, plans

    def _composite(self, name: str, body: object, subs: JSON, selection: _DocFilter) -> JSON:
        if not isinstance(body, dict):
            raise _SearchError("parsing_exception", f"[{name}]: composite must be an object")
        unknown = set(body) - {"size", "sources", "after"}
        if unknown:
            raise _SearchError("parsing_exception", f"[composite] unknown field [{sorted(unknown)[0]}]")
        size = body.get("size", 10)
        sources = body.get("sources")
        if not isinstance(size, int) or size < 1 or not isinstance(sources, list) or not sources:
            raise _SearchError("parsing_exception", f"[{name}]: composite needs sources and a positive size")
        source_names: list[str] = []
        kinds: list[str] = []
        allow_missing: list[bool] = []
        for source in sources:
            if not isinstance(source, dict) or len(source) != 1:
                raise _SearchError("parsing_exception", "each composite source must have exactly one name")
            source_name, definition = next(iter(source.items()))
            terms = definition.get("terms") if isinstance(definition, dict) else None
            if not isinstance(terms, dict) or set(terms) - {"field", "missing_bucket", "order"}:
                raise _SearchError("illegal_argument_exception", f"composite source [{source_name}] is not simulated")
            if terms.get("order", "asc") != "asc":
                raise _SearchError("illegal_argument_exception", "only ascending composite sources are simulated")
            source_names.append(source_name)
            kinds.append(_field_kind(terms.get("field")))
            allow_missing.append(terms.get("missing_bucket") is True)
        after = body.get("after")
        after_key: _Key | None = None
        if after is not None:
            if not isinstance(after, dict) or set(after) != set(source_names):
                raise _SearchError(
                    "illegal_argument_exception", f"[after] must name exactly the sources {source_names}"
                )
            after_key = tuple(None if after[n] is None else str(after[n]) for n in source_names)
        candidates, values_only = self._sorted_keys(kinds, selection)
        start = bisect.bisect_right(values_only, _order(after_key)) if after_key is not None else 0
        buckets: list[JSON] = []
        lost = self._owner.faults.lost_shard_agents
        for values, agent_id, location in itertools.islice(candidates, start, None):
            if agent_id in lost or self._doc_count(agent_id, location, selection) == 0:
                continue
            if any(v is None and not ok for v, ok in zip(values, allow_missing, strict=True)):
                continue  # without missing_bucket, documents lacking the field are left out
            key = dict(zip(source_names, values, strict=True))
            buckets.append(self._bucket(key, agent_id, location, selection, subs))
            if len(buckets) >= size:
                break
        self._check_max_buckets(len(buckets), subs)
        result: JSON = {}
        if buckets:
            result["after_key"] = buckets[-1]["key"]
        result["buckets"] = buckets
        return result

    def _check_max_buckets(self, count: int, subs: JSON) -> None:
        """`search.max_buckets` counts the composite's buckets and each of their `filters` sub-buckets (503)."""
        per_bucket = 1
        for spec in subs.values():
            filters = spec.get("filters", {}).get("filters") if isinstance(spec, dict) else None
            per_bucket += len(filters) if isinstance(filters, dict) else 0
        limit = self._owner.max_buckets
        if count * per_bucket > limit:
            reason = (
                f"Trying to create too many buckets. Must be less than or equal to: [{limit}] but was "
                f"[{limit + 1}]. This limit can be set by changing the [search.max_buckets] cluster level setting."
            )
            raise _SearchError("too_many_buckets_exception", reason, 503)

    def _terms(self, name: str, body: object, subs: JSON, selection: _DocFilter) -> JSON:
        if not isinstance(body, dict) or set(body) - {"field", "size", "shard_size", "min_doc_count"}:
            raise _SearchError("illegal_argument_exception", f"[{name}]: terms options are not simulated")
        size = body.get("size", 10)
        if not isinstance(size, int) or size < 1:
            raise _SearchError("parsing_exception", f"[{name}]: size must be a positive integer")
        if body.get("min_doc_count", 1) != 1:
            raise _SearchError("illegal_argument_exception", f"[{name}]: only min_doc_count 1 is simulated")
        kind = _field_kind(body.get("field"))
        counted = [
            (values[0] or "", agent_id, location, self._doc_count(agent_id, location, selection))
            for values, agent_id, location in self._keys([kind], selection)
        ]
        if kind == "location":
            return self._location_terms(counted, size, subs, selection)
        present = [entry for entry in counted if entry[3] > 0]
        present.sort(key=lambda entry: (-entry[3], entry[0]))
        shown = present[:size]
        return {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(entry[3] for entry in present[size:]),
            "buckets": [
                self._bucket(value, agent_id, location, selection, subs) for value, agent_id, location, _ in shown
            ],
        }

    def _location_terms(
        self, counted: list[tuple[str, str, str | None, int]], size: int, subs: JSON, selection: _DocFilter
    ) -> JSON:
        # A location bucket spans every agent with that path, which the per-agent helpers cannot express.
        if subs:
            raise _SearchError(
                "illegal_argument_exception", "sub-aggregations under a location terms are not simulated"
            )
        totals: dict[str, int] = collections.Counter()
        for value, _agent, _location, count in counted:
            totals[value] += count
        present = sorted(((v, c) for v, c in totals.items() if c > 0), key=lambda e: (-e[1], e[0]))
        return {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(c for _, c in present[size:]),
            "buckets": [{"key": v, "doc_count": c} for v, c in present[:size]],
        }

    # -- query DSL ------------------------------------------------------------------------

    def _parsed(self, query: object) -> _DocFilter:
        """A sub-aggregation's query, parsed once per request rather than once per bucket (same object each time)."""
        cached = self._parsed_cache.get(id(query))
        if cached is not None and cached[0] is query:
            return cached[1]
        if len(self._parsed_cache) > 256:
            self._parsed_cache.clear()
        parsed = self._query(query)
        # The query itself is kept, so its id cannot be reused by another object while cached.
        self._parsed_cache[id(query)] = (query, parsed)
        return parsed

    def _query(self, query: object) -> _DocFilter:
        if not isinstance(query, dict) or len(query) != 1:
            raise _SearchError("parsing_exception", "a query must be an object with exactly one clause")
        kind, body = next(iter(query.items()))
        if kind == "match_all":
            return _DocFilter()
        if kind == "bool":
            return self._bool(body)
        if kind == "range":
            return self._range(body)
        if kind in ("term", "match", "match_phrase"):
            if not isinstance(body, dict) or len(body) != 1:
                raise _SearchError("parsing_exception", f"[{kind}] query must name exactly one field")
            field_name, value = next(iter(body.items()))
            if isinstance(value, dict):
                value = value.get("value", value.get("query"))
            return self._values(field_name, [value])
        if kind == "terms":
            if not isinstance(body, dict):
                raise _SearchError("parsing_exception", "[terms] query must be an object")
            fields = [key for key in body if key != "boost"]
            if len(fields) != 1 or not isinstance(body[fields[0]], list):
                raise _SearchError("parsing_exception", "[terms] query must name one field with a list of values")
            return self._values(fields[0], body[fields[0]])
        raise _SearchError("parsing_exception", f"unknown query [{kind}] (not simulated)")

    def _bool(self, body: object) -> _DocFilter:
        if not isinstance(body, dict):
            raise _SearchError("parsing_exception", "[bool] query must be an object")
        unsupported = set(body) - {"filter", "must", "must_not", "boost"}
        if unsupported:
            raise _SearchError("parsing_exception", f"[bool] clause [{sorted(unsupported)[0]}] is not simulated")
        result = _DocFilter()
        for clause in ("filter", "must"):
            parts = body.get(clause, [])
            for part in parts if isinstance(parts, list) else [parts]:
                result = result.narrowed(self._query(part))
        excluded = body.get("must_not", [])
        for part in excluded if isinstance(excluded, list) else [excluded]:
            result = result.narrowed(self._excluded(part))
        return result

    def _excluded(self, query: object) -> _DocFilter:
        """A must_not clause: the simulator excludes by location (terms, term or prefix), as NON_LOG_LOCATIONS does."""
        if not isinstance(query, dict) or len(query) != 1:
            raise _SearchError("parsing_exception", "a query must be an object with exactly one clause")
        kind, body = next(iter(query.items()))
        if not isinstance(body, dict) or len(body) != 1:
            raise _SearchError("parsing_exception", f"[{kind}] query must name exactly one field")
        field_name, value = next(iter(body.items()))
        if _field_kind(field_name) != "location" or kind not in ("terms", "term", "prefix"):
            raise _SearchError("parsing_exception", f"must_not [{kind}] on [{field_name}] is not simulated")
        if isinstance(value, dict):
            value = value.get("value")
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise _SearchError("parsing_exception", f"[{kind}] values must be strings")
        if kind == "prefix":
            return _DocFilter(not_prefixes=tuple(str(v) for v in values))
        return _DocFilter(not_locations=frozenset(str(v) for v in values))

    def _values(self, field_name: object, values: list[object]) -> _DocFilter:
        kind = _field_kind(field_name)
        if kind == "time" or not all(isinstance(v, str | int) for v in values):
            raise _SearchError("parsing_exception", f"term queries on [{field_name}] are not simulated")
        texts = frozenset(str(v) for v in values)
        if kind == "queue":
            return self._queues(frozenset(int(str(v)) for v in values))
        if kind == "agent":
            return _DocFilter(agents=texts)
        if kind == "name":
            return _DocFilter(names=texts)
        if kind == "channel":
            return _DocFilter(channels=texts)
        return _DocFilter(locations=texts)

    def _queues(self, wanted: frozenset[int]) -> _DocFilter:
        """5.0's queue (49 log files, 102 Windows channels, others not logs) as the locations it leaves out."""
        fleet = self._owner.fleet
        left_out: set[str] = set()
        for agent_id in fleet.agent_ids():
            for location in fleet.locations(agent_id):
                indexed, _ = fleet.indexed_as(agent_id, location)
                queue = (
                    102 if indexed in ("EventChannel", "WinEvtLog") else 49 if fleet.is_log(agent_id, location) else 0
                )
                if queue not in wanted:
                    left_out.add(indexed)
        return _DocFilter(not_locations=frozenset(left_out))

    def _range(self, body: object) -> _DocFilter:
        if not isinstance(body, dict) or len(body) != 1:
            raise _SearchError("parsing_exception", "[range] query must name exactly one field")
        field_name, bounds = next(iter(body.items()))
        if _field_kind(field_name) != "time" or not isinstance(bounds, dict):
            raise _SearchError("parsing_exception", f"range queries on [{field_name}] are not simulated")
        unknown = set(bounds) - {"gte", "gt", "lte", "lt", "format", "time_zone"}
        if unknown or bounds.get("time_zone", "Z") not in ("Z", "UTC", "+00:00"):
            raise _SearchError("parsing_exception", f"[range] options {sorted(unknown)} are not simulated")
        result = _DocFilter()
        if "gte" in bounds:
            result.lo = max(result.lo, ceil_ms(self._date(bounds["gte"])))
        if "gt" in bounds:
            result.lo = max(result.lo, to_ms(self._date(bounds["gt"])) + 1)
        if "lte" in bounds:
            result.hi = min(result.hi, to_ms(self._date(bounds["lte"])))
        if "lt" in bounds:
            result.hi = min(result.hi, ceil_ms(self._date(bounds["lt"])) - 1)
        return result

    def _date(self, value: object) -> datetime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
        if not isinstance(value, str):
            raise _SearchError("parse_exception", f"failed to parse date field [{value}]")
        math = _DATE_MATH.match(value.strip())
        if math is not None:
            now = self._owner.clock.now()
            sign, amount, unit = math.groups()
            if amount is None:
                return now
            delta = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
            return now - delta if sign == "-" else now + delta
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _SearchError(
                "parse_exception", f"failed to parse date field [{value}] with format [strict_date_optional_time]"
            ) from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The server pair


class SimulatorServer:
    """The Wazuh server API and the indexer on two loopback ports, answering for a Fleet."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        api_users: Mapping[str, str] | None = None,
        indexer_users: Mapping[str, str] | None = None,
        token_ttl_s: float = 900,
        max_rpm: int = 300,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        indices: tuple[str, ...] = (
            "wazuh-alerts-4.x-2026.12.01",
            "wazuh-alerts-4.x-2026.12.02",
            "wazuh-events-v5-system",
        ),
        ports: tuple[int, int] = (0, 0),  # API, indexer; 0 = any free port
        indexer_nodes: int = 1,  # the indexer cluster's nodes, each on its own port, answering alike
        schema: str = "4.x",  # 5.x: Wazuh 5.0 (its data streams only, 4.x field names unmapped, API 5.0.0)
    ) -> None:
        self.fleet = fleet
        # The indices the indexer holds: archives are off by default, so wazuh-archives-* matches none.
        self.indices = indices
        self.schema = schema
        if schema == "5.x":
            self.indices = tuple(i for i in indices if i.startswith("wazuh-events-v5")) or ("wazuh-events-v5-system",)
        self.api_users: dict[str, str] = dict(api_users if api_users is not None else {"wazuh": "wazuh"})
        self.indexer_users: dict[str, str] = dict(indexer_users if indexer_users is not None else {"admin": "admin"})
        # The security plugin's roles: user -> the index patterns it may search (a user not named may search all),
        # and the `do_not_fail_on_forbidden` setting (forbidden indices dropped silently instead of a 403).
        self.indexer_permissions: dict[str, tuple[str, ...]] = {}
        self.do_not_fail_on_forbidden = False
        self.max_buckets = 65_535  # search.max_buckets; admins lower it on busy clusters
        self.retention_s: float | None = None  # documents older than this are gone (5.0's streams: as little as 1 h)
        self.token_ttl_s = token_ttl_s
        self.max_rpm = max_rpm
        self.clock: Clock = clock or SystemClock()
        self.stats = SimStats()
        self.faults = Faults()
        self._ssl_context = ssl_context
        self._host = host
        self._ports = ports
        self._key = secrets.token_bytes(32)
        self._key_lock = threading.Lock()
        self._servers: list[_HttpServer] = []
        self._threads: list[threading.Thread] = []
        self.api_url = ""
        self.indexer_url = ""
        self._indexer_nodes = max(1, indexer_nodes)
        self._node_servers: list[_HttpServer] = []
        self.indexer_urls: list[str] = []  # every node's, the first being indexer_url

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._servers:
            return self
        scheme = "https" if self._ssl_context is not None else "http"
        urls: list[str] = []
        for app, port in zip((_ApiApp(self), _Indexer(self)), self._ports, strict=True):
            try:
                urls.append(self._serve(app, port, scheme))
            except BaseException:
                self.stop()  # the API may already listen when the indexer's port is taken
                raise
        self.api_url, self.indexer_url = urls
        self.indexer_urls = [self.indexer_url]
        self._node_servers = [self._servers[1]]
        for _ in range(self._indexer_nodes - 1):
            self.indexer_urls.append(self._serve(_Indexer(self), 0, scheme))
            self._node_servers.append(self._servers[-1])
        log.debug("simulator listening: API %s, indexer %s", self.api_url, self.indexer_url)
        return self

    def _serve(self, app: _App, port: int, scheme: str) -> str:
        """A listening server for `app` (the API, the indexer, an indexer node beyond the first); its URL."""
        server = _HttpServer((self._host, port), app)
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wazuh-simulator", daemon=True
        )
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        return f"{scheme}://{self._host}:{server.server_address[1]}"

    def stop_indexer_node(self, number: int) -> None:
        """Stop one indexer node (0 is indexer_url): its port refuses connections, the others go on answering."""
        server = self._node_servers[number]
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()

    def stop(self) -> None:
        for server in self._servers:
            server.stopping.set()
            server.shutdown()
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(self, user: str) -> str:
        """A signed JWT shaped like the real API's (HS256, its claims, exp = now + token_ttl_s)."""
        now = self.clock.now().timestamp()
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "nbf": int(now),
            "exp": int(now + self.token_ttl_s),
            "sub": user,
            "run_as": False,
            "rbac_roles": [1],
            "rbac_mode": "white",
        }
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(payload).encode())
        with self._key_lock:
            key = self._key
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def verify_token(self, token: str) -> str | None:
        """The token's user, or None when its signature, audience or validity period is wrong."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        with self._key_lock:
            key = self._key
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
                return None
            payload = json.loads(_b64url_decode(parts[1]))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict) or payload.get("aud") != AUDIENCE or payload.get("iss") != ISSUER:
            return None
        now = self.clock.now().timestamp()
        exp, nbf = payload.get("exp"), payload.get("nbf")
        if not isinstance(exp, int) or not isinstance(nbf, int) or now >= exp or now < nbf:
            return None
        user = payload.get("sub")
        return user if isinstance(user, str) and user in self.api_users else None

    def expire_tokens(self) -> None:
        """Every token issued so far stops working at once, as when the real API restarts."""
        with self._key_lock:
            self._key = secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"SimulatorServer(api_url={self.api_url!r}, indexer_url={self.indexer_url!r})"


__all__ = ["TRANSPORT_FAULTS", "Faults", "SimStats", "SimulatorServer"]
