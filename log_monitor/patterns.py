"""Pattern rules per log file: too many matching lines in a window, or a heartbeat line that stopped; pure."""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from log_monitor.dropwords import short_span
from log_monitor.models import MAX_DURATION_S, Severity

KINDS = ("max", "heartbeat")
_SEVERITIES = {"warning": Severity.WARNING, "critical": Severity.CRITICAL}


@dataclass(frozen=True)
class PatternRule:
    """`max`: more than `limit` matching lines within `window_s` fires; `heartbeat`: none within `window_s` fires."""

    name: str
    kind: str
    severity: Severity
    window_s: float
    limit: int
    regex: re.Pattern[bytes]


def parse_rules(text: str, origin: str) -> tuple[list[PatternRule], list[str]]:
    """Rules from a file of lines `name,kind,severity,window,limit,regex` (the regex is the rest of the line).

    `#` comments and blank lines are skipped; window is seconds or `30s`/`15m`/`1h`. Problems name `origin:line`.
    """
    rules: list[PatternRule] = []
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split(",", 5)
        if len(cells) < 6:
            problems.append(f"{origin}:{number}: expected name,kind,severity,window,limit,regex")
            continue
        name, kind, severity, window, limit, regex = (c.strip() for c in cells)
        if name.lower() == "name" and kind.lower() == "kind":
            continue  # header row
        where = f"{origin}:{number}"
        if kind not in KINDS:
            problems.append(f"{where}: kind: expected max or heartbeat, got {kind!r}")
            continue
        if severity.lower() not in _SEVERITIES:
            problems.append(f"{where}: severity: expected warning or critical, got {severity!r}")
            continue
        seconds = _seconds(window)
        if seconds is None or not 0 < seconds <= MAX_DURATION_S:
            shown = window if len(window) <= 40 else window[:40] + "..."
            problems.append(f"{where}: window: expected a duration like 30s, 5m, 1h of at most 365d, got {shown!r}")
            continue
        if not limit.isdigit():
            problems.append(f"{where}: limit: expected a whole number, got {limit!r}")
            continue
        try:
            compiled = re.compile(regex.encode())
        except re.error as exc:
            problems.append(f"{where}: regex: {exc}")
            continue
        rules.append(PatternRule(name, kind, _SEVERITIES[severity.lower()], seconds, int(limit), compiled))
    return rules, problems


def _seconds(text: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip().lower())
    if match is None:
        return None
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return float(match.group(1)) * unit


def matching_lines(regex: re.Pattern[bytes], data: bytes) -> int:
    """Lines of `data` with at least one match (several matches on one line count once)."""
    count = 0
    last_line = -2
    for match in regex.finditer(data):
        line_start = data.rfind(b"\n", 0, match.start())
        if line_start != last_line:
            count += 1
            last_line = line_start
    return count


@dataclass(frozen=True)
class Firing:
    """A rule that is firing now, and why."""

    rule: PatternRule
    detail: str


@dataclass
class PatternTracker:
    """Matches per rule over time for one file; `add` the new data, then ask `firing(now)`."""

    rules: list[PatternRule]
    started: float | None = None
    _hits: dict[str, collections.deque[tuple[float, int]]] = field(default_factory=dict)
    _last_seen: dict[str, float] = field(default_factory=dict)

    def add(self, data: bytes, now: float) -> None:
        if self.started is None:
            self.started = now
        for rule in self.rules:
            found = matching_lines(rule.regex, data)
            if found:
                self._hits.setdefault(rule.name, collections.deque()).append((now, found))
                self._last_seen[rule.name] = now

    def snapshot(self) -> dict[str, Any]:
        """Counts and last matches, JSON-ready, so a cron run or a re-executed daemon goes on from here."""
        return {
            "started": self.started,
            "hits": {name: [list(entry) for entry in hits] for name, hits in self._hits.items()},
            "last_seen": dict(self._last_seen),
        }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take over a snapshot for the rules still configured; raises KeyError, TypeError or ValueError if bad."""
        names = {rule.name for rule in self.rules}
        self.started = None if saved["started"] is None else float(saved["started"])
        self._hits = {
            str(name): collections.deque((float(at), int(count)) for at, count in hits)
            for name, hits in saved["hits"].items()
            if name in names
        }
        self._last_seen = {str(name): float(at) for name, at in saved["last_seen"].items() if name in names}

    def firing(self, now: float) -> list[Firing]:
        """The rules firing at `now`, worst first."""
        fired: list[Firing] = []
        for rule in self.rules:
            if rule.kind == "max":
                hits = self._hits.get(rule.name, collections.deque())
                while hits and hits[0][0] <= now - rule.window_s:
                    hits.popleft()
                total = sum(n for _, n in hits)
                if total > rule.limit:
                    fired.append(
                        Firing(
                            rule,
                            f"pattern {rule.name}: {total} matching lines in {short_span(rule.window_s)} "
                            f"(at most {rule.limit})",
                        )
                    )
            else:
                since = self._last_seen.get(rule.name, self.started)
                if since is not None and now - since >= rule.window_s:
                    fired.append(
                        Firing(
                            rule,
                            f"pattern {rule.name}: heartbeat line missing for {short_span(now - since)} "
                            f"(expected every {short_span(rule.window_s)})",
                        )
                    )
        return sorted(fired, key=lambda f: -int(f.rule.severity))
