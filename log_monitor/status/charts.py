"""The dashboard's rate charts: the rated targets, drops first, each with its 24 h chart as SVG."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from log_monitor.ledger import hour_index
from log_monitor.models import Condition, Severity
from log_monitor.ratechart import FinePoints, Mark, Point, Rhythm, chart
from log_monitor.status.documents import Documents, rate_share
from log_monitor.view import TargetView

MAX_CHARTS = 200  # each chart costs two small queries: the page asks for the few that matter


class Charts:
    """The /api/charts document; keeps the finer points of the targets whose history is still short."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents
        self.app = documents.app
        self._fine = FinePoints()  # the charts' finer points while a target's history is short
        self._fine_lock = threading.Lock()

    def charts_document(self, limit: int) -> dict[str, Any]:
        """The targets whose rate is counted, drops first then by lowest share of baseline, each with its 24 h chart."""
        now = self.app.monitor.clock.now()
        rated = self._documents.snapshot().kept("rated", _rated)
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
                        zone=self._documents.zone,
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
        settings = self.app.settings  # the knobs the monitor's policy was made of (app.policy_settings)
        if settings.silence_mode != "rhythm":
            return [], False
        found = self.app.store.profiles([key], hour_index(now) // 24).get(key)
        if found is None or found.learning(settings.drop_min_baseline):
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


def _rated(views: list[TargetView]) -> list[TargetView]:
    """The targets whose rate is counted: drops first, then by lowest share of the baseline, then by key."""
    rated = [v for v in views if not v.system and v.state is not None and v.state.baseline is not None]
    rated.sort(key=lambda v: (v.state is None or v.state.condition is not Condition.RATE_DROP, rate_share(v), v.key))
    return rated
