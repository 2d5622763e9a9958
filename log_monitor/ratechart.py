"""A target's last 24 hours as a small inline SVG: its counts against the baseline band, and its alert timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH = 360
CHART_HEIGHT = 90
TIMELINE_HEIGHT = 16
PAD = 6
SPAN = timedelta(hours=24)


@dataclass(frozen=True)
class Point:
    """One hour: the events a check counted in its window then, and the baseline (median) for that window."""

    hour: datetime  # the hour's start (UTC)
    events: int
    baseline: float


@dataclass(frozen=True)
class Mark:
    """A moment on the timeline: an alert (the target went WARNING or CRITICAL) or a recovery (back to OK)."""

    at: datetime
    alert: bool
    text: str


@dataclass(frozen=True)
class Rhythm:
    """SILENCE_MODE=rhythm's view of a target: the events its hours expect per window, or that it is learning."""

    expected: Sequence[Point]  # `baseline` is the expected events
    learning: bool = False


def chart(
    label: str, points: Sequence[Point], marks: Sequence[Mark], ratio: float, now: datetime, own: Rhythm | None = None
) -> str:
    """The SVG markup: the band runs from ratio x baseline (where a drop alerts) up to the baseline itself.

    With its `own` rhythm: the events its hours expect (dashed) behind the counts, or that it is still learning.
    Every text is escaped: labels come from agents.csv and agent names, which the page must not run.
    """
    start = now - SPAN
    shown = [p for p in points if start - timedelta(hours=1) < p.hour <= now]
    curve = [p for p in (own.expected if own else ()) if start - timedelta(hours=1) < p.hour <= now]
    top = max([1.0, *(p.events for p in shown), *(p.baseline for p in shown), *(p.baseline for p in curve)]) * 1.1

    def x(at: datetime) -> float:
        share = (at - start) / SPAN
        return round(PAD + min(1.0, max(0.0, share)) * (WIDTH - 2 * PAD), 1)

    def y(value: float) -> float:
        return round(CHART_HEIGHT - PAD - value / top * (CHART_HEIGHT - 2 * PAD), 1)

    def middle(point: Point) -> datetime:
        return min(now, point.hour + timedelta(minutes=30))

    height = CHART_HEIGHT + TIMELINE_HEIGHT
    title = escape(f"{label}: events per window against the baseline band, last 24 hours")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ratechart" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img"><title>{title}</title>',
        f'<rect class="frame" x="0" y="0" width="{WIDTH}" height="{CHART_HEIGHT}" fill="#fafafa" stroke="#ddd"/>',
    ]
    parts += _rhythm([f"{x(middle(p))},{y(p.baseline)}" for p in curve], learning=bool(own and own.learning))
    if shown:
        upper = [f"{x(middle(p))},{y(p.baseline)}" for p in shown]
        lower = [f"{x(middle(p))},{y(p.baseline * ratio)}" for p in reversed(shown)]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}" fill="#cfe3f6" stroke="none"/>')
        line = " ".join(f"{x(middle(p))},{y(p.events)}" for p in shown)
        parts.append(f'<polyline class="count" points="{line}" fill="none" stroke="#1f4e8c" stroke-width="1.5"/>')
    else:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{CHART_HEIGHT / 2}" text-anchor="middle" font-size="11" fill="#777">'
            "no rate counted yet</text>"
        )
    middle_line = CHART_HEIGHT + TIMELINE_HEIGHT / 2
    parts.append(
        f'<line class="timeline" x1="{PAD}" x2="{WIDTH - PAD}" y1="{middle_line}" y2="{middle_line}" stroke="#bbb"/>'
    )
    for mark in marks:
        if not start <= mark.at <= now:
            continue
        kind, colour = ("alert", "#c62828") if mark.alert else ("recovery", "#2e7d32")
        parts.append(
            f'<circle class="{kind}" cx="{x(mark.at)}" cy="{middle_line}" r="4" fill="{colour}">'
            f"<title>{escape(mark.text)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


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
