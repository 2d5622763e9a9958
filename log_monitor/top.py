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
from typing import Any, TextIO

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from log_monitor.accesslog import MEDIUM_S, SHORT_S, TrafficStats
from log_monitor.dropwords import rate_against
from log_monitor.httpboundary import read_json
from log_monitor.models import Condition, Severity, Target, TargetKind, TargetState
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


LIVE_TIMEOUT_S = 1.0  # the daemon's status server is on this host or near it: slower means it is not there


class LiveStatus:
    """The running daemon's view of every target, read from its status server (`/api/targets`).

    The state file is written when a state changes and at most hourly otherwise: the daemon's own figures
    (last event, events in the window) are up to that much newer.
    """

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - mapped away
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.problem = ""  # why the last fetch failed, for the view's title

    def fetch(self) -> list[dict[str, Any]] | None:
        """Every target's document, or None (and `problem` says why) when the daemon cannot be read."""
        try:
            answer = httpx.get(f"{self.url}/api/targets", headers=self._headers, timeout=LIVE_TIMEOUT_S)
        except httpx.HTTPError as exc:
            self.problem = f"no daemon status server at {self.url} ({type(exc).__name__})"
            return None
        if answer.status_code != 200:
            self.problem = f"the status server at {self.url} answered HTTP {answer.status_code}"
            return None
        try:
            targets = read_json(answer.content)["targets"]
        except (ValueError, KeyError, TypeError, RecursionError):
            self.problem = f"the status server at {self.url} sent no target list"
            return None
        self.problem = ""
        return [t for t in targets if isinstance(t, dict) and isinstance(t.get("key"), str)]


def _stamp(text: object) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _live_state(document: dict[str, Any]) -> TargetState:
    """A target's state as the daemon holds it now, from its status document."""
    severity, condition = document.get("severity"), document.get("condition")
    window = document.get("rate_window_s")
    return TargetState(
        document["key"],
        severity=Severity[str(severity)] if severity in Severity.__members__ else Severity.UNKNOWN,
        condition=Condition(condition) if condition in _CONDITIONS else Condition.OK,
        last_event=_stamp(document.get("last_event")),
        last_checked=_stamp(document.get("last_checked")),
        recent=document.get("recent") if isinstance(document.get("recent"), int) else None,
        baseline=document.get("baseline") if isinstance(document.get("baseline"), int | float) else None,
        rate_window_s=float(window) if isinstance(window, int | float) else None,
        history_days=int(days) if isinstance(days := document.get("history_days"), int) else 0,
    )


_CONDITIONS = {c.value for c in Condition}


class TopModel:
    """What the view shows, refreshed once per second: local files read in memory (never the daemon's offsets)."""

    def __init__(
        self,
        targets: Sequence[Target],
        store: StateStore | None,
        zone: tzinfo | None = None,
        live: LiveStatus | None = None,
    ) -> None:
        self.targets = list(targets)
        self._store = store
        self._zone = zone
        self._live = live
        self.source = ""  # where the states shown come from, and how old they are: the view's title
        # Where labels repeat (two agents called "web", an agent and its log files) the key tells the rows apart.
        self._repeated = repeated_labels(self.targets)
        self._files = LocalFilesSource(None)
        self._lines: dict[str, TrafficStats] = {}  # per file: new lines per second, for the rates of any file

    def _states(self, now: datetime) -> tuple[dict[str, TargetState], dict[str, str]]:
        """The states to show and, when read live, the state the daemon shows for each (silences applied)."""
        documents = self._live.fetch() if self._live is not None else None
        if documents is not None:
            assert self._live is not None
            self.source = f"live from the daemon at {self._live.url}"
            return {d["key"]: _live_state(d) for d in documents}, {d["key"]: str(d.get("state")) for d in documents}
        states: dict[str, TargetState] = self._store.load_states() if self._store is not None else {}
        why = self._live.problem if self._live is not None else "STATUS_ADDR not set"
        checked = [s.last_checked for s in states.values() if s.last_checked is not None]
        if not checked:
            self.source = f"no saved state yet ({why})"
        else:
            age = humanize_duration(max(0.0, (now - max(checked)).total_seconds()))
            self.source = f"the last saved state, {age} old: the daemon saves it at most hourly ({why})"
        return states, {}

    def refresh(self, now: datetime) -> list[Row]:
        states, names = self._states(now)
        silences = self._store.silences(now) if self._store is not None and not names else {}
        seen = self._files.observe(list(filter(self._files.handles, self.targets)), now)
        moment = now.timestamp()
        rows: list[Row] = []
        for target in self.targets:
            state = states.get(target.key)
            view = shown(state, target, silences, now, self._zone)
            name = names.get(target.key, view.shown) if state is not None else "-"
            last = state.last_event if state is not None else None
            short = None
            # An agent's rate is the daemon's: events in its last counting window (no 10 s figure exists for it).
            medium = _window_rate(state)
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
            against = rate_against(state.recent, state.baseline, state.history_days) if state is not None else ""
            counted = not keepalive_only(target, state)
            rows.append(Row(target.key, label, name, short, medium, last, tops, against, counted))
        return rows


def _window_rate(state: TargetState | None) -> float | None:
    if state is None or state.recent is None or not state.rate_window_s:
        return None
    return state.recent / state.rate_window_s


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


def render(rows: Sequence[Row], now: datetime, source: str = "") -> Group:
    """The table for one refresh; pure. `source` says where the states come from (the daemon, or the saved file)."""
    # Under the title, not as a caption: a long table is cut at the terminal's last line, the caption with it.
    title = f"log_monitor top  {format_utc(now)}  (q quits)" + (f"\n{source}" if source else "")
    caption = "agents' ev/s 2m: the daemon's last counting window" if source.startswith("live") else None
    table = Table(title=title, caption=caption, expand=True)
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
    live: LiveStatus | None = None,
) -> int:
    """Show the view until q or Ctrl-C; returns the exit code (0)."""
    model = TopModel(targets, store, zone, live)
    console = console or Console()
    try:
        with _keys(stdin or sys.stdin) as read, Live(console=console, auto_refresh=False, screen=False) as view:
            while True:
                moment = now()
                rows = model.refresh(moment)
                view.update(render(rows, moment, model.source), refresh=True)
                if read(REFRESH_S).lower() == "q":
                    return 0
    except KeyboardInterrupt:
        return 0


def watched(targets: Sequence[Target]) -> list[Target]:
    """Every target, local files first (those the view reads itself)."""
    return sorted(targets, key=lambda t: (t.kind is not TargetKind.LOCAL_FILE, t.key))
