"""Message text shared by every channel: titles, field lines, durations and Slack/Teams escaping; pure."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from log_monitor.models import Condition, Notification, NotificationKind, Severity
from log_monitor.printable import no_bidi

# How each condition is named in a message: silent is not the same as disconnected.
CONDITION_WORDS: dict[Condition, tuple[str, str]] = {
    Condition.OK: ("OK", "events are arriving"),
    Condition.SILENT: ("SILENT", "connected, but no events"),
    Condition.DISCONNECTED: ("DISCONNECTED", "the agent lost its keepalive with the manager"),
    Condition.NEVER_SEEN: ("NEVER SEEN", "no event at all within the lookback period"),
    Condition.UNKNOWN: ("UNKNOWN", "the monitoring backend could not be read"),
    Condition.DROPPING: ("DROPPING EVENTS", "logcollector is dropping events: they never reach the manager"),
    Condition.MISSING: ("MISSING", "the log file is missing or unreadable"),
    Condition.HIGH_TRAFFIC: ("HIGH TRAFFIC", "the 2-minute rate is well above its usual level"),
    Condition.LOW_TRAFFIC: ("LOW TRAFFIC", "the rate fell well below its usual level for this hour"),
    Condition.PATTERN: ("PATTERN", "a pattern rule fired"),
    Condition.RATE_DROP: ("RATE DROP", "events still arrive, far below the usual rate for this time of day"),
}

_EMOJI: dict[Severity, str] = {
    Severity.OK: ":white_check_mark:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
    Severity.UNKNOWN: ":grey_question:",
    Severity.MAINTENANCE: ":wrench:",
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


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space, so a label cannot break a header.

    Bidirectional controls are shown as escapes: an override would make the reader see another name.
    """
    return no_bidi(" ".join(text.split()))


def subject(n: Notification) -> str:
    """What the message is about: "agent 002 db-primary", "/var/log/auth.log on agent 002 db-primary"."""
    label = one_line(n.label)
    location = one_line(n.location or "")
    if n.agent_id:
        agent = f"agent {n.agent_id}" + (f" {label}" if _own_label(label, n.agent_id) else "")
        return f"{location} on {agent}" if location else agent
    if n.target_key.startswith("file:"):
        return f"file {location} ({label})" if location and label and label != location else f"file {location or label}"
    return label or n.target_key


def _own_label(label: str, agent_id: str) -> bool:
    """Whether a label says more than the id: a row without one is labelled "agent 005", not named twice."""
    return bool(label) and label not in (agent_id, f"agent {agent_id}")


def unseen(n: Notification) -> str | None:
    """ "no event in the last 7d (LOOKBACK)" for a target never seen within LOOKBACK; None otherwise.

    Its silent_for_s is the lookback (the most that can be known), which "silent for 7d" would overstate.
    """
    if (
        n.last_event is not None
        or n.silent_for_s is None
        or n.condition not in (Condition.NEVER_SEEN, Condition.MISSING)
    ):
        return None
    return f"no event in the last {humanize_duration(n.silent_for_s)} (LOOKBACK)"


def silent_meaning(n: Notification) -> str:
    """SILENT in words: "connected" only when the API said so; a local file or an unasked status says less."""
    if not n.agent_id:
        return "no new events"
    if n.agent_status == "active":
        return "connected, but no events"
    return "no events" if n.agent_status is None else f"no events (agent status {n.agent_status})"


def _status_word(n: Notification) -> str:
    return CONDITION_WORDS.get(n.condition, (n.condition.value.upper(), ""))[0]


def _for(n: Notification, word: str = "for") -> str:
    """' for 2h' while silent, ' after 2h' on the way back; nothing when the length is not known."""
    return f" {word} {humanize_duration(n.silent_for_s)}" if n.silent_for_s is not None else ""


# The headlines that do not depend on the target's condition, as str.format templates (the fields in `title`).
_HEADLINES = {
    NotificationKind.RECOVERY: "RECOVERED: {what}: events are back{after}",
    NotificationKind.BACKEND_DOWN: "{severity}: {what} is unreadable{for_}; its targets are UNKNOWN",
    NotificationKind.BACKEND_RESTORED: "RESTORED: {what} can be read again{after}",
    NotificationKind.PIPELINE_SILENT: "{severity}: {what} SILENT: {count} targets without events at once{for_}",
    NotificationKind.PIPELINE_RESTORED: "RESTORED: {what}: events are back{after}",
    NotificationKind.TEST: "TEST: {what} from {host}",
    NotificationKind.CHANNEL_DOWN: (
        "{severity}: notification channel {what} failed permanently; alerts go through the other channels"
    ),
}


def title(n: Notification) -> str:
    """One line naming severity, what, how and for how long; the email subject and the Slack headline."""
    what = subject(n)
    severity = n.severity.name
    kind = n.kind
    headline = _HEADLINES.get(kind)
    if headline is not None:
        return headline.format(
            what=what,
            severity=severity,
            for_=_for(n),
            after=_for(n, "after"),
            count=len(n.related),
            host=one_line(n.host),
        )
    if kind is NotificationKind.REENROLLED:
        return f"NOTICE: {one_line(n.detail).partition(':')[0]}"
    if kind is NotificationKind.STATE_RESET and n.condition is Condition.MISSING:
        return f"{severity}: the state DB was deleted while running; monitoring restarted from an empty state"
    if kind is NotificationKind.STATE_RESET:
        return f"{severity}: the state DB was corrupt and was moved aside; monitoring restarted from an empty state"
    if n.condition is Condition.NEVER_SEEN:
        how = f"NEVER SEEN ({unseen(n) or 'no event within the lookback period'})"
        if n.agent_status == "not registered":
            how = "NOT REGISTERED in Wazuh"
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
    if n.kind is NotificationKind.CHANNEL_DOWN:
        out.append(("Channel", one_line(n.label)))
        out.append(("Failed at", format_utc(n.created_at)))
        out.append(("Monitor host", one_line(n.host)))
        return out
    if n.kind is NotificationKind.REENROLLED:
        out.append(("Agent", f"{n.agent_id} {one_line(n.agent_name or n.label)}"))
        out.append(("Found at", format_utc(n.created_at)))
        out.append(("Monitor host", one_line(n.host)))
        return out
    if n.kind is NotificationKind.STATE_RESET:
        out.append(("State DB", one_line(n.label)))
        out.append(("Found at", format_utc(n.created_at)))
        out.append(("Monitor host", one_line(n.host)))
        return out
    backend = n.kind in (NotificationKind.BACKEND_DOWN, NotificationKind.BACKEND_RESTORED)
    if n.kind in _RESTORED_KINDS:
        out.append(("State", "OK (recovered)"))
        if n.silent_for_s is not None:
            out.append(("Was down for" if backend else "Was silent for", humanize_duration(n.silent_for_s)))
    else:
        word, meaning = CONDITION_WORDS.get(n.condition, (_status_word(n), ""))
        if n.condition is Condition.SILENT:
            meaning = silent_meaning(n)
        never = unseen(n)
        if never is not None and n.condition is Condition.NEVER_SEEN:
            meaning = never
        out.append(("State", f"{word}: {meaning}" if meaning else word))
        out.append(("Severity", n.severity.name))
        if never is not None:
            out.append(("Seen", never))
        elif n.silent_for_s is not None:
            out.append(("Down for" if backend else "Silent for", humanize_duration(n.silent_for_s)))
    if n.agent_id:
        agent = n.agent_id + (f" {one_line(n.label)}" if _own_label(one_line(n.label), n.agent_id) else "")
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


# -- delayed and grouped messages ------------------------------------------------------

DELAYED_MARK = "Delayed: first raised at "


def mark_delayed(n: Notification) -> Notification:
    """The notification with a first detail line saying it is late, for one that no channel took at first."""
    if is_delayed(n):
        return n
    line = f"{DELAYED_MARK}{format_utc(n.created_at)} (no channel could deliver it then)"
    return replace(n, detail=f"{line}\n{n.detail}".strip())


def is_delayed(n: Notification) -> bool:
    return n.detail.startswith(DELAYED_MARK)


def group_title(notes: Sequence[Notification]) -> str:
    """The headline of a grouped message: how many, and how many of each severity (or recovered)."""
    counts: dict[str, int] = {}
    for n in notes:
        word = n.severity.name
        if n.kind in _RESTORED_KINDS:
            word = "RECOVERED"
        elif n.kind is NotificationKind.TEST:
            word = "TEST"
        counts[word] = counts.get(word, 0) + 1
    order = ["CRITICAL", "UNKNOWN", "WARNING", "MAINTENANCE", "RECOVERED", "OK", "TEST"]
    parts = [f"{counts[w]} {w}" for w in sorted(counts, key=lambda w: order.index(w) if w in order else 99)]
    return f"{len(notes)} notifications at once: {', '.join(parts)}"


def group_order(notes: Sequence[Notification]) -> list[Notification]:
    """Worst first (CRITICAL, UNKNOWN, WARNING, ..., recoveries last), then oldest: the reader starts at the top."""
    rank = {Severity.CRITICAL: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.MAINTENANCE: 3, Severity.OK: 4}
    return sorted(notes, key=lambda n: (5 if n.kind in _RESTORED_KINDS else rank.get(n.severity, 4), n.created_at))


def group_line(n: Notification) -> str:
    """One notification as one line of a grouped message: its title, the last event, and "delayed" if late."""
    line = title(n)
    if n.kind in _TARGET_KINDS and n.kind is not NotificationKind.RECOVERY:
        line += f" (last event {format_utc(n.last_event)})"
    if is_delayed(n):
        line += f" [delayed: first raised at {format_utc(n.created_at)}]"
    return one_line(line)


def group_plain_text(notes: Sequence[Notification]) -> str:
    """A grouped message as plain text: the headline, one line per notification, then the monitor host."""
    ordered = group_order(notes)
    host = one_line(ordered[0].host) if ordered else ""
    return "\n".join([group_title(notes), *(f"- {group_line(n)}" for n in ordered), f"Monitor host: {host}"])


# What Adaptive Card Markdown acts on (emphasis, strike, code, links) and a backslash that would escape the next
# character; a backslash before anything else is shown as it is, so Windows paths stay readable.
_TEAMS_MARKUP = re.compile(r"[*_~`\[\]]|\\(?=[!-/:-@\[-`{-~])")
# A list marker counts only at the start of a line: `- x`, `+ x`, `1. x`, `1) x`.
_TEAMS_LIST = re.compile(r"^(\s*\d*)([-+.)])(?=\s|$)", re.MULTILINE)


def teams_escape(text: str) -> str:
    """Backslash-escape the Markdown that Teams renders in card text, so `[Click](https://evil)` shows as text."""
    return _TEAMS_LIST.sub(r"\1\\\2", _TEAMS_MARKUP.sub(r"\\\g<0>", text))


def slack_escape(text: str) -> str:
    """Escape &, < and > for Slack mrkdwn, so a label like `<!channel>` shows as text and pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
