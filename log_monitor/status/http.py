"""The status server's HTTP side: routes, the Host check, the token, one heavy answer at a time (docs/status.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from log_monitor.app import App
from log_monitor.closing import Closing
from log_monitor.httpserve import BoundedHTTPServer, PrefetchedRequestHandler, ServerLimits
from log_monitor.models import Secret
from log_monitor.status.charts import MAX_CHARTS, Charts
from log_monitor.status.documents import HEALTH_GRACE_S, MAX_ALERTS, MAX_TARGETS_PAGE, TARGETS_PAGE, Documents
from log_monitor.status.metrics import PROMETHEUS_CONTENT_TYPE, metrics_text, registry
from log_monitor.view import SHOWN

log = logging.getLogger(__name__)

# Answers that walk every target (the targets' JSON, /metrics, charts) built at once: more clients wait for
# their turn (up to HEAVY_WAIT_S, then 503), so dashboards left open cannot take the checks' CPU and memory.
HEAVY_AT_ONCE = 1
HEAVY_WAIT_S = 10.0


class StatusServer(Closing):
    """A bounded HTTP server on a daemon thread; reads the state store and the monitor's counters, never writes."""

    def __init__(
        self,
        app: App,
        address: tuple[str, int],
        token: Secret | None = None,
        *,
        limits: ServerLimits | None = None,
        health_grace_s: float = HEALTH_GRACE_S,
    ) -> None:
        self.app = app
        self._token = token.reveal().encode() if token else None
        self.documents = Documents(app, health_grace_s=health_grace_s)
        self.charts = Charts(self.documents)
        self.registry = registry(self.documents)
        self.heavy = threading.BoundedSemaphore(HEAVY_AT_ONCE)
        names = {"localhost", address[0], socket.gethostname(), socket.getfqdn(), *app.settings.status_hosts}
        self._host_names = {name.lower().rstrip(".") for name in names if name}
        server_class = _V6Server if ":" in address[0] else _V4Server
        self._server = server_class(address, _Handler, limits)
        self._server.status = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed (at most the limits' max_connections)."""
        return self._server.open_connections

    def start(self) -> StatusServer:
        self._thread.start()
        log.info("status server listening on %s", self.url)
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    # -- access --------------------------------------------------------------------------

    def host_allowed(self, header: str | None) -> bool:
        """Whether the Host header names this server: an IP address, loopback, this host or STATUS_HOSTS.

        A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name: refused.
        """
        if not header:
            return True  # HTTP/1.0 without Host; a browser always sends one
        host = header.strip()
        if host.startswith("["):
            return True  # an IPv6 literal: no name to rebind
        name, sep, port = host.rpartition(":")
        if not sep or not port.isdigit():
            name = host
        name = name.lower().rstrip(".")
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self._host_names
        return True

    def authorized(self, header: str | None, query_token: str | None = None) -> bool:
        if self._token is None:
            return True
        given = ""
        if header and header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        elif query_token is not None:
            given = query_token
        # Constant time, so the token cannot be guessed byte by byte from response times.
        return hmac.compare_digest(given.encode(), self._token)


# -- HTTP -------------------------------------------------------------------------------


class _V4Server(BoundedHTTPServer):
    status: StatusServer


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


NO_SCRIPT = "default-src 'none'"
TOKEN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>log_monitor: token required</title></head>
<body>
<h1>log_monitor status: a token is required</h1>
<p>This status server is protected by <code>STATUS_TOKEN</code> (or <code>STATUS_TOKEN_FILE</code>) in the
monitor's env file. Open this page once with the token in the address:</p>
<pre>/?token=&lt;the value of STATUS_TOKEN&gt;</pre>
<p>The page keeps it for this browser tab only and takes it out of the address bar. Scripts and
Prometheus send it as a header instead: <code>Authorization: Bearer &lt;STATUS_TOKEN&gt;</code>.
<code>/healthz</code> answers without it.</p>
</body></html>
"""


def _page() -> tuple[bytes, str]:
    """The dashboard and its Content-Security-Policy: only its own inline script and style may run."""
    text = resources.files("log_monitor").joinpath("dashboard.html").read_text(encoding="utf-8")
    hashes = {}
    for tag in ("script", "style"):
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        if match is None:
            raise RuntimeError(f"dashboard.html has no <{tag}>")
        digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
        hashes[tag] = f"'sha256-{digest}'"
    policy = (
        f"default-src 'none'; script-src {hashes['script']}; style-src {hashes['style']}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return text.encode(), policy


class _Handler(PrefetchedRequestHandler):
    server: _V4Server
    server_version = "log_monitor-status"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        # Path only, never the query: `?token=` must not reach the log.
        log.debug("status %s %s", self.command, urlsplit(self.path).path)

    head_only = False

    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """As GET, without the body (load balancers' checks)."""
        self.head_only = True
        self.do_GET()

    def do_OPTIONS(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """What HAProxy's default check sends: the methods, and nothing else about the monitor."""
        if self._host_refused():
            return
        self._send(204, b"", "text/plain", {"Allow": "GET, HEAD, OPTIONS"})

    def _host_refused(self) -> bool:
        """Answer 421 (and say True) when the Host header names another site."""
        if self.server.status.host_allowed(self.headers.get("Host")):
            return False
        self._json(421, {"error": "this server does not answer to that host name; add it to STATUS_HOSTS"})
        return True

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        status = self.server.status
        if self._host_refused():
            return
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        try:
            if path == "/healthz":
                healthy, body = status.documents.health(detailed=status.authorized(self.headers.get("Authorization")))
                self._json(200 if healthy else 503, body)
                return
            if path == "/favicon.ico":
                self._send(204, b"", "text/plain")
                return
            query_token = query.get("token", [None])[0] if path == "/" else None
            if not status.authorized(self.headers.get("Authorization"), query_token):
                if path == "/":  # a person at a browser: a page that says what to do, not a line of JSON
                    self._send(
                        401, TOKEN_PAGE, "text/html; charset=utf-8", {"Content-Security-Policy": "default-src 'none'"}
                    )
                    return
                self._json(401, {"error": "a bearer token is required: Authorization: Bearer <STATUS_TOKEN>"})
                return
            self._route(status, path, query)
        except (ConnectionError, TimeoutError):
            raise  # the client hung up: the server says so in one debug line
        except Exception:
            log.exception("status server: %s failed", path)
            self._json(500, {"error": "internal error; see the monitor's log"})

    def _route(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        if path not in ("/metrics", "/api/targets", "/api/charts"):
            self._route_light(status, path, query)
            return
        if not status.heavy.acquire(timeout=HEAVY_WAIT_S):
            self._json(503, {"error": "busy answering other clients; try again shortly"}, {"Retry-After": "5"})
            return
        try:
            self._route_heavy(status, path, query)
        finally:
            status.heavy.release()

    def _route_heavy(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        """The answers that walk every target: one at a time."""
        if path == "/metrics":
            self._send(200, metrics_text(status.registry), PROMETHEUS_CONTENT_TYPE)
        elif path == "/api/targets":
            wanted = None
            if "state" in query:
                wanted = {s.strip().upper() for value in query["state"] for s in value.split(",") if s.strip()}
                known = set(SHOWN)
                if not wanted <= known:
                    self._json(400, {"error": f"unknown state {sorted(wanted - known)}; one of {sorted(known)}"})
                    return
            limit = self._limit(query, TARGETS_PAGE, MAX_TARGETS_PAGE)
            offset_text = query.get("offset", ["0"])[0]
            if not offset_text.isdigit() or len(offset_text) > 9:
                self._json(400, {"error": "offset must be a whole number"})
                return
            if limit is not None:
                self._json(200, status.documents.targets_document(wanted, limit, int(offset_text)))
        else:
            limit = self._limit(query, 24, MAX_CHARTS)
            if limit is not None:
                self._json(200, status.charts.charts_document(limit))

    def _route_light(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        if path == "/":
            page, policy = _page()
            self._send(200, page, "text/html; charset=utf-8", {"Content-Security-Policy": policy})
        elif path.startswith("/api/targets/"):
            key = unquote(path.removeprefix("/api/targets/"))
            document = status.documents.target_document(key)
            if document is None:
                self._json(404, {"error": f"no target {key!r}"})
            else:
                self._json(200, document)
        elif path == "/api/alerts":
            limit = self._limit(query, 50, MAX_ALERTS)
            if limit is not None:
                self._json(200, status.documents.alerts_document(limit))
        else:
            endpoints = ["/", "/healthz", "/metrics", "/api/targets", "/api/alerts", "/api/charts"]
            self._json(404, {"error": "not found", "endpoints": endpoints})

    def _limit(self, query: dict[str, list[str]], default: int, most: int) -> int | None:
        """The `limit` asked for, or None once a 400 has said why it is refused."""
        text = query.get("limit", [str(default)])[0]
        if not text.isdigit() or not 1 <= int(text) <= most:
            self._json(400, {"error": f"limit must be a whole number from 1 to {most}"})
            return None
        return int(text)

    def _json(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(body).encode(), "application/json", headers)

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="log_monitor"')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)


def start_status_server(app: App) -> StatusServer | None:
    """The daemon's status server when STATUS_ADDR is set; a failure to bind is logged, monitoring goes on."""
    address = app.settings.status_addr
    if address is None:
        return None
    try:
        return StatusServer(app, address, app.settings.status_token).start()
    except OSError as exc:
        # The dashboard is not worth stopping the alerts for; /healthz staying unreachable will be noticed.
        log.error("status server not started on %s:%d: %s", address[0], address[1], exc)
        return None
