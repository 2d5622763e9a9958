"""The Teams channel, with httpx against a small loopback HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from log_monitor.errors import NotifierError
from log_monitor.models import Secret, Severity
from log_monitor.notifiers.teams import MAX_CARD_BYTES, TeamsNotifier
from tests.helpers import notification

HOOK_PATH = "/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG"


alert = notification  # the shared ALERT about agent 002 db-primary


class Hook:
    """A loopback webhook answering every POST with `status`, keeping the JSON bodies it received."""

    def __init__(self) -> None:
        self.status = 202
        self.bodies: list[dict[str, Any]] = []
        self.sizes: list[int] = []  # bytes of each body as received
        self.heads: list[str] = []  # paths asked with HEAD
        self.peers: list[int] = []  # the client's port of each POST: one per connection
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so a reused connection shows

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
                hook.sizes.append(len(raw))
                hook.peers.append(self.client_address[1])
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


def test_one_client_is_reused_so_a_burst_of_alerts_rides_one_connection(hook: Hook) -> None:
    notifier = TeamsNotifier(webhook_url=Secret(hook.url))
    try:
        for _ in range(3):
            notifier.send(alert())
    finally:
        notifier.close()
    assert len(hook.bodies) == 3
    assert len(set(hook.peers)) == 1


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


HOSTILE = "[Click to fix](https://evil.example) <!channel> *bold* `code` _it_"


def texts(card: dict[str, Any]) -> list[str]:
    """Every string Teams renders as Markdown: TextBlock text, Fact titles and values."""
    found: list[str] = []
    for block in card["attachments"][0]["content"]["body"]:
        if block["type"] == "TextBlock":
            found.append(block["text"])
        for fact in block.get("facts", []):
            found += [fact["title"], fact["value"]]
    return found


def test_hostile_names_and_locations_show_as_text_not_as_links_or_formatting(hook: Hook) -> None:
    note = replace(alert(), label=HOSTILE, agent_name="*boss*", location="- [x](https://evil.example)", detail=HOSTILE)
    notifier = TeamsNotifier(webhook_url=Secret(hook.url))
    notifier.send(note)
    notifier.send_group([replace(note, id=f"n{i}") for i in range(5)])
    for body in hook.bodies:
        shown = "\n".join(texts(body))
        assert "[Click to fix](" not in shown.replace("\\[Click to fix\\](", "")
        assert "\\[Click to fix\\](https://evil.example) <!channel> \\*bold\\* \\`code\\` \\_it\\_" in shown
        assert "*bold*" not in shown and "`code`" not in shown
    facts = dict((f["title"], f["value"]) for f in hook.bodies[0]["attachments"][0]["content"]["body"][1]["facts"])
    assert facts["Location"] == "\\- \\[x\\](https://evil.example)"  # not a list item, not a link
    assert "(name \\*boss\\*)" in facts["Agent"]


def test_a_windows_path_keeps_its_backslashes_as_they_are(hook: Hook) -> None:
    TeamsNotifier(webhook_url=Secret(hook.url)).send(replace(alert(), location="C:\\Windows\\System32\\x.log"))
    assert any(value == "C:\\Windows\\System32\\x.log" for value in texts(hook.bodies[0]))


def test_a_grouped_card_stays_under_the_teams_size_limit_and_says_how_many_more(hook: Hook) -> None:
    notes = [
        replace(alert(), id=f"n{i}", agent_id=f"{i:03d}", label="*" * 1500, severity=Severity.WARNING)
        for i in range(39)
    ]
    notes.append(replace(alert(), id="worst", agent_id="999", label="the critical one"))
    TeamsNotifier(webhook_url=Secret(hook.url)).send_group(notes)
    [size] = hook.sizes
    assert size <= MAX_CARD_BYTES < 28_000
    lines = texts(hook.bodies[0])
    assert "the critical one" in lines[1]  # worst first: what is cut is the least urgent
    [more] = [line for line in lines if line.startswith("… and ")]
    shown = sum(1 for line in lines if line.startswith("WARNING") or line.startswith("CRITICAL"))
    assert 1 < shown < 40 and more == f"… and {40 - shown} more"


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
