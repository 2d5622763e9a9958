"""Channels whose receiver drips its answer's headers byte by byte: each exchange ends by its deadline, hung up.

The receivers' libraries time out each socket read (2 s here), and a byte comes every half second, so only a deadline
on the whole exchange (twice the timeout, headers included) ends it. Ended means ended: the call returns
while the receiver is still dripping, the receiver sees the connection closed, and no thread is left behind
still reading (the Slack channel once gave up waiting for slack_sdk's urllib call on a thread that read on).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk.web.base_client import BaseClient
from slack_sdk.webhook import WebhookClient

from log_monitor.errors import NotifierError
from log_monitor.models import Secret
from log_monitor.notifiers.pagerduty import PagerDutyNotifier
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.webhook import WebhookNotifier
from tests.helpers import notification

TOKEN = "xoxb-drip-secret-token"
HOOK_PATH = "/services/T000/B000/drip-secret-hook"

# A status line and headers of about 150 bytes: over a minute at a byte every half second.
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"x" * 80 + b"\r\nContent-Length: %d\r\n\r\n"
BODY = b'{"ok": true, "channel": "C000000001", "ts": "1700000000.000100"}'


class SlowHead:
    """A loopback server that reads each request, then sends the status line and headers a byte every `pause_s`.

    `connected` is set once a request is being answered; `hung_up` when a write fails because the client
    closed the connection; `sent_all` when a whole answer went out. `handlers` are the threads answering.
    """

    def __init__(self, pause_s: float = 0.5) -> None:
        self.stop = threading.Event()  # set when the test ends: a dripping handler stops at once
        self.connected = threading.Event()
        self.hung_up = threading.Event()
        self.sent_all = threading.Event()
        self.connections = 0
        self.handlers: set[threading.Thread] = set()
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    server.connections += 1
                    server.handlers.add(threading.current_thread())
                server.connected.set()
                self.close_connection = True
                head = HEAD % len(BODY)
                try:
                    for offset in range(len(head)):
                        self.wfile.write(head[offset : offset + 1])
                        self.wfile.flush()
                        if server.stop.wait(pause_s):
                            return
                    self.wfile.write(BODY)
                    server.sent_all.set()
                except OSError:  # the client closed the connection
                    server.hung_up.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> SlowHead:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[SlowHead]:
    with SlowHead() as server:
        yield server


def ended_for_good(server: SlowHead, before: list[threading.Thread]) -> None:
    """The call has returned: the server was still dripping, nothing of ours still runs, the server sees a hang-up."""
    assert not server.sent_all.is_set()  # it returned at its deadline, not when the answer was complete
    assert server.connected.wait(30)
    left = [t.name for t in threading.enumerate() if t not in before and t not in server.handlers and t.is_alive()]
    assert left == []  # no request left running on a thread of its own
    assert server.hung_up.wait(30)  # the connection was closed, not left open to read on
    assert server.connections == 1  # not sent again: the post may have landed, and it would cost the deadline again


SlackCall = Callable[[SlackNotifier], object]


@pytest.mark.parametrize(
    "call",
    [lambda slack: slack.send(notification()), lambda slack: slack.check()],
    ids=["chat.postMessage", "auth.test"],
)
def test_slack_with_a_bot_token_dripping_its_headers_ends_the_exchange_at_its_deadline_and_hangs_up(
    slow: SlowHead, call: SlackCall
) -> None:
    before = threading.enumerate()
    slack = SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=slow.url + "/api/", timeout=2.0)
    with pytest.raises(NotifierError, match=r"incomplete after the 4 s request deadline") as failed:
        call(slack)
    ended_for_good(slow, before)
    slack.close()
    assert not failed.value.permanent  # the next channel gets the message at once; Slack is tried again later
    assert TOKEN not in str(failed.value) and TOKEN not in repr(failed.value)


def test_a_slack_webhook_dripping_its_headers_ends_the_exchange_at_its_deadline_and_hangs_up(slow: SlowHead) -> None:
    before = threading.enumerate()
    slack = SlackNotifier(webhook_url=Secret(slow.url + HOOK_PATH), timeout=2.0)
    with pytest.raises(NotifierError, match=r"incomplete after the 4 s request deadline") as failed:
        slack.send(notification())
    ended_for_good(slow, before)
    slack.close()
    assert not failed.value.permanent
    assert "drip-secret-hook" not in str(failed.value) and "drip-secret-hook" not in repr(failed.value)


def test_the_methods_the_slack_channel_overrides_are_where_slack_sdk_opens_urls() -> None:
    # The channel bounds slack_sdk's exchange by overriding these (slack_sdk has no public transport hook for
    # its sync clients): an upgrade that renames them, or opens URLs elsewhere, must fail here, not in production.
    for cls, name in (
        (BaseClient, "_perform_urllib_http_request_internal"),
        (WebhookClient, "_perform_http_request_internal"),
    ):
        method = getattr(cls, name)
        assert list(inspect.signature(method).parameters) == ["self", "url", "req"]
        assert "urlopen(" in inspect.getsource(method)
    assert "urlopen(" not in inspect.getsource(BaseClient._perform_urllib_http_request)
    assert "urlopen(" not in inspect.getsource(WebhookClient._perform_http_request)


# -- the other HTTP channels (Teams and the heartbeat: test_runaway_backends.py) -------------------------------


def test_a_generic_webhook_dripping_its_headers_ends_the_exchange_at_its_deadline_and_hangs_up(slow: SlowHead) -> None:
    before = threading.enumerate()
    webhook = WebhookNotifier(url=Secret(slow.url + "/hook"), timeout=2.0)
    with pytest.raises(NotifierError, match=r"incomplete after the 4 s request deadline") as failed:
        webhook.send(notification())
    ended_for_good(slow, before)
    webhook.close()
    assert not failed.value.permanent


def test_pagerduty_dripping_its_headers_ends_the_exchange_at_its_deadline_and_hangs_up(slow: SlowHead) -> None:
    before = threading.enumerate()
    pagerduty = PagerDutyNotifier(routing_key=Secret("R0UTINGKEY"), url=slow.url + "/v2/enqueue", timeout=2.0)
    with pytest.raises(NotifierError, match=r"incomplete after the 4 s request deadline") as failed:
        pagerduty.send(notification())
    ended_for_good(slow, before)
    pagerduty.close()
    assert not failed.value.permanent
