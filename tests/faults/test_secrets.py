"""Secrets never leak through a library's error text: the Slack and Wazuh boundaries map it to our words."""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import httpx
import pytest

from log_monitor.clock import SystemClock
from log_monitor.errors import BackendError, NotifierError, describe_network_error
from log_monitor.httpboundary import httpx_errors
from log_monitor.logsetup import RedactingFilter, setup_logging
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from tests.helpers import notification
from tests.slack_server import SlackServer

HIDDEN = "SECRET-PART-42"


def a_note() -> Notification:
    return notification(
        id="n-1",
        created_at=datetime(2026, 11, 22, tzinfo=UTC),
        kind=NotificationKind.TEST,
        severity=Severity.OK,
        target_key="test",
        label="test",
        condition=Condition.OK,
        host="monitor-1",
        agent_id=None,
        last_event=None,
        silent_for_s=None,
    )


@pytest.mark.parametrize("token", [f"xoxb-1\n{HIDDEN}", f"xoxb-1\r{HIDDEN}"])
def test_a_slack_token_http_refuses_is_a_permanent_error_that_never_shows_it(token: str) -> None:
    with SlackServer(token="xoxb-1", channels=("#soc",)) as slack:
        notifier = SlackNotifier(token=Secret(token), channel="#soc", webhook_url=None, api_url=slack.api_url)
        with pytest.raises(NotifierError) as caught:
            notifier.send(a_note())
    assert caught.value.permanent
    assert HIDDEN not in str(caught.value) and "character HTTP does not allow" in str(caught.value)


def test_a_slack_webhook_url_http_refuses_never_shows_it() -> None:
    notifier = SlackNotifier(
        token=None, channel=None, webhook_url=Secret(f"http://127.0.0.1:9/hook\x7f{HIDDEN}"), api_url=""
    )
    with pytest.raises(NotifierError) as caught:
        notifier.send(a_note())
    assert HIDDEN not in str(caught.value)


def _transport_errors() -> list[type[httpx.TransportError]]:
    found: list[type[httpx.TransportError]] = []
    pending: list[type[httpx.TransportError]] = [httpx.TransportError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _transport_errors(), ids=lambda cls: cls.__name__)
def test_every_httpx_transport_error_is_described_in_our_words_without_its_text(
    cls: type[httpx.TransportError],
) -> None:
    described = describe_network_error(cls(f"Illegal header value b'Bearer {HIDDEN}'"))
    assert HIDDEN not in described
    assert described.startswith(f"{cls.__name__}: ")
    if cls is not httpx.TransportError:
        assert not described.endswith("request failed"), "give this error its own words"


def _httpx_exceptions() -> list[type[Exception]]:
    """Every exception class httpx exports (InvalidURL, CookieConflict and the stream errors are outside HTTPError)."""
    return [
        obj for name in httpx.__all__ if isinstance(obj := getattr(httpx, name), type) and issubclass(obj, Exception)
    ]


def _raised(cls: type[Exception], text: str) -> Exception:
    if cls is httpx.HTTPStatusError:
        request = httpx.Request("GET", "http://wazuh.example/")
        return httpx.HTTPStatusError(text, request=request, response=httpx.Response(500, request=request))
    if issubclass(cls, httpx.StreamError) and cls is not httpx.StreamError:
        return cast(Callable[[], Exception], cls)()  # their text is fixed: they take no message
    return cls(text)


@dataclass(frozen=True)
class _MappedError(Exception):
    message: str
    answered: bool
    retryable: bool


def _fail(message: str, *, answered: bool, retryable: bool) -> Exception:
    return _MappedError(message, answered, retryable)


# Errors of our own making or of httpx's API use: no transport-specific words to give them.
_GENERIC = {"HTTPError", "RequestError", "TransportError", "CookieConflict", "HTTPStatusError"}


@pytest.mark.parametrize("cls", _httpx_exceptions(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_becomes_ours_at_the_one_boundary_in_our_words(cls: type[Exception]) -> None:
    with pytest.raises(_MappedError) as caught, httpx_errors("GET /agents", _fail):
        raise _raised(cls, f"Illegal header value b'Bearer {HIDDEN}' for https://wazuh.example/?t={HIDDEN}")
    mapped = caught.value
    assert HIDDEN not in mapped.message
    assert mapped.message.startswith(f"GET /agents: {cls.__name__}: ") or mapped.message == "GET /agents: timed out"
    if cls.__name__ not in _GENERIC and not issubclass(cls, httpx.StreamError):
        assert not mapped.message.endswith("request failed"), "give this error its own words"
    # Only what the network may heal is retried: a bad URL, header or body fails the same way again.
    refused = httpx.UnsupportedProtocol | httpx.LocalProtocolError
    assert mapped.retryable is (issubclass(cls, httpx.TransportError) and not issubclass(cls, refused))
    assert mapped.answered is issubclass(cls, httpx.DecodingError | httpx.TooManyRedirects | httpx.HTTPStatusError)


def test_a_tls_failure_is_not_retried_and_says_why() -> None:
    with pytest.raises(_MappedError) as caught, httpx_errors("GET /", _fail):
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"[SSL] {HIDDEN}") from exc
    assert not caught.value.retryable
    assert "TLS" in caught.value.message and HIDDEN not in caught.value.message


class _LeakyAPI(BaseHTTPRequestHandler):
    """A Wazuh API whose login hands out a token no HTTP header may carry."""

    def do_POST(self) -> None:
        body = json.dumps({"data": {"token": f"jwt\n{HIDDEN}"}, "error": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def leaky_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LeakyAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_api_token_http_refuses_becomes_a_backend_error_in_our_words(leaky_api: str) -> None:
    api = WazuhAPIHandler(
        Connection(leaky_api, "wazuh", Secret("wazuh-pass"), verify=False, sleep=lambda _: None),
        max_rpm=100,
        clock=SystemClock(),
    )
    with pytest.raises(BackendError) as caught:
        api.list_agents(exclude_manager=True)
    assert HIDDEN not in str(caught.value), str(caught.value)
    api.close()


def test_masking_leaves_short_secrets_alone_so_an_index_pattern_stays_readable() -> None:
    redactor = RedactingFilter(["wazuh", "hunter2", "a-long-token-1234"])
    text = "indexer wazuh-alerts-4.x-* as wazuh; token a-long-token-1234; hunter2"
    assert redactor.redact(text) == "indexer wazuh-alerts-4.x-* as wazuh; token ***; hunter2"


def test_slack_sdks_own_error_line_quoting_the_token_never_reaches_the_log(tmp_path: Path) -> None:
    log_file = tmp_path / "monitor.log"
    setup_logging(level=logging.DEBUG, file=log_file, secrets=[f"xoxb-1\n{HIDDEN}"])
    try:
        with SlackServer(token="xoxb-1", channels=("#soc",)) as slack:
            notifier = SlackNotifier(
                token=Secret(f"xoxb-1\n{HIDDEN}"), channel="#soc", webhook_url=None, api_url=slack.api_url
            )
            with pytest.raises(NotifierError):
                notifier.send(a_note())
    finally:
        setup_logging(level=logging.WARNING)
    assert HIDDEN not in log_file.read_text()
