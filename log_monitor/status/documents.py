"""The status API's JSON documents: health, the targets a page at a time, one target, alerts, channels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from log_monitor import __version__
from log_monitor.app import App
from log_monitor.logsetup import RedactingFilter
from log_monitor.models import Severity, Silence
from log_monitor.state.channels import ChannelHealth
from log_monitor.state.outbox import OutboxEntry
from log_monitor.view import PENDING, REMOVED, TargetView, keepalive_only, removed_by
from log_monitor.view import views as all_views
from log_monitor.wazuh.hosts import HostHealth

HEALTH_GRACE_S = 60.0  # /healthz: a pass must have completed within 2 x the smallest interval + this
# Health score weights: a target's share of "fine"; MAINTENANCE, PENDING and REMOVED targets are left out.
SCORE_WEIGHTS = {Severity.OK: 1.0, Severity.WARNING: 0.5, Severity.UNKNOWN: 0.5, Severity.CRITICAL: 0.0}
MAX_ALERTS = 500
# /api/targets is a page of targets, the worst first: 100,000 rows are 51 MB of JSON built at every refresh.
TARGETS_PAGE = 500
MAX_TARGETS_PAGE = 5000
_T = TypeVar("_T")
_TROUBLE_FIRST = {name: rank for rank, name in enumerate(("CRITICAL", "WARNING", "UNKNOWN", "PENDING", "MAINTENANCE"))}


class Documents:
    """Builds the JSON documents from the state store and the running monitor; reads, never writes."""

    def __init__(self, app: App, *, health_grace_s: float = HEALTH_GRACE_S) -> None:
        self.app = app
        self._health_grace_s = health_grace_s
        self._redactor = RedactingFilter(app.settings.secrets())
        self.zone = ZoneInfo(app.settings.maintenance_tz) if app.settings.maintenance_tz else None
        self._started_mono = app.monitor.clock.monotonic()
        self._snapshot: Snapshot | None = None
        self._snapshot_lock = threading.Lock()

    def health(self, *, detailed: bool = True) -> tuple[bool, dict[str, Any]]:
        """Healthy while a pass completed within 2 x the smallest interval (+ grace) and read every backend.

        A loop that turns but whose every pass fails (state DB full or locked) is not healthy. Without
        `detailed` (a caller without the token) only the status is given: errors can name users and hosts.
        """
        monitor = self.app.monitor
        health = monitor.health_snapshot()
        now_mono = monitor.clock.monotonic()
        targets = list(monitor.targets)
        intervals = [t.interval_s for t in targets] or [self.app.settings.default_check_interval_s]
        max_age = 2 * min(intervals) + self._health_grace_s
        # With no target nothing is ever due, so no pass runs: then the loop turning is all there is to ask.
        last = health.last_pass_mono if targets else health.last_tick_mono
        age = now_mono - (last if last is not None else health.started_mono or self._started_mono)
        reasons: list[str] = []
        if age > max_age:
            what = "no pass has completed" if targets else "the loop has not turned"
            reasons.append(f"{what} for {age:.0f} s (limit {max_age:.0f} s)")
            if health.last_failure:
                reasons.append(f"the latest pass failed: {health.last_failure}")
        errors = dict(health.backend_errors)
        reasons.extend(f"{backend} unreadable: {error}" for backend, error in sorted(errors.items()))
        status = "failing" if reasons else "ok"
        if not detailed:
            return not reasons, {"status": status}
        redact = self._redactor.redact
        body: dict[str, Any] = {
            "status": status,
            "reasons": [redact(reason) for reason in reasons],
            "pass_age_s": round(age, 3),
            "pass_age_limit_s": max_age,
            "last_pass": _iso(health.last_pass_at),
            "last_successful_pass": _iso(health.last_good_pass_at),
            "backend_errors": {backend: redact(error) for backend, error in errors.items()},
            "version": __version__,
        }
        return not reasons, body

    def snapshot(self) -> Snapshot:
        """The views as of the latest pass: built again only once a pass ended, the targets or silences changed,
        or a new minute began (maintenance windows); every client and answer until then shares them."""
        monitor, store = self.app.monitor, self.app.store
        now = monitor.clock.now()
        silences = store.silences(now)
        key = (monitor.states_version, len(monitor.targets), now.replace(second=0, microsecond=0), silences)
        with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.key != key:
                self._snapshot = None  # the old views are let go before the new ones are built
                views = all_views(list(monitor.targets), store.load_states(), silences, now, self.zone)
                self._snapshot = Snapshot(key, views)
            return self._snapshot

    def views(self) -> list[TargetView]:
        """Every configured target, each removed one still stored, each backend or pipeline state (log_monitor.view)."""
        return self.snapshot().views

    def targets_document(self, wanted: set[str] | None, limit: int = TARGETS_PAGE, offset: int = 0) -> dict[str, Any]:
        """Counts over every target; the targets themselves a page at a time, the worst first (then by key)."""
        now = self.app.monitor.clock.now()
        snapshot = self.snapshot()
        chosen = snapshot.worst_first()
        if wanted is not None:
            chosen = [v for v in chosen if v.shown in wanted]
        return {
            "generated_at": now.isoformat(),
            "health_score": snapshot.score(),
            "counts": snapshot.counts(),
            "total": len(chosen),  # targets of the asked states; `targets` holds `limit` of them from `offset`
            "offset": offset,
            "limit": limit,
            "targets": [_view_json(v, now) for v in chosen[offset : offset + limit]],
            "backends": [self._backend_json(v, now) for v in snapshot.views if v.system],
            "nodes": [
                {"node": node, "agents": agents, "connected": connected}
                for node, (agents, connected) in self.app.monitor.agents_per_node().items()
            ],
            "channels": self.channels_document(),
            "silences": [_silence_json(s) for s in sorted(self.app.store.silences(now).values(), key=_by_until)],
        }

    def _backend_json(self, view: TargetView, now: datetime) -> dict[str, Any]:
        """A backend's (or the pipeline's) view, plus the latest pass's error for it: ok, or failing since when."""
        document = _view_json(view, now)
        name = view.key.partition(":")[2]
        document["error"] = self.app.monitor.health_snapshot().backend_errors.get(name)
        metrics = self.app.metrics().backends.get(name)
        if metrics is not None and metrics.hosts:
            document["hosts"] = [_host_json(host) for host in metrics.hosts]
        return document

    def channels_document(self) -> list[dict[str, Any]]:
        """Each configured channel's delivery health, as the dispatcher recorded it in the store."""
        recorded = {h.channel: h for h in self.app.store.channel_health()}
        names = list(dict.fromkeys([*self.app.metrics().channels, *recorded]))
        return [_channel_json(name, recorded.get(name)) for name in names]

    def target_document(self, key: str) -> dict[str, Any] | None:
        now = self.app.monitor.clock.now()
        view = self.snapshot().find(key)
        if view is None:
            return None
        document = _view_json(view, now)
        document["transitions"] = [
            {
                "at": t.at.isoformat(),
                "from": t.from_severity.name if t.from_severity is not None else None,
                "to": t.to_severity.name,
                "condition": t.condition.value,
            }
            for t in self.app.store.transitions(key)
        ]
        document["alerts"] = [_alert_json(e) for e in self.app.store.recent(MAX_ALERTS, target_key=key)]
        return document

    def alerts_document(self, limit: int) -> dict[str, Any]:
        return {
            "outbox_depth": self.app.store.outbox_depth(),
            "alerts": [_alert_json(e) for e in self.app.store.recent(limit)],
        }


class Snapshot:
    """Every target's view at one moment, and what the answers ask of them, each worked out once when first asked."""

    def __init__(self, key: tuple[object, ...], views: list[TargetView]) -> None:
        self.key = key
        self.views = views
        self._kept: dict[str, Any] = {}
        self._lock = threading.Lock()

    def kept(self, name: str, build: Callable[[list[TargetView]], _T]) -> _T:
        """`build(views)`, worked out by the first answer that asks for `name` and kept for the others."""
        with self._lock:
            if name not in self._kept:
                self._kept[name] = build(self.views)
            found: _T = self._kept[name]
            return found

    def counts(self) -> dict[str, int]:
        """Targets by the state shown (the monitor's own states left out); only the states some target shows."""
        return self.kept("counts", _counts)

    def worst_first(self) -> list[TargetView]:
        """The targets (the monitor's own states left out), the worst first, then by key."""
        return self.kept("worst_first", lambda views: sorted((v for v in views if not v.system), key=_worst_first))

    def score(self) -> int:
        return self.kept("score", health_score)

    def find(self, key: str) -> TargetView | None:
        by_key = self.kept("by_key", lambda views: {v.key: v for v in views})
        return by_key.get(key)


def _counts(views: list[TargetView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in views:
        if not view.system:
            counts[view.shown] = counts.get(view.shown, 0) + 1
    return counts


def _worst_first(view: TargetView) -> tuple[int, str]:
    return _TROUBLE_FIRST.get(view.shown, len(_TROUBLE_FIRST)), view.key


def health_score(views: list[TargetView]) -> int:
    """0-100: mean weight of the targets (OK 1, WARNING and UNKNOWN 0.5, CRITICAL 0); held, pending, removed: out."""
    weights = [
        SCORE_WEIGHTS[Severity[v.shown]]
        for v in views
        if not v.system and v.shown not in (PENDING, REMOVED, Severity.MAINTENANCE.name)
    ]
    if not weights:
        return 100
    return round(100 * sum(weights) / len(weights))


def rate_share(view: TargetView) -> float:
    """Events in the window as a share of the baseline (1.0 when there is no baseline to compare with)."""
    state = view.state
    if state is None or state.recent is None or not state.baseline:
        return 1.0
    return state.recent / state.baseline


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _view_json(view: TargetView, now: datetime) -> dict[str, Any]:
    target, state = view.target, view.state
    silent_for = None
    if state is not None and state.last_event is not None:
        silent_for = max(0.0, (now - state.last_event).total_seconds())
    return {
        "key": view.key,
        "kind": str(target.kind) if target is not None else view.key.partition(":")[0],
        "label": view.label,
        "state": view.shown,
        "severity": state.severity.name if state is not None else None,
        "condition": state.condition.value if state is not None else None,
        "since": _iso(state.since) if state is not None else None,
        "last_event": _iso(state.last_event) if state is not None else None,
        "silent_for_s": silent_for,
        "last_checked": _iso(state.last_checked) if state is not None else None,
        "alerts_sent": state.alerts_sent if state is not None else 0,
        "recent": state.recent if state is not None else None,
        "baseline": state.baseline if state is not None else None,
        "rate_window_s": state.rate_window_s if state is not None else None,
        "history_days": state.history_days if state is not None else 0,
        "rate_share": rate_share(view) if state is not None and state.baseline else None,
        "agent_status": state.agent_status if state is not None else None,
        "interval_s": target.interval_s if target is not None else None,
        "threshold_s": target.threshold_s if target is not None else None,
        "silenced_until": _iso(view.silence.until) if view.silence is not None else None,
        "silence": _silence_json(view.silence) if view.silence is not None else None,
        "maintenance_window": view.window.text if view.window is not None else None,
        "removed": view.removed,
        "forgotten_after": _iso(removed_by(view)),
        "events_counted": not keepalive_only(target, state),
        "note": view.note() or ("keepalive only: events are not counted" if keepalive_only(target, state) else ""),
    }


def _silence_json(silence: Silence) -> dict[str, Any]:
    return {
        "target_key": silence.target_key,
        "until": silence.until.isoformat(),
        "reason": silence.reason,
        "created_at": silence.created_at.isoformat(),
        "created_by": silence.created_by,
    }


def _by_until(silence: Silence) -> tuple[datetime, str]:
    return silence.until, silence.target_key


def _channel_json(name: str, health: ChannelHealth | None) -> dict[str, Any]:
    if health is None:
        return {"channel": name, "state": "unused", "failing_since": None, "last_ok": None, "last_error": None}
    state = "ok" if health.ok else ("failed" if health.permanent else "failing")
    return {
        "channel": name,
        "state": state,  # ok; failing (transient, retried); failed (permanent: fix the configuration); unused
        "last_attempt": _iso(health.last_attempt_at),
        "last_ok": _iso(health.last_ok_at),
        "failing_since": _iso(health.failing_since),
        "last_error": health.last_error,
        "attempts": health.attempts,
        "failures": health.failures,
    }


def _alert_json(entry: OutboxEntry) -> dict[str, Any]:
    note = entry.notification
    return {
        "id": note.id,
        "created_at": note.created_at.isoformat(),
        "kind": str(note.kind),
        "severity": note.severity.name,
        "target_key": note.target_key,
        "label": note.label,
        "condition": note.condition.value,
        "silent_for_s": note.silent_for_s,
        "detail": note.detail,
        "delivered_at": _iso(entry.delivered_at),
        "channel": entry.channel,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
    }


def _host_json(host: HostHealth) -> dict[str, Any]:
    """One indexer node: up, or set aside (until when, after how many failures in a row, why)."""
    return {
        "url": host.url,
        "up": host.up,
        "failures": host.failures,
        "retry_in_s": host.retry_in_s,
        "error": host.last_error,
    }
