"""A loopback fake of the Slack Web API and an incoming webhook, for testing with the real slack_sdk client."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

WEBHOOK_PATH = "/services/T000/B000/XXXXXXXXXXXXXXXX"

# What a webhook answers for a given failure: (HTTP status, plain-text body), as hooks.slack.com does.
_WEBHOOK_FAILURES = {
    "ratelimited": (429, "rate_limited"),
    "invalid_auth": (403, "invalid_token"),
    "invalid_token": (403, "invalid_token"),
    "channel_not_found": (404, "channel_not_found"),
    "channel_is_archived": (410, "channel_is_archived"),
}


MODES = ("ok", "500", "429", "invalid_auth", "hang", "down")


class SlackServer:
    """`with SlackServer() as slack:` serves /api/chat.postMessage, /api/auth.test and a webhook on 127.0.0.1.

    `fail_with` makes every call fail with that Slack error code ("ratelimited" answers 429 with
    Retry-After: `retry_after`); `status` answers every call with that HTTP status (e.g. 503). Messages
    accepted are in `messages` (dicts with channel, text, blocks); every request path, failed or not, is
    in `requests`. `failures_left` limits the failures to the first N requests (then it answers ok).
    `delay_s` makes a slow Slack: an accepted message is recorded at once and answered that much later.

    Threads and edits are checked as the real Web API does them: each channel has an id (`channel_ids`),
    which chat.postMessage answers with; a reply's `thread_ts` must be the ts of a message in that channel
    (else `thread_not_found`); chat.update takes the channel's id, not its name (else `channel_not_found`),
    and the ts of a message there (else `message_not_found`). Replies are in `messages` with their
    `thread_ts` and `reply_broadcast`; edits are in `updates` (channel id, ts, text, blocks).

    `set_mode()` switches at run time between MODES: ok, 500, 429 (Retry-After), invalid_auth, hang (the
    connection is accepted and never answered, until the mode changes or the server stops) and down (the
    port is closed; it opens again, on the same port, with any other mode).
    """

    def __init__(
        self,
        token: str = "xoxb-test-token",  # noqa: S107 - a fake token for a fake server
        channels: tuple[str, ...] = ("#soc",),
        fail_with: str | None = None,
        status: int = 200,
        retry_after: int = 1,
    ) -> None:
        self.token = token
        self.channels = channels
        self.fail_with = fail_with
        self.status = status
        self.retry_after = retry_after
        self.failures_left: int | None = None
        self.delay_s = 0.0
        self.hanging = False
        self.release = threading.Event()  # set: hanging requests end (without an answer)
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._requests: list[str] = []
        self.channel_ids = {name: f"C{index:09d}" for index, name in enumerate(channels, start=1)}
        self.updates: list[dict[str, Any]] = []
        self._posted: dict[str, set[str]] = {}  # channel id -> the ts of every message posted there
        self._ts = 1_700_000_000.000100
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._port = int(self._server.server_address[1])
        self._thread = self._serve_thread()
        self._down = False

    def _serve_thread(self) -> threading.Thread:
        return threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-slack", daemon=True
        )

    def set_mode(self, mode: str, *, failures: int | None = None) -> None:
        """Answer every later request as `mode` (one of MODES); `failures`: only the next N, then ok."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.failures_left = failures
        self.fail_with = {"429": "ratelimited", "invalid_auth": "invalid_auth"}.get(mode)
        self.status = 500 if mode == "500" else 200
        self.hanging = mode == "hang"
        if mode != "hang":
            self.release.set()
        else:
            self.release.clear()
        if mode == "down" and not self._down:
            self._stop_serving()
            self._down = True
        elif mode != "down" and self._down:
            self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = self._serve_thread()
            self._thread.start()
            self._down = False

    def failing(self) -> bool:
        """Whether this request gets the configured failure (counts down `failures_left`)."""
        with self._lock:
            if self.failures_left is None:
                return True
            if self.failures_left <= 0:
                return False
            self.failures_left -= 1
            return True

    def _stop_serving(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    def post(self, channel_id: str) -> str:
        """A new message's ts in the channel, unique and increasing as Slack's are."""
        with self._lock:
            self._ts += 0.0001
            ts = f"{self._ts:.6f}"
            self._posted.setdefault(channel_id, set()).add(ts)
            return ts

    def posted(self, channel_id: str, ts: str) -> bool:
        with self._lock:
            return ts in self._posted.get(channel_id, set())

    def record(self, path: str, message: dict[str, Any] | None) -> None:
        with self._lock:
            self._requests.append(path)
            if message is not None:
                self._messages.append(message)

    def __enter__(self) -> SlackServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        if not self._down:
            self._stop_serving()


def _handler_for(slack: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            payload = _parse(raw, self.headers.get("Content-Type", ""))
            path = self.path.split("?", 1)[0]
            if path == WEBHOOK_PATH:
                self._webhook(payload)
            elif path == "/api/chat.postMessage":
                self._post_message(payload)
            elif path == "/api/chat.update":
                self._update(payload)
            elif path == "/api/auth.test":
                self._auth_test()
            else:
                slack.record(path, None)
                self._json(404, {"ok": False, "error": "unknown_method"})

        def _hang(self, path: str) -> bool:
            """In hang mode: read the request, answer nothing, close when released (the client times out)."""
            if not slack.hanging or not slack.failing():
                return False
            slack.record(path, None)
            slack.release.wait(30)
            self.close_connection = True
            return True

        def _failure(self, path: str) -> bool:
            if self._hang(path):
                return True
            if slack.status < 500 and slack.fail_with is None:
                return False
            if not slack.failing():
                return False
            slack.record(path, None)
            if slack.status >= 500:
                self._text(slack.status, "internal error")
            elif slack.fail_with == "ratelimited":
                self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(slack.retry_after)})
            else:
                self._json(slack.status, {"ok": False, "error": slack.fail_with})
            return True

        def _authorized(self, path: str) -> bool:
            if self.headers.get("Authorization") == f"Bearer {slack.token}":
                return True
            slack.record(path, None)
            self._json(
                200, {"ok": False, "error": "invalid_auth" if self.headers.get("Authorization") else "not_authed"}
            )
            return False

        def _post_message(self, payload: dict[str, Any]) -> None:
            path = "/api/chat.postMessage"
            if self._failure(path) or not self._authorized(path):
                return
            channel = payload.get("channel")
            ids = slack.channel_ids
            channel_id = ids.get(str(channel)) or (str(channel) if channel in ids.values() else None)
            if channel_id is None:
                slack.record(path, None)
                self._json(200, {"ok": False, "error": "channel_not_found"})
                return
            thread_ts = payload.get("thread_ts")
            if thread_ts is not None and not slack.posted(channel_id, str(thread_ts)):
                slack.record(path, None)
                self._json(200, {"ok": False, "error": "thread_not_found"})
                return
            blocks = payload.get("blocks")
            if isinstance(blocks, str):  # form-encoded requests carry blocks as a JSON string
                blocks = json.loads(blocks)
            ts = slack.post(channel_id)
            message = {"channel": channel, "text": payload.get("text"), "blocks": blocks, "ts": ts}
            if thread_ts is not None:
                broadcast = payload.get("reply_broadcast")
                message |= {"thread_ts": str(thread_ts), "reply_broadcast": broadcast in (True, "true", "1", 1)}
            slack.record(path, message)
            if slack.delay_s:
                time.sleep(slack.delay_s)  # posted, not yet acknowledged: a client dying now never hears of it
            self._json(200, {"ok": True, "channel": channel_id, "ts": ts, "message": {**message, "ts": ts}})

        def _update(self, payload: dict[str, Any]) -> None:
            path = "/api/chat.update"
            if self._failure(path) or not self._authorized(path):
                return
            channel_id, ts = str(payload.get("channel")), str(payload.get("ts"))
            if channel_id not in slack.channel_ids.values():  # a name is not enough here: the id is required
                slack.record(path, None)
                self._json(200, {"ok": False, "error": "channel_not_found"})
                return
            if not slack.posted(channel_id, ts):
                slack.record(path, None)
                self._json(200, {"ok": False, "error": "message_not_found"})
                return
            blocks = payload.get("blocks")
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            slack.record(path, None)
            with slack._lock:
                slack.updates.append({"channel": channel_id, "ts": ts, "text": payload.get("text"), "blocks": blocks})
            self._json(200, {"ok": True, "channel": channel_id, "ts": ts, "text": payload.get("text")})

        def _auth_test(self) -> None:
            path = "/api/auth.test"
            if self._failure(path) or not self._authorized(path):
                return
            slack.record(path, None)
            self._json(200, {"ok": True, "team": "Example SOC", "user": "log_monitor", "team_id": "T000"})

        def _webhook(self, payload: dict[str, Any]) -> None:
            path = WEBHOOK_PATH
            if self._hang(path):
                return
            failing = (slack.status >= 500 or slack.fail_with is not None) and slack.failing()
            if failing and slack.status >= 500:
                slack.record(path, None)
                self._text(slack.status, "internal error")
                return
            if failing and slack.fail_with is not None:
                slack.record(path, None)
                status, body = _WEBHOOK_FAILURES.get(slack.fail_with, (400, slack.fail_with))
                self._text(status, body, {"Retry-After": str(slack.retry_after)} if status == 429 else None)
                return
            message = {"channel": None, "text": payload.get("text"), "blocks": payload.get("blocks")}
            slack.record(path, message)
            self._text(200, "ok")

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

        def _text(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, body.encode(), "text/plain; charset=utf-8", headers)

        def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _parse(raw: bytes, content_type: str) -> dict[str, Any]:
    """A request body as slack_sdk sends it: JSON, or application/x-www-form-urlencoded."""
    if not raw:
        return {}
    text = raw.decode("utf-8")
    if "json" in content_type:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, dict) else {}
    return {key: values[-1] for key, values in parse_qs(text).items()}
