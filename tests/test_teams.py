"""The Teams channel, with httpx against a small loopback HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from log_monitor.errors import NotifierError
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers.teams import TeamsNotifier

HOOK_PATH = "/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG"


def alert() -> Notification:
    return Notification(
        id="n1",
        created_at=datetime(2026, 11, 22, 10, 15, tzinfo=UTC),
        kind=NotificationKind.ALERT,
        severity=Severity.CRITICAL,
        target_key="agent:002",
        label="db-primary",
        condition=Condition.DISCONNECTED,
        host="soc-monitor",
        agent_id="002",
        last_event=datetime(2026, 11, 22, 9, 59, 30, tzinfo=UTC),
        silent_for_s=3900.0,
    )


class Hook:
    """A loopback webhook answering every POST with `status`, keeping the JSON bodies it received."""

    def __init__(self) -> None:
        self.status = 202
        self.bodies: list[dict[str, Any]] = []
        self.heads: list[str] = []  # paths asked with HEAD
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                hook.heads.append(self.path)
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.bodies.append(json.loads(raw))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{HOOK_PATH}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_the_alert_is_posted_as_an_adaptive_card(hook: Hook) -> None:
    TeamsNotifier(webhook_url=Secret(hook.url)).send(alert())
    [body] = hook.bodies
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["version"] == "1.4"
    text = json.dumps(content)
    assert "agent 002 db-primary is DISCONNECTED for 1h 05m" in text
    assert "2026-11-22 09:59:30 UTC" in text


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (403, True), (404, True), (429, False), (502, False)])
def test_an_error_status_is_permanent_for_4xx_and_transient_for_429_and_5xx(
    hook: Hook, status: int, permanent: bool
) -> None:
    hook.status = status
    with pytest.raises(NotifierError) as caught:
        TeamsNotifier(webhook_url=Secret(hook.url)).send(alert())
    assert caught.value.permanent is permanent
    assert str(status) in str(caught.value)
    assert "SECRETSIG" not in str(caught.value)


def test_a_closed_port_is_transient_and_the_url_is_never_shown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{HOOK_PATH}"
    notifier = TeamsNotifier(webhook_url=Secret(url), timeout=2.0)
    with pytest.raises(NotifierError) as caught:
        notifier.send(alert())
    assert not caught.value.permanent
    assert "SECRETSIG" not in str(caught.value)
    assert "SECRETSIG" not in repr(notifier)


def test_a_url_that_is_not_http_is_permanent() -> None:
    with pytest.raises(NotifierError) as caught:
        TeamsNotifier(webhook_url=Secret("ftp://example.org/hook?sig=SECRETSIG")).send(alert())
    assert caught.value.permanent
    assert "SECRETSIG" not in str(caught.value)


def test_a_group_is_posted_as_one_card_listing_every_notification(hook: Hook) -> None:
    notes = [replace(alert(), id=f"n{i}", agent_id=f"00{i}", label=f"host-{i}") for i in range(1, 6)]
    TeamsNotifier(webhook_url=Secret(hook.url)).send_group(notes)
    [body] = hook.bodies
    text = json.dumps(body["attachments"][0]["content"])
    assert "5 notifications at once: 5 CRITICAL" in text
    for i in range(1, 6):
        assert f"agent 00{i} host-{i} is DISCONNECTED" in text


def test_the_connection_check_reaches_the_host_without_calling_the_webhook(hook: Hook) -> None:
    detail = TeamsNotifier(webhook_url=Secret(hook.url)).check()
    assert hook.heads == ["/"]
    assert hook.bodies == []
    assert "not called" in detail
    assert "SECRETSIG" not in detail


def test_the_connection_check_fails_transiently_on_a_closed_port_without_showing_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = TeamsNotifier(webhook_url=Secret(f"http://127.0.0.1:{port}{HOOK_PATH}"), timeout=2.0)
    with pytest.raises(NotifierError) as caught:
        notifier.check()
    assert not caught.value.permanent
    assert "SECRETSIG" not in str(caught.value)
