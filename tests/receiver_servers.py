"""Loopback fakes of a webhook receiver, PagerDuty's Events API v2 and a syslog collector (UDP and TCP).

The PagerDuty fake checks an event as the real API documents it (developer.pagerduty.com, Events API v2
"Send an Alert Event"): `routing_key` a 32-character integration key, `event_action` trigger, acknowledge
or resolve, `dedup_key` at most 255 characters (required for acknowledge and resolve), and for trigger a
`payload` with `summary` (at most 1024), `source` and `severity` (critical, error, warning, info). It
answers 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`, 400
`{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` or, when told to,
429 (`Retry-After` absent, as the API sends none) and 500.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")


class _HTTPFake:
    """A threading HTTP server on 127.0.0.1 that keeps every request (`requests`: headers and raw body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give first, in order (then the normal answer)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | str]:
        raise NotImplementedError

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        with self._lock:
            self.requests.append((headers, body))
            forced = self.statuses.pop(0) if self.statuses else None
        if forced is not None:
            return (
                forced,
                b'{"status":"throttle event","message":"Requests for this service are arriving too quickly"}'
                if forced == 429
                else b"oops",
                "application/json",
            )
        status, answer = self.answer(headers, body)
        data = json.dumps(answer).encode() if isinstance(answer, dict) else answer.encode()
        return status, data, "application/json" if isinstance(answer, dict) else "text/plain"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: _HTTPFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, data, content_type = fake.handle({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class WebhookServer(_HTTPFake):
    """Accepts every POST with 200 `ok`; `statuses` makes the first answers errors (503, 429...)."""

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | str]:
        return 200, "ok"

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests if body.startswith(b"{")]


class PagerDutyServer(_HTTPFake):
    """Events API v2 as documented; `events` keeps the accepted ones, `incidents` each dedup_key's state."""

    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, str] = {}  # dedup_key -> triggered / resolved

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any] | str]:
        try:
            event = json.loads(body)
        except ValueError:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["Invalid JSON"]}
        errors = pd_errors(event)
        if event.get("routing_key") != self.routing_key and not errors:
            errors = ["Invalid routing key"]
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        key = str(event.get("dedup_key") or uuid.uuid4().hex)
        self.events.append(event)
        self.incidents[key] = "resolved" if event["event_action"] == "resolve" else "triggered"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}


def pd_errors(event: Any) -> list[str]:
    """What the Events API v2 refuses in an event (the fields it documents as required or bounded)."""
    if not isinstance(event, dict):
        return ["Event object is not an object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a 32 character integration key")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge or resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' is missing or longer than 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload.get("source"):
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of critical, error, warning or info)")
    return errors


class SyslogCollector:
    """A syslog collector on 127.0.0.1: UDP (a datagram a message) or TCP with RFC 6587 octet counting."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.messages: list[bytes] = []
        self.received = threading.Event()
        collector = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                collector.add(self.request[0])

        class Tcp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    length = b""
                    while (ch := self.rfile.read(1)) not in (b" ", b""):
                        length += ch
                    if not length:
                        return
                    collector.add(self.rfile.read(int(length)))

        server_type = socketserver.ThreadingUDPServer if scheme == "udp" else socketserver.ThreadingTCPServer
        self._server = server_type(("127.0.0.1", 0), Udp if scheme == "udp" else Tcp)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def add(self, message: bytes) -> None:
        self.messages.append(message)
        self.received.set()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> SyslogCollector:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
