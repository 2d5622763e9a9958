"""Status HTTP server inside the daemon: /healthz, /metrics, the JSON API and the dashboard page (docs/status.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from log_monitor import __version__
from log_monitor.app import App, BackendMetrics
from log_monitor.closing import Closing
from log_monitor.httpserve import BoundedHTTPServer, PrefetchedRequestHandler, ServerLimits
from log_monitor.ledger import hour_index
from log_monitor.logsetup import RedactingFilter
from log_monitor.models import Condition, Secret, Severity, Silence
from log_monitor.ratechart import FinePoints, Mark, Point, Rhythm, chart
from log_monitor.state.channels import ChannelHealth
from log_monitor.state.outbox import OutboxEntry
from log_monitor.view import PENDING, REMOVED, SHOWN, TargetView, keepalive_only, removed_by
from log_monitor.view import views as all_views
from log_monitor.wazuh.hosts import HostHealth

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_GRACE_S = 60.0  # /healthz: a pass must have completed within 2 x the smallest interval + this
# Health score weights: a target's share of "fine"; MAINTENANCE, PENDING and REMOVED targets are left out.
SCORE_WEIGHTS = {Severity.OK: 1.0, Severity.WARNING: 0.5, Severity.UNKNOWN: 0.5, Severity.CRITICAL: 0.0}
MAX_ALERTS = 500
MAX_CHARTS = 200  # each chart costs two small queries: the page asks for the few that matter
# /api/targets is a page of targets, the worst first: 100,000 rows are 51 MB of JSON built at every refresh.
TARGETS_PAGE = 500
MAX_TARGETS_PAGE = 5000
# /metrics carries per-target series (silence, severity) for at most this many targets: above it, only the
# targets not OK, up to this many (13 MB scraped every 15 s at 100,000 agents otherwise).
MAX_TARGET_SERIES = 10_000
# Answers that walk every target (the targets' JSON, /metrics, charts) built at once: more clients wait for
# their turn (up to HEAVY_WAIT_S, then 503), so dashboards left open cannot take the checks' CPU and memory.
HEAVY_AT_ONCE = 1
HEAVY_WAIT_S = 10.0
_TROUBLE_FIRST = {name: rank for rank, name in enumerate(("CRITICAL", "WARNING", "UNKNOWN", "PENDING", "MAINTENANCE"))}


class StatusServer(Closing):
    """A bounded HTTP server on a daemon thread; reads the state store and the monitor's counters, never writes."""

    def __init__(
        self,
        app: App,
        address: tuple[str, int],
        token: Secret | None = None,
        *,
        limits: ServerLimits | None = None,
        health_grace_s: float = HEALTH_GRACE_S,
    ) -> None:
        self.app = app
        self._token = token.reveal().encode() if token else None
        self._health_grace_s = health_grace_s
        self._redactor = RedactingFilter(app.settings.secrets())
        self._zone = ZoneInfo(app.settings.maintenance_tz) if app.settings.maintenance_tz else None
        self._started_mono = app.monitor.clock.monotonic()
        self._fine = FinePoints()  # the charts' finer points while a target's history is short
        self._fine_lock = threading.Lock()
        self.heavy = threading.BoundedSemaphore(HEAVY_AT_ONCE)
        names = {"localhost", address[0], socket.gethostname(), socket.getfqdn(), *app.settings.status_hosts}
        self._host_names = {name.lower().rstrip(".") for name in names if name}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        server_class = _V6Server if ":" in address[0] else _V4Server
        self._server = server_class(address, _Handler, limits)
        self._server.status = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-server", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed (at most the limits' max_connections)."""
        return self._server.open_connections

    def start(self) -> StatusServer:
        self._thread.start()
        log.info("status server listening on %s", self.url)
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    # -- access --------------------------------------------------------------------------

    def host_allowed(self, header: str | None) -> bool:
        """Whether the Host header names this server: an IP address, loopback, this host or STATUS_HOSTS.

        A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name: refused.
        """
        if not header:
            return True  # HTTP/1.0 without Host; a browser always sends one
        host = header.strip()
        if host.startswith("["):
            return True  # an IPv6 literal: no name to rebind
        name, sep, port = host.rpartition(":")
        if not sep or not port.isdigit():
            name = host
        name = name.lower().rstrip(".")
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name in self._host_names
        return True

    def authorized(self, header: str | None, query_token: str | None = None) -> bool:
        if self._token is None:
            return True
        given = ""
        if header and header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        elif query_token is not None:
            given = query_token
        # Constant time, so the token cannot be guessed byte by byte from response times.
        return hmac.compare_digest(given.encode(), self._token)

    # -- what the endpoints show -----------------------------------------------------------

    def health(self, *, detailed: bool = True) -> tuple[bool, dict[str, Any]]:
        """Healthy while a pass completed within 2 x the smallest interval (+ grace) and read every backend.

        A loop that turns but whose every pass fails (state DB full or locked) is not healthy. Without
        `detailed` (a caller without the token) only the status is given: errors can name users and hosts.
        """
        monitor = self.app.monitor
        health = monitor.health
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

    def views(self) -> list[TargetView]:
        """Every configured target, each removed one still stored, each backend or pipeline state (log_monitor.view)."""
        now = self.app.monitor.clock.now()
        return all_views(
            list(self.app.monitor.targets), self.app.store.load_states(), self.app.store.silences(now), now, self._zone
        )

    def targets_document(self, wanted: set[str] | None, limit: int = TARGETS_PAGE, offset: int = 0) -> dict[str, Any]:
        """Counts over every target; the targets themselves a page at a time, the worst first (then by key)."""
        now = self.app.monitor.clock.now()
        every = self.views()
        counts: dict[str, int] = {}
        for view in every:
            if not view.system:
                counts[view.shown] = counts.get(view.shown, 0) + 1
        chosen = [v for v in every if not v.system and (wanted is None or v.shown in wanted)]
        chosen.sort(key=_worst_first)
        return {
            "generated_at": now.isoformat(),
            "health_score": health_score(every),
            "counts": counts,
            "total": len(chosen),  # targets of the asked states; `targets` holds `limit` of them from `offset`
            "offset": offset,
            "limit": limit,
            "targets": [_view_json(v, now) for v in chosen[offset : offset + limit]],
            "backends": [self._backend_json(v, now) for v in every if v.system],
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
        document["error"] = self.app.monitor.health.backend_errors.get(name)
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
        view = next((v for v in self.views() if v.key == key), None)
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

    def charts_document(self, limit: int) -> dict[str, Any]:
        """The targets whose rate is counted, drops first then by lowest share of baseline, each with its 24 h chart."""
        now = self.app.monitor.clock.now()
        rated = [v for v in self.views() if not v.system and v.state is not None and v.state.baseline is not None]
        rated.sort(key=lambda v: (v.state is None or v.state.condition is not Condition.RATE_DROP, _share(v), v.key))
        since = now - timedelta(hours=25)
        charts = []
        for view in rated[:limit]:
            assert view.state is not None
            points = self._points(view, since, now)
            marks = [
                Mark(t.at, t.to_severity is not Severity.OK, f"{t.at:%H:%M} UTC {t.to_severity.name} ({t.condition})")
                for t in self.app.store.transitions(view.key)
                if t.at >= since
                and t.to_severity in (Severity.OK, Severity.WARNING, Severity.CRITICAL)
                and t.from_severity is not None
            ]
            ratio = self._drop_ratio(view)
            expected, learning = self._rhythm(view.key, now, view.state.rate_window_s)
            charts.append(
                {
                    "key": view.key,
                    "label": view.label,
                    "state": view.shown,
                    "condition": view.state.condition.value,
                    "recent": view.state.recent,
                    "baseline": view.state.baseline,
                    "drop_ratio": ratio,
                    "history_days": view.state.history_days,
                    "learning": learning,
                    "svg": chart(
                        view.label,
                        points,
                        marks,
                        ratio,
                        now,
                        zone=self._zone,
                        history_days=view.state.history_days,
                        own=Rhythm(expected, learning),
                    ),
                }
            )
        with self._fine_lock:
            self._fine.forget({str(c["key"]) for c in charts})
        return {"generated_at": now.isoformat(), "charts": charts}

    def _points(self, view: TargetView, since: datetime, now: datetime) -> list[Point]:
        """The chart's points: hourly from the store, and each check seen while the history is short."""
        hourly = [Point(p.hour, p.events, p.baseline) for p in self.app.store.rate_points(view.key, since)]
        state = view.state
        latest = None
        if state is not None and state.last_checked is not None and state.recent is not None:
            hour = state.last_checked.replace(minute=0, second=0, microsecond=0)
            latest = Point(hour, state.recent, state.baseline or 0.0, at=state.last_checked)
        with self._fine_lock:
            return self._fine.merged(view.key, latest, hourly, now)

    def _rhythm(self, key: str, now: datetime, window_s: float | None) -> tuple[list[Point], bool]:
        """The target's expected events per window for each of the last 25 hours, and whether it is still learning."""
        policy = self.app.monitor.policy
        if policy.silence_mode != "rhythm":
            return [], False
        found = self.app.store.profiles([key], hour_index(now) // 24).get(key)
        if found is None or found.learning(policy.drop_min_baseline):
            return [], True
        share = (window_s or 3600.0) / 3600.0
        first = hour_index(now) - 24
        hours = [datetime.fromtimestamp(hour * 3600, UTC) for hour in range(first, first + 25)]
        return [Point(at, 0, found.rate(hour_index(at)) * share) for at in hours], False

    def _drop_ratio(self, view: TargetView) -> float:
        target = view.target
        if target is not None and target.drop_ratio is not None:
            return target.drop_ratio
        return self.app.settings.drop_ratio

    def alerts_document(self, limit: int) -> dict[str, Any]:
        return {
            "outbox_depth": self.app.store.outbox_depth(),
            "alerts": [_alert_json(e) for e in self.app.store.recent(limit)],
        }


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


def _share(view: TargetView) -> float:
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
        "rate_share": _share(view) if state is not None and state.baseline else None,
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


# -- metrics ------------------------------------------------------------------------------


class _Collector(Collector):
    """Reads current values at scrape time, so the numbers are never stale and nothing is kept twice."""

    def __init__(self, status: StatusServer) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        metrics = self._status.app.metrics()
        yield from self._targets()
        yield from self._loop()
        yield from self._backends(metrics.backends)
        yield from self._deliveries(metrics.channels, metrics.delivery_failures)

    def _targets(self) -> Iterator[Metric]:
        now = self._status.app.monitor.clock.now()
        views = self._status.views()
        by_state = GaugeMetricFamily("log_monitor_targets", "Targets by the state shown", labels=["state"])
        counts = dict.fromkeys(SHOWN, 0)
        for view in views:
            if not view.system:
                counts[view.shown] += 1
        for name, count in counts.items():
            by_state.add_metric([name], count)
        yield by_state
        yield GaugeMetricFamily(
            "log_monitor_health_score", "Health score 0-100 (docs/status.md)", value=health_score(views)
        )
        silence = GaugeMetricFamily(
            "log_monitor_target_silence_seconds", "Seconds since the target's last event", labels=["target", "kind"]
        )
        severity = GaugeMetricFamily(
            "log_monitor_target_severity", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, 4 MAINTENANCE", labels=["target"]
        )
        per_target = [v for v in views if v.target is not None and v.state is not None]
        if len(per_target) > MAX_TARGET_SERIES:
            # A fleet this large: the series that matter (targets not OK), not a scrape of every agent.
            per_target = [v for v in per_target if v.shown != Severity.OK.name][:MAX_TARGET_SERIES]
        yield GaugeMetricFamily(
            "log_monitor_target_series_omitted",
            f"Targets left out of the per-target series (above {MAX_TARGET_SERIES} targets only those not OK)",
            value=sum(1 for v in views if v.target is not None and v.state is not None) - len(per_target),
        )
        for view in per_target:
            assert view.target is not None and view.state is not None
            severity.add_metric([view.target.key], float(Severity[view.shown]))
            if view.state.last_event is not None:
                age = max(0.0, (now - view.state.last_event).total_seconds())
                silence.add_metric([view.target.key, str(view.target.kind)], age)
        yield silence
        yield severity
        nodes = GaugeMetricFamily("log_monitor_node_agents", "Agents listed on each Wazuh node", labels=["node"])
        for node, (agents, _) in self._status.app.monitor.agents_per_node().items():
            nodes.add_metric([node], agents)
        yield nodes

    def _loop(self) -> Iterator[Metric]:
        health = self._status.app.monitor.health
        yield CounterMetricFamily(
            "log_monitor_checks", "Target checks done since the process started", value=health.checks
        )
        yield CounterMetricFamily("log_monitor_passes", "Passes done since the process started", value=health.passes)
        last_good = GaugeMetricFamily(
            "log_monitor_last_successful_pass_timestamp_seconds", "Unix time of the latest pass that read every backend"
        )
        if health.last_good_pass_at is not None:
            last_good.add_metric([], health.last_good_pass_at.timestamp())
        yield last_good
        last_tick = GaugeMetricFamily("log_monitor_last_loop_timestamp_seconds", "Unix time the loop last turned")
        if health.last_tick_at is not None:
            last_tick.add_metric([], health.last_tick_at.timestamp())
        yield last_tick

    def _deliveries(self, channels: Sequence[str], failures: Mapping[str, int]) -> Iterator[Metric]:
        store = self._status.app.store
        sent = CounterMetricFamily("log_monitor_alerts_sent", "Notifications delivered, by channel", labels=["channel"])
        for channel, count in sorted(store.delivered_by_channel().items()):
            sent.add_metric([channel], count)
        yield sent
        failed = CounterMetricFamily(
            "log_monitor_alert_failures", "Delivery attempts a channel refused, since start", labels=["channel"]
        )
        for channel in channels:
            failed.add_metric([channel], failures.get(channel, 0))
        yield failed
        yield GaugeMetricFamily("log_monitor_outbox_depth", "Notifications queued", value=store.outbox_depth())
        yield GaugeMetricFamily(
            "log_monitor_outbox_undeliverable",
            "Queued notifications every channel has refused at least once",
            value=store.undeliverable(),
        )

    def _backends(self, clients: dict[str, BackendMetrics]) -> Iterator[Metric]:
        app = self._status.app
        requests = CounterMetricFamily("log_monitor_backend_requests", "HTTP requests answered", labels=["backend"])
        latency = SummaryMetricFamily("log_monitor_backend_request_seconds", "Time to an answer", labels=["backend"])
        responses = CounterMetricFamily(
            "log_monitor_backend_responses", "Answers by HTTP status (401, 429, ...)", labels=["backend", "code"]
        )
        up = GaugeMetricFamily(
            "log_monitor_backend_up", "1 when the latest pass could read the backend", labels=["backend"]
        )
        host_up = GaugeMetricFamily(
            "log_monitor_backend_host_up",
            "1 when the node answered its latest request, 0 while it is set aside",
            labels=["backend", "host"],
        )
        errors = app.monitor.health.backend_errors
        for name, client in clients.items():
            requests.add_metric([name], client.requests)
            latency.add_metric([name], count_value=client.requests, sum_value=client.request_seconds)
            for code, count in sorted(client.responses_by_status.items()):
                responses.add_metric([name, str(code)], count)
            up.add_metric([name], 0.0 if name in errors else 1.0)
            for host in client.hosts:
                host_up.add_metric([name, host.url], 1.0 if host.up else 0.0)
        yield requests
        yield latency
        yield responses
        yield up
        yield host_up


def _host_json(host: HostHealth) -> dict[str, Any]:
    """One indexer node: up, or set aside (until when, after how many failures in a row, why)."""
    return {
        "url": host.url,
        "up": host.up,
        "failures": host.failures,
        "retry_in_s": host.retry_in_s,
        "error": host.last_error,
    }


# -- HTTP -------------------------------------------------------------------------------


class _V4Server(BoundedHTTPServer):
    status: StatusServer


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


NO_SCRIPT = "default-src 'none'"
TOKEN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>log_monitor: token required</title></head>
<body>
<h1>log_monitor status: a token is required</h1>
<p>This status server is protected by <code>STATUS_TOKEN</code> (or <code>STATUS_TOKEN_FILE</code>) in the
monitor's env file. Open this page once with the token in the address:</p>
<pre>/?token=&lt;the value of STATUS_TOKEN&gt;</pre>
<p>The page keeps it for this browser tab only and takes it out of the address bar. Scripts and
Prometheus send it as a header instead: <code>Authorization: Bearer &lt;STATUS_TOKEN&gt;</code>.
<code>/healthz</code> answers without it.</p>
</body></html>
"""


def _page() -> tuple[bytes, str]:
    """The dashboard and its Content-Security-Policy: only its own inline script and style may run."""
    text = resources.files("log_monitor").joinpath("dashboard.html").read_text(encoding="utf-8")
    hashes = {}
    for tag in ("script", "style"):
        match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
        if match is None:
            raise RuntimeError(f"dashboard.html has no <{tag}>")
        digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
        hashes[tag] = f"'sha256-{digest}'"
    policy = (
        f"default-src 'none'; script-src {hashes['script']}; style-src {hashes['style']}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return text.encode(), policy


class _Handler(PrefetchedRequestHandler):
    server: _V4Server
    server_version = "log_monitor-status"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        # Path only, never the query: `?token=` must not reach the log.
        log.debug("status %s %s", self.command, urlsplit(self.path).path)

    head_only = False

    def do_HEAD(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """As GET, without the body (load balancers' checks)."""
        self.head_only = True
        self.do_GET()

    def do_OPTIONS(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """What HAProxy's default check sends: the methods, and nothing else about the monitor."""
        if self._host_refused():
            return
        self._send(204, b"", "text/plain", {"Allow": "GET, HEAD, OPTIONS"})

    def _host_refused(self) -> bool:
        """Answer 421 (and say True) when the Host header names another site."""
        if self.server.status.host_allowed(self.headers.get("Host")):
            return False
        self._json(421, {"error": "this server does not answer to that host name; add it to STATUS_HOSTS"})
        return True

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        status = self.server.status
        if self._host_refused():
            return
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        try:
            if path == "/healthz":
                healthy, body = status.health(detailed=status.authorized(self.headers.get("Authorization")))
                self._json(200 if healthy else 503, body)
                return
            if path == "/favicon.ico":
                self._send(204, b"", "text/plain")
                return
            query_token = query.get("token", [None])[0] if path == "/" else None
            if not status.authorized(self.headers.get("Authorization"), query_token):
                if path == "/":  # a person at a browser: a page that says what to do, not a line of JSON
                    self._send(
                        401, TOKEN_PAGE, "text/html; charset=utf-8", {"Content-Security-Policy": "default-src 'none'"}
                    )
                    return
                self._json(401, {"error": "a bearer token is required: Authorization: Bearer <STATUS_TOKEN>"})
                return
            self._route(status, path, query)
        except (ConnectionError, TimeoutError):
            raise  # the client hung up: the server says so in one debug line
        except Exception:
            log.exception("status server: %s failed", path)
            self._json(500, {"error": "internal error; see the monitor's log"})

    def _route(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        if path not in ("/metrics", "/api/targets", "/api/charts"):
            self._route_light(status, path, query)
            return
        if not status.heavy.acquire(timeout=HEAVY_WAIT_S):
            self._json(503, {"error": "busy answering other clients; try again shortly"}, {"Retry-After": "5"})
            return
        try:
            self._route_heavy(status, path, query)
        finally:
            status.heavy.release()

    def _route_heavy(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        """The answers that walk every target: one at a time."""
        if path == "/metrics":
            self._send(200, generate_latest(status.registry), PROMETHEUS_CONTENT_TYPE)
        elif path == "/api/targets":
            wanted = None
            if "state" in query:
                wanted = {s.strip().upper() for value in query["state"] for s in value.split(",") if s.strip()}
                known = set(SHOWN)
                if not wanted <= known:
                    self._json(400, {"error": f"unknown state {sorted(wanted - known)}; one of {sorted(known)}"})
                    return
            limit = self._limit(query, TARGETS_PAGE, MAX_TARGETS_PAGE)
            offset_text = query.get("offset", ["0"])[0]
            if not offset_text.isdigit() or len(offset_text) > 9:
                self._json(400, {"error": "offset must be a whole number"})
                return
            if limit is not None:
                self._json(200, status.targets_document(wanted, limit, int(offset_text)))
        else:
            limit = self._limit(query, 24, MAX_CHARTS)
            if limit is not None:
                self._json(200, status.charts_document(limit))

    def _route_light(self, status: StatusServer, path: str, query: dict[str, list[str]]) -> None:
        if path == "/":
            page, policy = _page()
            self._send(200, page, "text/html; charset=utf-8", {"Content-Security-Policy": policy})
        elif path.startswith("/api/targets/"):
            key = unquote(path.removeprefix("/api/targets/"))
            document = status.target_document(key)
            if document is None:
                self._json(404, {"error": f"no target {key!r}"})
            else:
                self._json(200, document)
        elif path == "/api/alerts":
            limit = self._limit(query, 50, MAX_ALERTS)
            if limit is not None:
                self._json(200, status.alerts_document(limit))
        else:
            endpoints = ["/", "/healthz", "/metrics", "/api/targets", "/api/alerts", "/api/charts"]
            self._json(404, {"error": "not found", "endpoints": endpoints})

    def _limit(self, query: dict[str, list[str]], default: int, most: int) -> int | None:
        """The `limit` asked for, or None once a 400 has said why it is refused."""
        text = query.get("limit", [str(default)])[0]
        if not text.isdigit() or not 1 <= int(text) <= most:
            self._json(400, {"error": f"limit must be a whole number from 1 to {most}"})
            return None
        return int(text)

    def _json(self, code: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(body).encode(), "application/json", headers)

    def _send(self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="log_monitor"')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head_only:
            self.wfile.write(body)


def start_status_server(app: App) -> StatusServer | None:
    """The daemon's status server when STATUS_ADDR is set; a failure to bind is logged, monitoring goes on."""
    address = app.settings.status_addr
    if address is None:
        return None
    try:
        return StatusServer(app, address, app.settings.status_token).start()
    except OSError as exc:
        # The dashboard is not worth stopping the alerts for; /healthz staying unreachable will be noticed.
        log.error("status server not started on %s:%d: %s", address[0], address[1], exc)
        return None
