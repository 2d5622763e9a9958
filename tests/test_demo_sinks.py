"""The demo's loopback Slack and SMTP servers take what the real clients send and print one line each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.simulator.sinks import SlackSink, SmtpSink
from log_monitor.state import StateStore

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def note(kind: NotificationKind, severity: Severity) -> Notification:
    return Notification(
        id=kind.value,
        created_at=T0,
        kind=kind,
        severity=severity,
        target_key="agent:005:Security",
        label="dc-01",
        condition=Condition.OK if severity is Severity.OK else Condition.SILENT,
        host="demo",
        agent_id="005",
        location="Security",
        silent_for_s=56.0,
    )


def test_the_demo_slack_threads_an_incident_and_shows_its_parent_recovered(tmp_path: Path) -> None:
    lines: list[str] = []
    with SlackSink(lines.append) as sink, StateStore(tmp_path / "s.db") as store:
        slack = SlackNotifier(token=Secret("xoxb-demo"), channel="#soc-identity", api_url=sink.api_url)
        slack.threads = store
        slack.send(note(NotificationKind.ALERT, Severity.WARNING))
        slack.send(note(NotificationKind.RECOVERY, Severity.OK))
    assert lines[0].startswith("slack #soc-identity  | ") and "WARNING" in lines[0]
    assert "reply in thread (also sent to the channel): RECOVERED" in lines[1]
    assert "first message edited" in lines[2] and "RECOVERED after 56s" in lines[2]


def test_the_demo_smtp_server_shows_each_message_s_recipients_and_subject() -> None:
    lines: list[str] = []
    with SmtpSink(lines.append) as sink:
        email = SmtpNotifier(
            host="127.0.0.1",
            port=sink.port,
            security="none",
            sender="log_monitor@example.org",
            recipients=["identity@example.org"],
            timeout=5.0,
        )
        email.send(note(NotificationKind.ALERT, Severity.CRITICAL))
    assert lines == ["email identity@example.org | CRITICAL: Security on agent 005 dc-01 is SILENT for 56s"]
