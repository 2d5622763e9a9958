"""A loopback HTTP/1.1 server that plays a JSON backend: each request's answer comes from the test."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# (HTTP method, the request's JSON body or {}) -> the answer's bytes
Respond = Callable[[str, dict[str, Any]], bytes]


class JsonBackend:
    """Answers each request of `methods` with `respond(method, body)`, 200 and `application/json` (another method
    gets http.server's 501, as a handler without it would); a context manager."""

    def __init__(self, respond: Respond, methods: tuple[str, ...] = ("GET", "POST")) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                if method not in methods:
                    self.send_error(501, f"Unsupported method ({method!r})")
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = respond(method, json.loads(raw or b"{}"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
