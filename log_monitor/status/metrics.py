"""The status server's /metrics: Prometheus text read from the documents' views and the monitor's counters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from log_monitor.app import BackendMetrics
from log_monitor.models import Severity
from log_monitor.status.documents import Documents
from log_monitor.view import SHOWN, TargetView

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# /metrics carries per-target series (silence, severity) for at most this many targets: above it, only the
# targets not OK, up to this many (13 MB scraped every 15 s at 100,000 agents otherwise).
MAX_TARGET_SERIES = 10_000


def registry(documents: Documents) -> CollectorRegistry:
    """A registry whose one collector reads the current values at each scrape."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_Collector(documents))
    return found


def metrics_text(found: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus's text format."""
    return generate_latest(found)


class _Collector(Collector):
    """Reads current values at scrape time, so the numbers are never stale and nothing is kept twice."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents

    def collect(self) -> Iterator[Metric]:
        metrics = self._documents.app.metrics()
        yield from self._targets()
        yield from self._loop()
        yield from self._backends(metrics.backends)
        yield from self._deliveries(metrics.channels, metrics.delivery_failures)

    def _targets(self) -> Iterator[Metric]:
        now = self._documents.app.monitor.clock.now()
        snapshot = self._documents.snapshot()
        by_state = GaugeMetricFamily("log_monitor_targets", "Targets by the state shown", labels=["state"])
        for name, count in (dict.fromkeys(SHOWN, 0) | snapshot.counts()).items():
            by_state.add_metric([name], count)
        yield by_state
        yield GaugeMetricFamily(
            "log_monitor_health_score", "Health score 0-100 (docs/status.md)", value=snapshot.score()
        )
        silence = GaugeMetricFamily(
            "log_monitor_target_silence_seconds", "Seconds since the target's last event", labels=["target", "kind"]
        )
        severity = GaugeMetricFamily(
            "log_monitor_target_severity", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, 4 MAINTENANCE", labels=["target"]
        )
        checked, per_target = snapshot.kept(f"series:{MAX_TARGET_SERIES}", _series)
        yield GaugeMetricFamily(
            "log_monitor_target_series_omitted",
            f"Targets left out of the per-target series (above {MAX_TARGET_SERIES} targets only those not OK)",
            value=checked - len(per_target),
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
        for node, (agents, _) in self._documents.app.monitor.agents_per_node().items():
            nodes.add_metric([node], agents)
        yield nodes

    def _loop(self) -> Iterator[Metric]:
        health = self._documents.app.monitor.health_snapshot()
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
        store = self._documents.app.store
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
        app = self._documents.app
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
        errors = app.monitor.health_snapshot().backend_errors
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


def _series(views: list[TargetView]) -> tuple[int, list[TargetView]]:
    """The targets checked, and those given per-target series: all of them, or above the cap those not OK."""
    per_target = [v for v in views if v.target is not None and v.state is not None]
    checked = len(per_target)
    if checked > MAX_TARGET_SERIES:
        # A fleet this large: the series that matter (targets not OK), not a scrape of every agent.
        per_target = [v for v in per_target if v.shown != Severity.OK.name][:MAX_TARGET_SERIES]
    return checked, per_target
