"""`top`: a live terminal view of every target (state, events/s over 10 s and 2 min, last event, access-log tops)."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from log_monitor.accesslog import MEDIUM_S, SHORT_S, TrafficStats
from log_monitor.dropwords import rate_against
from log_monitor.models import Target, TargetKind, TargetState
from log_monitor.notifiers.render import format_utc, humanize_duration
from log_monitor.sources.local_files import LocalFilesSource
from log_monitor.state import StateStore
from log_monitor.view import keepalive_only, repeated_labels, shown

REFRESH_S = 1.0


@dataclass
class Row:
    """One target as the view shows it."""

    key: str
    label: str
    state: str
    rate_short: float | None
    rate_medium: float | None
    last_event: datetime | None
    tops: str = ""
    rate: str = ""  # events in the window against the baseline, from the daemon's last check
    counted: bool = True  # False: an agent judged by its keepalive alone (no indexer): its last event is not counted


class TopModel:
    """What the view shows, refreshed once per second: local files read in memory (never the daemon's offsets)."""

    def __init__(self, targets: Sequence[Target], store: StateStore | None, zone: tzinfo | None = None) -> None:
        self.targets = list(targets)
        self._store = store
        self._zone = zone
        # Where labels repeat (two agents called "web", an agent and its log files) the key tells the rows apart.
        self._repeated = repeated_labels(self.targets)
        self._files = LocalFilesSource(None)
        self._lines: dict[str, TrafficStats] = {}  # per file: new lines per second, for the rates of any file

    def refresh(self, now: datetime) -> list[Row]:
        states: dict[str, TargetState] = self._store.load_states() if self._store is not None else {}
        silences = self._store.silences(now) if self._store is not None else {}
        seen = self._files.observe(list(filter(self._files.handles, self.targets)), now)
        moment = now.timestamp()
        rows: list[Row] = []
        for target in self.targets:
            state = states.get(target.key)
            view = shown(state, target, silences, now, self._zone)
            name = view.shown if state is not None else "-"
            last = state.last_event if state is not None else None
            short = medium = None
            tops = ""
            observation = seen.get(target.key)
            if observation is not None and target.path is not None:
                counter = self._lines.setdefault(target.path, TrafficStats())
                counter.add_hits(int(moment), observation.events_in_window or 0, moment)
                short, medium = counter.rate(moment, SHORT_S), counter.rate(moment, MEDIUM_S)
                last = observation.last_event or last
                if observation.problem:
                    name = observation.problem.upper()
                elif state is None:
                    name = "OK"
                watch = self._files.watches.get(target.path)
                if watch is not None and watch.traffic is not None:
                    tops = _tops(watch.traffic)
            label = f"{target.label} ({target.key})" if target.label in self._repeated else target.label
            against = rate_against(state.recent, state.baseline) if state is not None else ""
            counted = not keepalive_only(target, state)
            rows.append(Row(target.key, label, name, short, medium, last, tops, against, counted))
        return rows


def _tops(traffic: TrafficStats) -> str:
    sections = ", ".join(f"{s} {n}" for s, n in traffic.top_sections(3))
    hosts = ", ".join(f"{h} {_bytes(n)}" for h, n in traffic.top_hosts(3))
    return f"sections: {sections or '-'}\nhosts: {hosts or '-'}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: Sequence[Row], now: datetime) -> Group:
    """The table for one refresh; pure."""
    table = Table(title=f"log_monitor top  {format_utc(now)}  (q quits)", expand=True)
    # The rate against baseline only where the daemon counts one (indexer targets): a files-only view stays narrow.
    rated = any(row.rate for row in rows)
    names = ["target", "state", "ev/s 10s", "ev/s 2m", *(["vs baseline"] if rated else []), "last event"]
    for name in [*names, "top sections / hosts"]:
        table.add_column(name, justify="right" if name.startswith("ev/s") else "left")
    for row in rows:
        ago = "never" if row.last_event is None else f"{humanize_duration((now - row.last_event).total_seconds())} ago"
        if not row.counted:
            ago = "not counted"
        style = {"OK": "green", "WARNING": "yellow", "CRITICAL": "red"}.get(row.state, "")
        cells: list[str | Text] = [
            row.label,
            Text(row.state, style=style),
            _rate(row.rate_short),
            _rate(row.rate_medium),
        ]
        table.add_row(*cells, *([row.rate or "-"] if rated else []), ago, row.tops)
    return Group(table)


@contextlib.contextmanager
def _keys(stream: TextIO) -> Iterator[Callable[[float], str]]:
    """Single keypresses without Enter; the terminal is restored however the view ends."""
    fd = stream.fileno()
    if not os.isatty(fd):

        def wait(timeout: float) -> str:
            time.sleep(timeout)
            return ""

        yield wait
        return
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:

        def read(timeout: float) -> str:
            ready, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 1).decode(errors="replace") if ready else ""

        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(
    targets: Sequence[Target],
    store: StateStore | None,
    *,
    zone: tzinfo | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    stdin: TextIO | None = None,
    console: Console | None = None,
) -> int:
    """Show the view until q or Ctrl-C; returns the exit code (0)."""
    model = TopModel(targets, store, zone)
    console = console or Console()
    try:
        with _keys(stdin or sys.stdin) as read, Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                moment = now()
                live.update(render(model.refresh(moment), moment), refresh=True)
                if read(REFRESH_S).lower() == "q":
                    return 0
    except KeyboardInterrupt:
        return 0


def watched(targets: Sequence[Target]) -> list[Target]:
    """Every target, local files first (those the view reads itself)."""
    return sorted(targets, key=lambda t: (t.kind is not TargetKind.LOCAL_FILE, t.key))
