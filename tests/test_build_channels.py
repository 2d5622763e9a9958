"""The alert channels the settings make: each from its own keys, in fallback order, the console when none is set."""

from __future__ import annotations

from pathlib import Path

from log_monitor.app import Tuning, build_channels
from log_monitor.config import Settings
from log_monitor.models import Secret
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.notifiers.teams import TeamsNotifier

QUICK = Tuning(channel_timeout_s=2.0, channel_retry_s=0.0)


def settings(**keys: object) -> Settings:
    return Settings(env_file=Path("test.env"), base_dir=Path("."), **keys)  # type: ignore[arg-type]


def test_every_configured_channel_is_built_in_fallback_order_slack_email_teams() -> None:
    chain = build_channels(
        settings(
            teams_webhook_url=Secret("https://example.invalid/hook"),
            smtp_host="mail.example.org",
            smtp_port=465,
            smtp_security="ssl",
            smtp_user="monitor",
            smtp_password=Secret("smtp-secret"),
            smtp_from="monitor@example.org",
            smtp_to=("soc@example.org",),
            slack_bot_token=Secret("xoxb-secret"),
            slack_channel="#soc",
        ),
        tuning=QUICK,
    )
    assert [type(channel) for channel in chain] == [SlackNotifier, SmtpNotifier, TeamsNotifier]
    assert repr(chain[1]) == "SmtpNotifier(host='mail.example.org', port=465, security='ssl', user='monitor')"
    assert "secret" not in repr(chain)


def test_slack_is_built_from_a_webhook_alone_but_not_from_a_token_without_a_channel() -> None:
    (webhook,) = build_channels(settings(slack_webhook_url=Secret("https://hooks.slack.com/services/T/B/x")))
    assert isinstance(webhook, SlackNotifier)
    assert [type(c) for c in build_channels(settings(slack_bot_token=Secret("xoxb-secret")))] == [ConsoleNotifier]


def test_email_needs_a_host_a_sender_and_recipients_and_with_no_channel_the_console_is_the_chain() -> None:
    no_recipients = settings(smtp_host="mail.example.org", smtp_from="monitor@example.org")
    assert [type(c) for c in build_channels(no_recipients)] == [ConsoleNotifier]
    assert [type(c) for c in build_channels(settings())] == [ConsoleNotifier]
