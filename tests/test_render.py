"""Message text: durations, what each kind of notification says, and Slack escaping."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from log_monitor.models import Condition, NotificationKind, Severity
from log_monitor.notifiers.render import body_lines, humanize_duration, plain_text, slack_escape, title
from log_monitor.notifiers.slack import blocks, fallback_text
from tests.helpers import notification

LAST = datetime(2026, 11, 22, 9, 59, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 11, 4, 30, tzinfo=UTC)

ALERT = notification(created_at=NOW, severity=Severity.WARNING, condition=Condition.SILENT, agent_name="dbp01")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (45, "45s"),
        (59.99, "59s"),
        (60, "1m"),
        (14 * 60 + 59, "14m"),
        (3599, "59m"),
        (3600, "1h"),
        (3900, "1h 05m"),
        (86399, "23h 59m"),
        (86400, "1d"),
        (2 * 86400 + 3 * 3600 + 59 * 60, "2d 3h"),
        (float("inf"), "forever"),
        (float("nan"), "0s"),
    ],
)
def test_durations_are_compact_and_rounded_down(seconds: float, text: str) -> None:
    assert humanize_duration(seconds) == text


def _order(text: str) -> float:
    """The number of seconds a rendered duration stands for."""
    if text == "forever":
        return float("inf")
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(part[:-1]) * units[part[-1]] for part in text.split())


@given(st.floats())
def test_durations_never_raise_whatever_the_number(seconds: float) -> None:
    assert humanize_duration(seconds)


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_durations_never_go_down_as_seconds_go_up_and_never_overstate(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert _order(humanize_duration(low)) <= _order(humanize_duration(high))
    assert _order(humanize_duration(high)) <= max(high, 0.0)


def test_a_silent_agent_alert_names_id_label_condition_duration_last_event_severity_and_host() -> None:
    text = plain_text(ALERT)
    assert title(ALERT) == "WARNING: agent 002 db-primary is SILENT for 1h 05m"
    for needle in (
        "002",
        "db-primary",
        "dbp01",
        "SILENT",
        "1h 05m",
        "2026-11-22 09:59:30 UTC",
        "WARNING",
        "soc-monitor",
    ):
        assert needle in text
    assert "DISCONNECTED" not in text


def test_a_disconnected_agent_is_not_called_silent() -> None:
    note = replace(ALERT, condition=Condition.DISCONNECTED, severity=Severity.CRITICAL)
    assert "DISCONNECTED" in title(note)
    assert "keepalive" in plain_text(note)
    assert "SILENT" not in plain_text(note)


def test_an_agent_never_seen_says_so_and_its_last_event_is_never() -> None:
    note = replace(ALERT, condition=Condition.NEVER_SEEN, last_event=None)
    assert "NEVER SEEN" in title(note)
    assert "Last event: never" in body_lines(note)


def test_a_watched_location_names_the_file_and_the_agent() -> None:
    note = replace(ALERT, target_key="agent:002:/var/log/auth.log", location="/var/log/auth.log")
    assert title(note).startswith("WARNING: /var/log/auth.log on agent 002 db-primary")
    assert "Location: /var/log/auth.log" in body_lines(note)


def test_escalations_and_reminders_say_which_they_are() -> None:
    assert title(replace(ALERT, kind=NotificationKind.ESCALATION)).startswith("WARNING (escalated):")
    assert "is still SILENT" in title(replace(ALERT, kind=NotificationKind.REMINDER))


def test_a_recovery_says_events_are_back_after_the_silence() -> None:
    note = replace(ALERT, kind=NotificationKind.RECOVERY, severity=Severity.OK, condition=Condition.OK)
    assert title(note) == "RECOVERED: agent 002 db-primary: events are back after 1h 05m"


def test_backend_pipeline_and_test_notifications_each_have_their_own_text() -> None:
    down = replace(
        ALERT,
        kind=NotificationKind.BACKEND_DOWN,
        severity=Severity.UNKNOWN,
        condition=Condition.UNKNOWN,
        target_key="backend:indexer",
        label="Wazuh indexer",
        agent_id=None,
        agent_name=None,
        silent_for_s=120.0,
        detail="indexer: connection refused",
    )
    assert title(down) == "UNKNOWN: Wazuh indexer is unreadable for 2m; its targets are UNKNOWN"
    assert "indexer: connection refused" in body_lines(down)
    restored = replace(down, kind=NotificationKind.BACKEND_RESTORED, severity=Severity.OK, condition=Condition.OK)
    assert title(restored) == "RESTORED: Wazuh indexer can be read again after 2m"
    pipeline = replace(
        down,
        kind=NotificationKind.PIPELINE_SILENT,
        severity=Severity.CRITICAL,
        condition=Condition.SILENT,
        label="Wazuh pipeline",
        related=tuple(f"agent:{i:03d}" for i in range(12)),
        detail="",
    )
    assert "12 targets" in title(pipeline)
    assert any(line.startswith("Affected (12): agent:000") and "2 more" in line for line in body_lines(pipeline))
    test = replace(down, kind=NotificationKind.TEST, severity=Severity.OK, label="log_monitor test alert", detail="hi")
    assert title(test) == "TEST: log_monitor test alert from soc-monitor"


def test_slack_escaping_turns_mentions_and_links_into_text() -> None:
    assert slack_escape("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"


def test_a_label_with_a_channel_mention_pings_nobody_in_slack_text_or_blocks() -> None:
    note = replace(ALERT, label="<!channel>", agent_name="<!here>", location="<http://x|y>", detail="<!everyone>")
    rendered = fallback_text(note) + json.dumps(blocks(note))
    for raw in ("<!channel>", "<!here>", "<http://x|y>", "<!everyone>"):
        assert raw not in rendered
    assert "&lt;!channel&gt;" in rendered


def test_a_label_with_newlines_stays_on_the_title_line() -> None:
    note = replace(ALERT, label="db\nprimary\r\nBcc: x")
    assert "\n" not in title(note)
    assert "\r" not in title(note)
