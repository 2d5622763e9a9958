"""The Slack channel, with the real slack_sdk client against a loopback fake of the Slack API."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading

import pytest

from log_monitor.errors import NotifierError
from log_monitor.models import Notification, Secret
from log_monitor.notifiers.slack import SlackNotifier
from tests.helpers import free_port, notification
from tests.slack_server import SlackServer

TOKEN = "xoxb-test-token"


def alert(label: str = "db-primary", detail: str = "") -> Notification:
    return notification(label=label, detail=detail)


def bot(server: SlackServer, token: str = TOKEN, channel: str = "#soc") -> SlackNotifier:
    return SlackNotifier(token=Secret(token), channel=channel, api_url=server.api_url, timeout=2.0)


def assert_no_secret(exc: NotifierError, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)


def test_a_bot_token_posts_the_alert_to_the_configured_channel() -> None:
    with SlackServer() as server:
        bot(server).send(alert())
    [message] = server.messages
    assert message["channel"] == "#soc"
    assert "agent 002 db-primary" in message["text"]
    assert "DISCONNECTED" in message["text"]
    assert "2026-11-22 09:59:30 UTC" in message["text"]
    rendered = json.dumps(message["blocks"])
    assert "CRITICAL" in rendered
    assert "1h 05m" in rendered
    assert "soc-monitor" in rendered


def test_a_label_that_would_ping_the_channel_is_escaped_in_text_and_blocks() -> None:
    with SlackServer() as server:
        bot(server).send(alert(label="<!channel> & <https://evil.example|click>", detail="<!here>"))
    [message] = server.messages
    everything = message["text"] + json.dumps(message["blocks"])
    assert "<!channel>" not in everything
    assert "<!here>" not in everything
    assert "<https://evil" not in everything
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in message["text"]


def test_a_wrong_token_is_a_permanent_failure_that_does_not_show_the_token() -> None:
    with SlackServer() as server, pytest.raises(NotifierError) as caught:
        bot(server, token="xoxb-wrong-secret-token").send(alert())
    assert caught.value.permanent
    assert "invalid_auth" in str(caught.value)
    assert_no_secret(caught.value, "xoxb-wrong-secret-token")
    assert server.messages == []


@pytest.mark.parametrize("code", ["invalid_auth", "account_inactive", "token_revoked", "not_in_channel"])
def test_slack_errors_that_a_retry_cannot_fix_are_permanent(code: str) -> None:
    with SlackServer(fail_with=code) as server, pytest.raises(NotifierError) as caught:
        bot(server).send(alert())
    assert caught.value.permanent
    assert code in str(caught.value)


def test_an_unknown_channel_is_permanent() -> None:
    with SlackServer(channels=("#other",)) as server, pytest.raises(NotifierError) as caught:
        bot(server).send(alert())
    assert caught.value.permanent
    assert "channel_not_found" in str(caught.value)


def test_a_rate_limit_is_retried_once_after_retry_after_then_reported_as_transient() -> None:
    waits: list[float] = []
    with SlackServer(fail_with="ratelimited") as server, pytest.raises(NotifierError) as caught:
        SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=server.api_url, sleep=waits.append).send(alert())
    assert not caught.value.permanent
    assert "ratelimited" in str(caught.value)
    assert waits == [1.0]  # Retry-After honoured, once
    assert server.requests == ["/api/chat.postMessage"] * 2


def test_a_rate_limit_that_passes_delivers_after_waiting_retry_after_once() -> None:
    waits: list[float] = []
    with SlackServer() as server:
        server.set_mode("429", failures=1)
        SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=server.api_url, sleep=waits.append).send(alert())
    assert len(server.messages) == 1
    assert waits == [1.0]  # the sleep of Retry-After: 1, and only one
    assert server.requests == ["/api/chat.postMessage"] * 2


def test_a_long_retry_after_is_not_waited_for_inside_send() -> None:
    waits: list[float] = []
    with SlackServer(fail_with="ratelimited", retry_after=120) as server, pytest.raises(NotifierError) as caught:
        SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=server.api_url, sleep=waits.append).send(alert())
    assert not caught.value.permanent
    assert waits == []  # the next channel and the outbox take over instead of blocking for two minutes
    assert server.requests == ["/api/chat.postMessage"]
    assert caught.value.retry_after_s == 120  # for the dispatcher, which defers the message that long


def test_a_hanging_slack_times_out_as_a_transient_error_without_retrying_the_post() -> None:
    with SlackServer() as server:
        server.set_mode("hang")
        waits: list[float] = []
        notifier = SlackNotifier(
            token=Secret(TOKEN), channel="#soc", api_url=server.api_url, timeout=0.3, sleep=waits.append
        )
        with pytest.raises(NotifierError) as caught:
            notifier.send(alert())
    assert not caught.value.permanent
    assert "timed out" in str(caught.value)
    assert waits == []  # no wait for a second try
    assert server.requests == ["/api/chat.postMessage"]  # a timed-out post may have landed: never resent here


def test_slack_that_went_down_and_came_back_on_the_same_port_delivers_again() -> None:
    with SlackServer() as server:
        notifier = SlackNotifier(
            token=Secret(TOKEN), channel="#soc", api_url=server.api_url, connect_retry_s=0.01, timeout=1.0
        )
        server.set_mode("down")
        with pytest.raises(NotifierError) as caught:
            notifier.send(alert())
        server.set_mode("ok")
        notifier.send(alert())
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)
    assert len(server.messages) == 1


def test_a_slack_server_error_is_transient() -> None:
    with SlackServer(status=503) as server, pytest.raises(NotifierError) as caught:
        bot(server).send(alert())
    assert not caught.value.permanent
    assert "503" in str(caught.value)


def test_a_refused_connection_is_transient() -> None:
    notifier = SlackNotifier(
        token=Secret(TOKEN), channel="#soc", api_url=f"http://127.0.0.1:{free_port()}/api/", connect_retry_s=0.01
    )
    with pytest.raises(NotifierError) as caught:
        notifier.send(alert())
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)
    assert_no_secret(caught.value, TOKEN)


class HangsUp:
    """A loopback server that reads each request whole, then closes the connection without a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed: the test is over
            while True:
                conn, _ = self.listener.accept()
                self.connections += 1
                with conn:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                    while len(body) < length:
                        body += conn.recv(65536)


def test_a_connection_closed_before_any_answer_is_sent_again_once_as_slack_sdk_retries_it() -> None:
    server = HangsUp()
    notifier = SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=server.url, connect_retry_s=0.01)
    with pytest.raises(NotifierError) as caught:
        notifier.send(alert())
    server.listener.close()
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)
    assert (
        server.connections == 2
    )  # slack_sdk's connection-error handler: once more, as for urllib's RemoteDisconnected


def test_a_webhook_posts_the_alert() -> None:
    with SlackServer() as server:
        SlackNotifier(webhook_url=Secret(server.webhook_url)).send(alert())
    [message] = server.messages
    assert "agent 002 db-primary" in message["text"]
    assert message["blocks"]


def test_a_revoked_webhook_is_permanent_and_its_url_is_never_shown() -> None:
    with SlackServer(fail_with="invalid_token") as server:
        notifier = SlackNotifier(webhook_url=Secret(server.webhook_url))
        with pytest.raises(NotifierError) as caught:
            notifier.send(alert())
    assert caught.value.permanent
    assert "invalid_token" in str(caught.value)
    assert_no_secret(caught.value, server.webhook_url, "XXXXXXXXXXXXXXXX")
    assert "XXXXXXXXXXXXXXXX" not in repr(notifier)


def test_a_rate_limited_webhook_is_retried_once_then_transient() -> None:
    waits: list[float] = []
    with SlackServer(fail_with="ratelimited") as server, pytest.raises(NotifierError) as caught:
        SlackNotifier(webhook_url=Secret(server.webhook_url), sleep=waits.append).send(alert())
    assert not caught.value.permanent
    assert waits == [1.0]
    assert server.requests == ["/services/T000/B000/XXXXXXXXXXXXXXXX"] * 2
    assert caught.value.retry_after_s == 1.0


def test_a_webhook_rate_limit_with_a_long_retry_after_carries_the_wait_for_the_dispatcher() -> None:
    waits: list[float] = []
    with SlackServer(fail_with="ratelimited", retry_after=300) as server, pytest.raises(NotifierError) as caught:
        SlackNotifier(webhook_url=Secret(server.webhook_url), sleep=waits.append).send(alert())
    assert waits == []
    assert caught.value.retry_after_s == 300


def test_an_unreachable_webhook_is_transient_and_its_url_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/SECRETPATHPART"
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifierError) as caught:
        SlackNotifier(webhook_url=Secret(url), connect_retry_s=0.01).send(alert())
    assert not caught.value.permanent
    assert_no_secret(caught.value, url, "SECRETPATHPART")
    # slack_sdk itself may log the URL at DEBUG; logsetup's RedactingFilter masks it. Our own logger must not.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("log_monitor")]
    assert not any("SECRETPATHPART" in line for line in ours)


def test_check_logs_in_with_the_token_and_names_team_and_user() -> None:
    with SlackServer() as server:
        assert bot(server).check() == "authenticated as Example SOC/log_monitor"


def test_check_with_a_bad_token_fails_permanently() -> None:
    with SlackServer() as server, pytest.raises(NotifierError) as caught:
        bot(server, token="xoxb-nope-nope").check()
    assert caught.value.permanent
    assert_no_secret(caught.value, "xoxb-nope-nope")


def test_check_of_a_webhook_says_it_was_not_tested() -> None:
    notifier = SlackNotifier(webhook_url=Secret("https://hooks.slack.com/services/T/B/secret"))
    assert "not tested" in notifier.check()


def test_the_notifier_repr_shows_no_token() -> None:
    notifier = SlackNotifier(token=Secret(TOKEN), channel="#soc")
    assert TOKEN not in repr(notifier)
    assert "#soc" in repr(notifier)


def test_a_notifier_without_token_and_channel_or_webhook_is_refused() -> None:
    with pytest.raises(ValueError, match="bot token"):
        SlackNotifier(token=Secret(TOKEN))


def test_a_right_to_left_override_in_a_label_reaches_slack_as_an_escape_not_as_a_reordering() -> None:
    spoofed = "web-01 \u202egol.htua\u202c"  # shows as "web-01 auth.log" where the override is obeyed
    with SlackServer() as server:
        bot(server).send(alert(label=spoofed))
        bot(server).send_group([alert(label=spoofed) for _ in range(5)])
    for message in server.messages:
        everything = message["text"] + json.dumps(message["blocks"], ensure_ascii=False)
        assert "\u202e" not in everything and "\u202c" not in everything
        assert "web-01 \\u202egol.htua\\u202c" in everything


def test_hostile_names_show_as_text_in_single_and_grouped_messages() -> None:
    # Slack mrkdwn has no `[text](url)` links; its links and mentions are `<...>`, which escaping makes text.
    hostile = "[Click to fix](https://evil.example) <!channel> <https://evil.example|fix> *bold* `code`"
    with SlackServer() as server:
        bot(server).send(alert(label=hostile, detail=hostile))
        bot(server).send_group([alert(label=hostile) for _ in range(5)])
    for message in server.messages:
        everything = message["text"] + json.dumps(message["blocks"])
        assert "<!channel>" not in everything and "<https://" not in everything
        assert "[Click to fix](https://evil.example) &lt;!channel&gt; &lt;https://evil.example|fix&gt;" in everything
