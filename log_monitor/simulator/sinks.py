"""The demo's loopback Slack Web API and SMTP server: they accept what the monitor sends and print it as it arrives."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

Printer = Callable[[str], None]


class SlackSink:
    """chat.postMessage (threads too), chat.update and auth.test on 127.0.0.1, each printed as one line.

    Answers as the Web API does: a channel id and the message's `ts`, which a reply names as `thread_ts`.
    """

    def __init__(self, show: Printer) -> None:
        self._show = show
        self._lock = threading.Lock()
        self._ids: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._ts = 1_700_000_000.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _slack_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "team": "Demo SOC", "user": "log_monitor"}
        channel = str(payload.get("channel", ""))
        with self._lock:
            channel_id = self._ids.setdefault(channel, channel if channel in self._names else f"C{len(self._ids):09d}")
            self._names.setdefault(channel_id, channel)
            name = self._names[channel_id]
            self._ts += 1.0
            ts = f"{self._ts:.6f}"
        text = str(payload.get("text") or "").split("\n", 1)[0]
        if method == "chat.update":
            blocks = payload.get("blocks")
            blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
            head = blocks[0]["text"]["text"] if isinstance(blocks, list) and blocks else text
            self._show(f"slack {name:<14} |   ✎ first message edited: {head.replace('*', '')}")
            return {"ok": True, "channel": channel_id, "ts": payload.get("ts")}
        if payload.get("thread_ts"):
            shown = " (also sent to the channel)" if str(payload.get("reply_broadcast")).lower() == "true" else ""
            self._show(f"slack {name:<14} |   ↳ reply in thread{shown}: {text}")
        else:
            self._show(f"slack {name:<14} | {text}")
        return {"ok": True, "channel": channel_id, "ts": ts}

    def __enter__(self) -> SlackSink:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _slack_handler(sink: SlackSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            if "json" in self.headers.get("Content-Type", ""):
                payload = json.loads(raw or "{}")
            else:
                payload = {key: values[-1] for key, values in parse_qs(raw).items()}
            body = json.dumps(sink.answer(self.path.rsplit("/", 1)[-1], payload)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class SmtpSink:
    """A plain SMTP server on 127.0.0.1 (no TLS, no login) that prints each message's recipients and subject."""

    def __init__(self, show: Printer) -> None:
        sink_show = show

        class Session(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                recipients: list[str] = []
                self._say("220 demo ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode("ascii", "replace").strip().upper()
                    if verb.startswith(("EHLO", "HELO")):
                        self._say("250 demo")
                    elif verb.startswith("RCPT TO:"):
                        recipients.append(line.decode().strip()[8:].strip(" <>"))
                        self._say("250 OK")
                    elif verb == "DATA":
                        self._say("354 end with <CRLF>.<CRLF>")
                        message = email.message_from_bytes(self._data(), policy=email.policy.default)
                        sink_show(f"email {', '.join(recipients):<14} | {str(message['Subject']).strip()}")
                        recipients = []
                        self._say("250 accepted")
                    elif verb == "QUIT":
                        self._say("221 bye")
                        return
                    else:
                        self._say("250 OK")  # MAIL FROM, RSET, NOOP

            def _data(self) -> bytes:
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                return b"".join(lines)

            def _say(self, text: str) -> None:
                self.wfile.write(text.encode() + b"\r\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
