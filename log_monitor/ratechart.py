"""A target's last 24 hours as a small inline SVG: its counts against the baseline band, and its alert timeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape

from log_monitor.dropwords import BASELINE_DAYS, LEARNING_DAYS

WIDTH = 360
CHART_HEIGHT = 90
TIMELINE_HEIGHT = 16
AXIS_HEIGHT = 14  # the time labels under the timeline
PAD = 6
LEFT = 34  # room for the count axis's labels
SPAN = timedelta(hours=24)
# While the history is shorter than a day the chart spans just that history (at least this), not 24 mostly empty
# hours: the first pass's point is drawn at once, and the next ones spread out instead of piling up at the edge.
MIN_SPAN = timedelta(hours=1)


@dataclass(frozen=True)
class Point:
    """One hour: the events a check counted in its window then, and the baseline (median) for that window."""

    hour: datetime  # the hour's start (UTC)
    events: int
    baseline: float
    at: datetime | None = None  # a finer point: the check's own time (drawn there, not mid-hour)


@dataclass(frozen=True)
class Mark:
    """A moment on the timeline: an alert (the target went WARNING or CRITICAL) or a recovery (back to OK)."""

    at: datetime
    alert: bool
    text: str


FINE_WHILE = timedelta(hours=6)  # finer points while a target's history is shorter than this
FINE_KEPT = 240  # per target: at 30 s checks, two hours


class FinePoints:
    """Each charted target's checks as they are seen, one point per check, while its hourly history is short.

    The store keeps one point per hour (the hour's last check): a new target's chart would show one dot for an
    hour. The status server notes each check it sees here (memory only, bounded) and draws those instead of
    the hours they fall in. Not thread-safe: the caller holds a lock.
    """

    def __init__(self, kept: int = FINE_KEPT) -> None:
        self._kept = kept
        self._points: dict[str, list[Point]] = {}

    def merged(self, key: str, latest: Point | None, hourly: Sequence[Point], now: datetime) -> list[Point]:
        """The hourly points with those of the hours seen check by check replaced by the checks themselves."""
        if not hourly or now - hourly[0].hour >= FINE_WHILE:
            self._points.pop(key, None)  # history long enough: hours are fine enough
            return list(hourly)
        seen = self._points.setdefault(key, [])
        if latest is not None and latest.at is not None and (not seen or seen[-1].at != latest.at):
            seen.append(latest)
            del seen[: -self._kept]
        fine_hours = {p.hour for p in seen}
        both = [p for p in hourly if p.hour not in fine_hours] + seen
        return sorted(both, key=lambda p: p.at or p.hour + timedelta(minutes=30))

    def forget(self, keep: set[str]) -> None:
        """Drops the targets no longer charted."""
        for key in self._points.keys() - keep:
            del self._points[key]


@dataclass(frozen=True)
class Rhythm:
    """SILENCE_MODE=rhythm's view of a target: the events its hours expect per window, or that it is learning."""

    expected: Sequence[Point]  # `baseline` is the expected events
    learning: bool = False


@dataclass(frozen=True)
class _Frame:
    """Where times and counts land on the drawing."""

    start: datetime
    span: timedelta
    top: float

    def x(self, at: datetime) -> float:
        share = (at - self.start) / self.span
        return round(LEFT + min(1.0, max(0.0, share)) * (WIDTH - LEFT - PAD), 1)

    def y(self, value: float) -> float:
        return round(CHART_HEIGHT - PAD - value / self.top * (CHART_HEIGHT - 2 * PAD), 1)


def chart(
    label: str,
    points: Sequence[Point],
    marks: Sequence[Mark],
    ratio: float,
    now: datetime,
    *,
    zone: tzinfo | None = None,
    history_days: int | None = None,
    own: Rhythm | None = None,
) -> str:
    """The SVG markup: the band runs from ratio x baseline (where a drop alerts) up to the baseline itself.

    Axes: counts on the left, the span's start and end times under it in UTC and in `zone` (the monitor's
    local time when None). While the baseline is learning (fewer than LEARNING_DAYS days with events, or 0)
    no band is drawn and the chart says so. With its `own` rhythm (SILENCE_MODE=rhythm): the events its hours
    expect (dashed) behind the counts, or that it is still learning. Every text is escaped: labels come from
    agents.csv and agent names, which the page must not run.
    """
    shown = [p for p in points if now - SPAN - timedelta(hours=1) < p.hour <= now]
    span = min(SPAN, max(MIN_SPAN, now - min((p.hour for p in shown), default=now)))
    learning = not shown or (history_days is not None and history_days < LEARNING_DAYS)
    learning = learning or all(p.baseline <= 0 for p in shown)
    band = [] if learning else [p.baseline for p in shown]
    curve = [p for p in (own.expected if own else ()) if now - span - timedelta(hours=1) < p.hour <= now]
    frame = _Frame(now - span, span, max([1.0, *(p.events for p in shown), *band, *(p.baseline for p in curve)]) * 1.1)
    height = CHART_HEIGHT + TIMELINE_HEIGHT + AXIS_HEIGHT
    title = escape(f"{label}: events per window against the baseline band, last {_hours(span)}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ratechart" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img"><title>{title}</title>',
        f'<rect class="frame" x="{LEFT}" y="0" width="{WIDTH - LEFT}" height="{CHART_HEIGHT}" fill="#fafafa" '
        'stroke="#ddd"/>',
        *_count_axis(frame),
        *_rhythm(
            [f"{frame.x(min(now, p.hour + timedelta(minutes=30)))},{frame.y(p.baseline)}" for p in curve],
            learning=bool(own and own.learning),
        ),
        *_series(shown, frame, now, ratio, learning, history_days),
        *_timeline(marks, frame, now),
        *_time_axis(frame, now, zone),
        "</svg>",
    ]
    return "".join(parts)


def _hours(span: timedelta) -> str:
    hours = round(span / timedelta(hours=1))
    return "24 hours" if span >= SPAN else f"{hours} hour{'s' if hours != 1 else ''}"


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "axis") -> str:
    return f'<text class="{cls}" x="{x}" y="{y}" text-anchor="{anchor}" font-size="9" fill="#666">{escape(text)}</text>'


def _count_axis(frame: _Frame) -> list[str]:
    """The count axis: 0 at the bottom, the largest count shown at the top."""
    most = frame.top / 1.1
    return [
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{PAD}" y2="{CHART_HEIGHT - PAD}" stroke="#999"/>',
        _text(LEFT - 3, frame.y(0) + 3, "0", "end"),
        _text(LEFT - 3, frame.y(most) + 3, f"{most:,.0f}", "end"),
    ]


def _series(
    shown: Sequence[Point], frame: _Frame, now: datetime, ratio: float, learning: bool, history_days: int | None
) -> list[str]:
    """The band (unless learning), the count line and a dot per point: one point is drawn too."""
    if not shown:
        return [_text((LEFT + WIDTH) / 2, CHART_HEIGHT / 2, "no rate counted yet", "middle", "empty")]

    def middle(point: Point) -> datetime:
        return point.at if point.at is not None else min(now, point.hour + timedelta(minutes=30))

    parts = []
    if learning:
        days = min(history_days or 0, BASELINE_DAYS)
        words = f"baseline learning ({days} of {BASELINE_DAYS} days)"
        parts.append(_text(LEFT + 4, PAD + 8, words, cls="learning"))
    else:
        upper = [f"{frame.x(middle(p))},{frame.y(p.baseline)}" for p in shown]
        lower = [f"{frame.x(middle(p))},{frame.y(p.baseline * ratio)}" for p in reversed(shown)]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="#cfe3f6" stroke="none"/>')
    line = " ".join(f"{frame.x(middle(p))},{frame.y(p.events)}" for p in shown)
    parts.append(f'<polyline class="count" points="{line}" fill="none" stroke="#1f4e8c" stroke-width="1.5"/>')
    for p in shown:
        parts.append(
            f'<circle class="point" cx="{frame.x(middle(p))}" cy="{frame.y(p.events)}" r="2" fill="#1f4e8c">'
            f"<title>{escape(f'{p.hour:%H:%M} UTC: {p.events:,} events')}</title></circle>"
        )
    return parts


def _timeline(marks: Sequence[Mark], frame: _Frame, now: datetime) -> list[str]:
    middle_line = CHART_HEIGHT + TIMELINE_HEIGHT / 2
    parts = [
        f'<line class="timeline" x1="{LEFT}" x2="{WIDTH - PAD}" y1="{middle_line}" y2="{middle_line}" stroke="#bbb"/>'
    ]
    for mark in marks:
        if not frame.start <= mark.at <= now:
            continue
        kind, colour = ("alert", "#c62828") if mark.alert else ("recovery", "#2e7d32")
        parts.append(
            f'<circle class="{kind}" cx="{frame.x(mark.at)}" cy="{middle_line}" r="4" fill="{colour}">'
            f"<title>{escape(mark.text)}</title></circle>"
        )
    return parts


def _time_axis(frame: _Frame, now: datetime, zone: tzinfo | None) -> list[str]:
    """The span's start and end, in UTC and in local time beside it (people read their own clock first)."""
    baseline_y = CHART_HEIGHT + TIMELINE_HEIGHT + AXIS_HEIGHT - 3
    local: Callable[[datetime], datetime] = (lambda at: at.astimezone(zone)) if zone else (lambda at: at.astimezone())

    def both(at: datetime) -> str:
        here = local(at)
        return f"{at:%H:%M} UTC ({here:%H:%M} {here.tzname() or 'local'})"

    return [
        _text(LEFT, baseline_y, both(frame.start), "start", "axis time"),
        _text(WIDTH - PAD, baseline_y, both(now), "end", "axis time"),
    ]


def _rhythm(curve: list[str], *, learning: bool) -> list[str]:
    """The expected curve's markup (points as "x,y"), or the word that the rhythm is still being learned."""
    parts = []
    if curve:
        parts.append(
            f'<polyline class="expected" points="{" ".join(curve)}" fill="none" stroke="#8a8a8a" '
            'stroke-dasharray="3 2"><title>expected by its rhythm</title></polyline>'
        )
    if learning:
        parts.append(
            f'<text class="learning" x="{WIDTH - PAD}" y="12" text-anchor="end" font-size="10" fill="#777">'
            "learning</text>"
        )
    return parts
