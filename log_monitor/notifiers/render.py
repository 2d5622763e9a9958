"""Message text shared by every channel: titles, field lines, durations and Slack escaping; pure."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from log_monitor.models import Condition, Notification, NotificationKind, Severity

# How each condition is named in a message: silent is not the same as disconnected.
CONDITION_WORDS: dict[Condition, tuple[str, str]] = {
    Condition.OK: ("OK", "events are arriving"),
    Condition.SILENT: ("SILENT", "connected, but no events"),
    Condition.DISCONNECTED: ("DISCONNECTED", "the agent lost its keepalive with the manager"),
    Condition.NEVER_SEEN: ("NEVER SEEN", "no event at all within the lookback period"),
    Condition.UNKNOWN: ("UNKNOWN", "the monitoring backend could not be read"),
}

_EMOJI: dict[Severity, str] = {
    Severity.OK: ":white_check_mark:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
    Severity.UNKNOWN: ":grey_question:",
    Severity.MAINTENANCE: ":wrench:",
}

_COLOUR: dict[Severity, str] = {
    Severity.OK: "#2eb67d",
    Severity.WARNING: "#ecb22e",
    Severity.CRITICAL: "#e01e5a",
    Severity.UNKNOWN: "#868686",
    Severity.MAINTENANCE: "#1d9bd1",
}

_RELATED_SHOWN = 10


def humanize_duration(seconds: float) -> str:
    """A compact duration, always rounded down: "45s", "14m", "1h 05m", "2d 3h".

    Under a minute: seconds; under an hour: whole minutes; under a day: hours and zero-padded
    minutes ("3h" when the minutes are zero); from a day on: days and hours ("2d" when the hours
    are zero). Negative or NaN gives "0s"; infinity gives "forever". Never raises.
    """
    if math.isnan(seconds) or seconds <= 0:
        return "0s"
    if math.isinf(seconds):
        return "forever"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        hours, rest = divmod(whole, 3600)
        minutes = rest // 60
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    days, rest = divmod(whole, 86400)
    hours = rest // 3600
    return f"{days}d {hours}h" if hours else f"{days}d"


def format_utc(when: datetime | None) -> str:
    """`2026-11-22 09:59:30 UTC`, or "never"; a naive datetime is taken as UTC."""
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def severity_emoji(severity: Severity) -> str:
    """A Slack emoji code for a severity."""
    return _EMOJI.get(severity, ":grey_question:")


def severity_colour(severity: Severity) -> str:
    """A hex colour (`#rrggbb`) for a severity, for channels that colour their messages."""
    return _COLOUR.get(severity, "#868686")


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space, so a label cannot break a header."""
    return " ".join(text.split())


def subject(n: Notification) -> str:
    """What the message is about: "agent 002 db-primary", "/var/log/auth.log on agent 002 db-primary"."""
    label = one_line(n.label)
    location = one_line(n.location or "")
    if n.agent_id:
        agent = f"agent {n.agent_id}" + (f" {label}" if label and label != n.agent_id else "")
        return f"{location} on {agent}" if location else agent
    if n.target_key.startswith("file:"):
        return f"file {location} ({label})" if location and label and label != location else f"file {location or label}"
    return label or n.target_key


def _status_word(n: Notification) -> str:
    return CONDITION_WORDS.get(n.condition, (n.condition.value.upper(), ""))[0]


def _for(n: Notification) -> str:
    return f" for {humanize_duration(n.silent_for_s)}" if n.silent_for_s is not None else ""


def title(n: Notification) -> str:
    """One line naming severity, what, how and for how long; the email subject and the Slack headline."""
    what = subject(n)
    severity = n.severity.name
    kind = n.kind
    if kind is NotificationKind.RECOVERY:
        back = f" after {humanize_duration(n.silent_for_s)}" if n.silent_for_s is not None else ""
        return f"RECOVERED: {what}: events are back{back}"
    if kind is NotificationKind.BACKEND_DOWN:
        return f"{severity}: {what} is unreadable{_for(n)}; its targets are UNKNOWN"
    if kind is NotificationKind.BACKEND_RESTORED:
        back = f" after {humanize_duration(n.silent_for_s)}" if n.silent_for_s is not None else ""
        return f"RESTORED: {what} can be read again{back}"
    if kind is NotificationKind.PIPELINE_SILENT:
        count = len(n.related)
        return f"{severity}: {what} SILENT: {count} targets without events at once{_for(n)}"
    if kind is NotificationKind.PIPELINE_RESTORED:
        back = f" after {humanize_duration(n.silent_for_s)}" if n.silent_for_s is not None else ""
        return f"RESTORED: {what}: events are back{back}"
    if kind is NotificationKind.TEST:
        return f"TEST: {what} from {one_line(n.host)}"
    if n.condition is Condition.NEVER_SEEN:
        how = "NEVER SEEN (no event within the lookback period)"
    elif n.condition is Condition.UNKNOWN:
        how = "UNKNOWN (the backend could not be read)"
    else:
        how = f"{_status_word(n)}{_for(n)}"
    if kind is NotificationKind.ESCALATION:
        return f"{severity} (escalated): {what} is {how}"
    if kind is NotificationKind.REMINDER:
        return f"{severity} (reminder): {what} is still {how}"
    return f"{severity}: {what} is {how}"


_TARGET_KINDS = (
    NotificationKind.ALERT,
    NotificationKind.ESCALATION,
    NotificationKind.REMINDER,
    NotificationKind.RECOVERY,
)
_RESTORED_KINDS = (NotificationKind.RECOVERY, NotificationKind.BACKEND_RESTORED, NotificationKind.PIPELINE_RESTORED)


def fields(n: Notification) -> list[tuple[str, str]]:
    """The facts of a notification as (name, value) pairs, in display order; values are raw (unescaped)."""
    out: list[tuple[str, str]] = []
    if n.kind is NotificationKind.TEST:
        out.append(("Monitor host", one_line(n.host)))
        out.append(("Sent at", format_utc(n.created_at)))
        return out
    backend = n.kind in (NotificationKind.BACKEND_DOWN, NotificationKind.BACKEND_RESTORED)
    if n.kind in _RESTORED_KINDS:
        out.append(("State", "OK (recovered)"))
        if n.silent_for_s is not None:
            out.append(("Was down for" if backend else "Was silent for", humanize_duration(n.silent_for_s)))
    else:
        word, meaning = CONDITION_WORDS.get(n.condition, (_status_word(n), ""))
        if n.condition is Condition.SILENT and not n.agent_id:
            meaning = "no new events"
        out.append(("State", f"{word}: {meaning}" if meaning else word))
        out.append(("Severity", n.severity.name))
        if n.silent_for_s is not None:
            out.append(("Down for" if backend else "Silent for", humanize_duration(n.silent_for_s)))
    if n.agent_id:
        agent = n.agent_id + (f" {one_line(n.label)}" if n.label and n.label != n.agent_id else "")
        if n.agent_name and one_line(n.agent_name) != one_line(n.label):
            agent += f" (name {one_line(n.agent_name)})"
        out.append(("Agent", agent))
    if n.location:
        out.append(("Location", one_line(n.location)))
    if n.kind in _TARGET_KINDS:
        out.append(("Latest event" if n.kind is NotificationKind.RECOVERY else "Last event", format_utc(n.last_event)))
    if n.related:
        shown = ", ".join(n.related[:_RELATED_SHOWN])
        more = f" and {len(n.related) - _RELATED_SHOWN} more" if len(n.related) > _RELATED_SHOWN else ""
        out.append((f"Affected ({len(n.related)})", shown + more))
    out.append(("Monitor host", one_line(n.host)))
    return out


def body_lines(n: Notification) -> list[str]:
    """The message body: one "Name: value" line per field, then the detail text when there is one."""
    lines = [f"{name}: {value}" for name, value in fields(n)]
    if n.detail.strip():
        lines.append(n.detail.strip())
    return lines


def plain_text(n: Notification) -> str:
    """Title and body as plain text, for email and the console."""
    return "\n".join([title(n), *body_lines(n)])


def slack_escape(text: str) -> str:
    """Escape &, < and > for Slack mrkdwn, so a label like `<!channel>` shows as text and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
