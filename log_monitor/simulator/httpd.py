"""The simulator's HTTP plumbing: a threaded loopback server, request limits, transport faults, how a service starts."""

from __future__ import annotations

import abc
import base64
import binascii
import contextlib
import email.utils
import json
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, TypeVar

from log_monitor.clock import Clock
from log_monitor.simulator.faults import TRANSPORT_FAULTS, Faults

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024

JSON = dict[str, Any]


class Host(Protocol):
    """What every service reads of the SimulatorServer that runs it."""

    faults: Faults
    clock: Clock


H = TypeVar("H", bound=Host)


@dataclass
class Reply:
    """One answer: status, body, content type and headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """Ends a request with an error answer."""

    def __init__(self, status: int, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def json_reply(status: int, body: object, headers: Mapping[str, str] | None = None, *, compact: bool = False) -> Reply:
    # OpenSearch writes its answers without spaces: the answer bytes a search costs are counted as sent.
    separators = (",", ":") if compact else None
    return Reply(status, json.dumps(body, separators=separators).encode(), headers=dict(headers or {}))


class App(abc.ABC, Generic[H]):
    """One simulated service (the API or the indexer) of a SimulatorServer."""

    sends_date = True

    def __init__(self, owner: H) -> None:
        self._owner = owner

    @abc.abstractmethod
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """The reply to one request."""

    @abc.abstractmethod
    def transport_fault(self) -> str:
        """The transport fault (one of TRANSPORT_FAULTS) the next request of this service meets."""

    def fault_settings(self) -> Faults:
        return self._owner.faults

    def clock_now(self) -> datetime:
        """The simulated world's time, for the Date header."""
        return self._owner.clock.now()


class HttpServer(ThreadingHTTPServer):
    """A threaded server that knows its open connections, so that stop() ends them at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App[Any]) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.stopping = threading.Event()  # set by stop(): a hanging request ends at once
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal; never print a traceback to stderr.
        log.debug("simulator connection from %s failed", client_address, exc_info=True)

    def stop(self) -> None:
        """Stop answering at once: a hanging request ends, open connections close, the port is released."""
        self.stopping.set()
        self.shutdown()
        self.close_connections()
        self.server_close()

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so httpx reuses connections as with the real services
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would delay each answer 40 ms
    server: HttpServer

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
            self._send(json_reply(400, {"error": "bad Content-Length", "status": 400}))
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
            reply = json_reply(500, {"title": "Internal Error", "detail": "simulator failure", "error": 1000})
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
            self._send(Reply(200, page, content_type="text/html"))
        elif fault == "malformed":
            self._send(Reply(200, b'{"data": {"affected_items": [{"id": "001", "na'))
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

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def serve(
    app: App[Any], host: str, port: int, ssl_context: ssl.SSLContext | None
) -> tuple[HttpServer, threading.Thread]:
    """A server listening for `app` on its own thread (the API, the indexer, an indexer node beyond the first)."""
    server = HttpServer((host, port), app)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wazuh-simulator", daemon=True
    )
    thread.start()
    return server, thread
