"""What `once`, `status` and `silences` print: the tables of targets, from a pass or from the state store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from log_monitor import reenrol
from log_monitor.config import Settings
from log_monitor.dropwords import rate_against
from log_monitor.exitcodes import EXIT_OK
from log_monitor.models import Condition, Target, TargetKind
from log_monitor.monitor import PassResult
from log_monitor.notifiers.render import humanize_duration
from log_monitor.printable import printable
from log_monitor.state import StateStore
from log_monitor.view import PENDING, REMOVED, TargetView, keepalive_only, learned, removed_by, views

# The columns every table of targets starts with (`once` and `status`), so both read the same way.
_TARGET_COLUMNS = ("TARGET", "LABEL", "STATE", "CONDITION", "LAST EVENT (UTC)", "SILENT FOR")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    # Labels, names and locations come from outside: a control character in one must not break the table.
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "never"


def _condition_and_last(
    target: Target | None, condition: Condition, last_event: datetime | None, counted: bool
) -> tuple[str, str]:
    """The CONDITION and LAST EVENT cells: an agent whose events no source counts (the API alone) is judged by
    its keepalive: "keepalive only", its last event "not counted" (not "never", which would be a silence)."""
    if target is not None and target.kind is TargetKind.AGENT and not counted:
        return ("keepalive only" if condition is Condition.OK else condition.value), "not counted"
    return condition.value, when(last_event)


def print_pass(result: PassResult, out: TextIO) -> None:
    rows = []
    for row in sorted(result.rows, key=lambda r: (-int(r.state.severity), r.target.key)):
        obs = row.observation
        silent = ""
        if obs.last_event is not None:
            silent = humanize_duration((obs.at - obs.last_event).total_seconds())
        condition, last = _condition_and_last(row.target, row.state.condition, obs.last_event, obs.counts_events)
        rows.append(
            [
                row.target.key,
                row.target.label,
                row.state.severity.name,
                condition,
                last,
                silent,
                "" if obs.events_in_window is None else str(obs.events_in_window),
                rate_against(obs.recent, obs.baseline, obs.history_days),
                obs.agent_status or obs.problem,
            ]
        )
    headers = [*_TARGET_COLUMNS, "EVENTS", "RATE VS BASELINE", "AGENT STATUS"]
    _table(headers, rows, out)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.state.severity.name] = counts.get(row.state.severity.name, 0) + 1
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    print(f"\n{len(result.rows)} targets: {summary or 'none'}; {len(result.notifications)} notification(s)", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)


def _views(settings: Settings, targets: list[Target], store: StateStore) -> list[TargetView]:
    """Every target as `once`, `top` and the dashboard show it (log_monitor.view)."""
    now = datetime.now(UTC)
    states = store.load_states()
    every = learned(targets, states, discovery=settings.agent_discovery)
    return views(every, states, store.silences(now), now, zone(settings))


def zone(settings: Settings) -> ZoneInfo | None:
    return ZoneInfo(settings.maintenance_tz) if settings.maintenance_tz else None


def status(settings: Settings, targets: list[Target], out: TextIO) -> int:
    fresh = not settings.state_db.exists()
    if fresh:  # before the first pass: the configured targets, and no state file made for them
        now = datetime.now(UTC)
        shown = views(targets, {}, {}, now, zone(settings))
        queued, channels = 0, []
    else:
        with StateStore(settings.state_db) as store:
            # What the store holds, and the configured targets not checked yet (PENDING).
            shown = [v for v in _views(settings, targets, store) if v.state is not None or v.target is not None]
            queued = store.outbox_depth()
            channels = store.channel_health()
        now = datetime.now(UTC)
    rows = [_status_row(view, now) for view in sorted(shown, key=lambda v: v.key)]
    headers = [*_TARGET_COLUMNS, "RATE VS BASELINE", "CHECKED", "ALERTS", "NEXT REMINDER", "NOTE"]
    _table(headers, rows, out)
    removed = sum(1 for v in shown if v.shown == REMOVED)
    pending = sum(1 for v in shown if v.shown == PENDING)
    gone = f" ({removed} removed from the configuration)" if removed else ""
    waiting = f" ({pending} PENDING: not checked yet)" if pending else ""
    print(f"\n{len(shown)} targets{gone}{waiting}; {queued} notification(s) queued for delivery", file=out)
    if fresh:
        print(f"no pass has run yet ({settings.state_db} does not exist): run `once` or start the daemon", file=out)
    if channels:
        print("\nchannels:", file=out)
        channel_rows = [
            [
                h.channel,
                "ok" if h.ok else ("FAILED (permanent)" if h.permanent else "failing (transient)"),
                when(h.last_attempt_at),
                when(h.last_ok_at),
                when(h.failing_since) if h.failing_since else "",
                h.last_error or "",
            ]
            for h in channels
        ]
        _table(["CHANNEL", "STATE", "LAST ATTEMPT", "LAST OK", "FAILING SINCE", "LAST ERROR"], channel_rows, out)
    return EXIT_OK


def _status_row(view: TargetView, now: datetime) -> list[str]:
    """One line of `status`: a stored state, or a configured target not checked yet."""
    s = view.state
    label = view.label if view.label != view.key else ""
    if s is None:
        return [view.key, label, view.shown, "", "never", "", "", "never", "0", "", view.note() or "not checked yet"]
    silent = humanize_duration((now - s.since).total_seconds()) if s.since and s.severity.value else ""
    note = view.note()
    if s.agent_status == "not registered":
        note = "; ".join(filter(None, ["not registered in Wazuh", note]))
    elif s.agent_status and s.agent_status.startswith(reenrol.REENROLLED_AS):
        note = "; ".join(filter(None, [f"{s.agent_status}: update its id in the agents file", note]))
    counted = not keepalive_only(view.target, s)
    condition, last = _condition_and_last(view.target, s.condition, s.last_event, counted)
    dropped = removed_by(view)
    if dropped is not None:
        note = f"{note}; forgotten after {when(dropped)} UTC"
    return [
        view.key,
        label,
        view.shown,
        condition,
        last,
        silent,
        rate_against(s.recent, s.baseline, s.history_days),
        when(s.last_checked),
        str(s.alerts_sent),
        when(s.next_reminder_at) if s.next_reminder_at and s.alerted.value and not view.removed else "",
        note,
    ]


def silences(settings: Settings, targets: list[Target], out: TextIO) -> int:
    now = datetime.now(UTC)
    with StateStore(settings.state_db) as store:
        active = store.silences(now)
        states = store.load_states()
    labels = {t.key: t.label for t in learned(targets, states, discovery=settings.agent_discovery)}
    if not active:
        print("no active silences", file=out)
        return EXIT_OK
    rows = [
        [
            s.target_key,
            labels.get(s.target_key, ""),
            when(s.until),
            humanize_duration((s.until - now).total_seconds()),
            s.created_by,
            when(s.created_at),
            s.reason,
        ]
        for s in sorted(active.values(), key=lambda s: (s.until, s.target_key))
    ]
    _table(["TARGET", "LABEL", "UNTIL (UTC)", "LEFT", "BY", "SET AT (UTC)", "REASON"], rows, out)
    return EXIT_OK
