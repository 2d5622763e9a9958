"""Apache/Nginx combined-format parsing and traffic statistics (rates, top sections and hosts, spike/drop); pure."""

from __future__ import annotations

import calendar
import collections
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from log_monitor.dropwords import drop_sentence

# host ident user [time] "request" status bytes ["referer" "agent"]: the common and combined formats. Groups:
# host, time, request, bytes. One findall over a whole buffer (MULTILINE) hands back every line's fields from C,
# which is what keeps parsing above 300,000 lines/s. Apache writes a `"` inside the request as `\"` and a backslash
# as `\\` (ap_escape_logitem), so the request is runs of plain bytes joined by escaped pairs, kept as written; the
# unrolled form costs nothing on lines without a backslash. nginx writes `\x22`, which needs nothing special.
_LINE = re.compile(
    rb'^(\S+) \S+ \S+ \[([^\]]+)\] "([^"\\\n]*(?:\\.[^"\\\n]*)*)" \d{3} (\d+|-)[^\n]*$',
    re.MULTILINE,
)
_MONTHS = {m.encode(): i for i, m in enumerate(calendar.month_abbr) if m}
SHORT_S = 10
MEDIUM_S = 120
# Low traffic ends when the rate is back to this share of the usual level, as a rate drop does (no flapping).
LOW_RECOVERY_SHARE = 0.5
USUAL_BASIS = "usual level of this hour on past days"
# Hosts and sections beyond this many are trimmed to the busiest half: a scan from a million addresses must not
# grow the daemon without bound. Top-N stays right for anything busy enough to matter.
KEYS_KEPT = 10_000
SNAPSHOT_TOP = 500  # hosts and sections carried over to the next run


@dataclass
class Batch:
    """What a buffer of lines held: the parsed hits grouped per second, and the lines that did not parse."""

    lines: int = 0
    malformed: int = 0
    per_second: collections.Counter[int] = field(default_factory=collections.Counter)  # epoch second -> hits
    bytes_by_host: collections.Counter[str] = field(default_factory=collections.Counter)
    hits_by_section: collections.Counter[str] = field(default_factory=collections.Counter)


def section(request: bytes) -> str:
    """`GET /a/b/c?x HTTP/1.1` -> `/a/b/`; a path with fewer levels keeps what it has (`/a/`, `/`)."""
    parts = request.split(b" ")
    path = parts[1] if len(parts) > 1 else b"/"
    path = path.split(b"?", 1)[0]
    if not path.startswith(b"/"):
        # Absolute form (`GET http://host/a/b`, sent to proxies and by scanners): the path follows the authority.
        # Authority form (`CONNECT host:443`) and `*` have no path at all.
        scheme_end = path.find(b"://")
        path = path[scheme_end + 3 :] if scheme_end > 0 else b""
        slash = path.find(b"/")
        path = path[slash:] if slash >= 0 else b"/"
    pieces = path.split(b"/")
    # "/a/b/c" splits into ["", "a", "b", "c"]: the last piece is a file (or empty), the ones before are folders.
    folders = [p for p in pieces[1:-1] if p][:2]
    return "/" + "".join(f.decode("utf-8", "replace") + "/" for f in folders)


def parse_time(text: bytes, cache: dict[bytes, int]) -> int | None:
    """`10/Oct/2000:13:55:36 -0700` -> epoch seconds; cached, since a busy log repeats each second many times."""
    found = cache.get(text)
    if found is not None:
        return found
    try:
        day, month, year = int(text[0:2]), _MONTHS[text[3:6]], int(text[7:11])
        hour, minute, second = int(text[12:14]), int(text[15:17]), int(text[18:20])
        sign = -1 if text[21:22] == b"-" else 1
        offset = sign * (int(text[22:24]) * 3600 + int(text[24:26]) * 60)
    except (KeyError, ValueError):
        return None
    value = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    if len(cache) > 4096:
        cache.clear()
    cache[text] = value
    return value


def parse(data: bytes, cache: dict[bytes, int] | None = None) -> Batch:
    """Every complete line of `data` (bytes, any encoding); lines that are not the combined format are counted."""
    cache = {} if cache is None else cache
    batch = Batch(lines=data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0))
    rows = _LINE.findall(data)
    # Counted in C (Counter over an iterable), then converted once per distinct value: a busy log repeats each
    # second and each request many times, so per-line Python work is kept to the byte sums below.
    bad_times = set()
    for text, hits in collections.Counter(row[1] for row in rows).items():
        when = parse_time(text, cache)
        if when is None:
            bad_times.add(text)
        else:
            batch.per_second[when] += hits
    if bad_times:
        rows = [row for row in rows if row[1] not in bad_times]
    # Keyed by raw bytes while counting and decoded once at the end: decoding per line halves the speed.
    host_bytes: dict[bytes, int] = {}
    sum_for = host_bytes.get
    for host, _time, _request, size in rows:
        host_bytes[host] = sum_for(host, 0) + (int(size) if size != b"-" else 0)
    for host, total in host_bytes.items():
        batch.bytes_by_host[host.decode("utf-8", "replace")] += total
    for request, hits in collections.Counter(row[2] for row in rows).items():
        batch.hits_by_section[section(request)] += hits
    batch.malformed = batch.lines - len(rows)
    return batch


class TrafficStats:
    """Rates over 10 s, 2 min and lifetime, top sections and hosts, an hourly usual level; time is an argument."""

    def __init__(self, *, baseline_tau_s: float = 1800.0) -> None:
        self._seconds: collections.OrderedDict[int, int] = collections.OrderedDict()  # epoch second -> hits
        self._kept = 0  # hits in self._seconds
        self.watching_since: float | None = None  # rates are whole once this is MEDIUM_S in the past
        self.total = 0
        self.malformed = 0
        self.first: float | None = None
        self.bytes_by_host: collections.Counter[str] = collections.Counter()
        self.hits_by_section: collections.Counter[str] = collections.Counter()
        self._tau = baseline_tau_s
        self._ewma: float | None = None  # long-run level, held still while an alert is on
        self._ewma_at: float | None = None
        self.usual_by_hour: dict[int, float] = {}  # UTC hour -> usual rate in that hour (hits/s)
        self._hour: int | None = None
        self._hour_hits = 0
        self._hour_start: float | None = None

    def add(self, batch: Batch, now: float) -> None:
        """Take a parsed batch read at `now` (epoch seconds); lines are placed at their logged second."""
        self.malformed += batch.malformed
        self.bytes_by_host.update(batch.bytes_by_host)
        self.hits_by_section.update(batch.hits_by_section)
        _trim(self.bytes_by_host)
        _trim(self.hits_by_section)
        for second, hits in sorted(batch.per_second.items()):
            self.add_hits(second, hits, now)
        if not batch.per_second:
            self.add_hits(int(now), 0, now)

    def add_hits(self, second: int, hits: int, now: float) -> None:
        """`hits` lines logged at `second`."""
        if self.first is None:
            self.first = float(second if hits else now)
        if self.watching_since is None:
            # History before the first read is not counted: rates mean something two minutes from now. Later gaps
            # between checks (cron, a restart) lose nothing, since lines are read from the saved offset and placed
            # at their logged second.
            self.watching_since = now
        self.total += hits
        self._roll_hour(second, hits)
        if second > int(now) - MEDIUM_S:
            self._seconds[second] = self._seconds.get(second, 0) + hits
            self._kept += hits
        self._prune(now)

    def _prune(self, now: float) -> None:
        # Only the last two minutes are kept, with their running total: rates cost O(1) per call, not O(window).
        horizon = int(now) - MEDIUM_S
        while self._seconds:
            oldest = next(iter(self._seconds))
            if oldest > horizon:
                return
            self._kept -= self._seconds.pop(oldest)

    def rate(self, now: float, window_s: int) -> float:
        """Hits per second over the `window_s` (at most MEDIUM_S) seconds up to `now`."""
        self._prune(now)
        if window_s >= MEDIUM_S:
            return self._kept / window_s
        start = int(now) - window_s
        total = 0
        for second in reversed(self._seconds):
            if second <= start:
                break
            if second <= int(now):
                total += self._seconds[second]
        return total / window_s

    def baseline(self, now: float) -> float | None:
        """The usual rate for this hour when a past day has shown it, else the long-run level; None while warming up."""
        hour = int(now // 3600) % 24
        if hour in self.usual_by_hour:
            return self.usual_by_hour[hour]
        return self._ewma

    def learn(self, now: float) -> None:
        """Move the long-run level towards the 2-minute rate (call when no alert is on, so a spike is not learned)."""
        current = self.rate(now, MEDIUM_S)
        if self._ewma is None or self._ewma_at is None:
            if self.first is not None and now - self.first >= MEDIUM_S:
                self._ewma, self._ewma_at = current, now
            return
        elapsed = max(0.0, now - self._ewma_at)
        weight = min(1.0, elapsed / self._tau)
        self._ewma += (current - self._ewma) * weight
        self._ewma_at = now

    def top_sections(self, n: int = 5) -> list[tuple[str, int]]:
        return self.hits_by_section.most_common(n)

    def top_hosts(self, n: int = 5) -> list[tuple[str, int]]:
        return self.bytes_by_host.most_common(n)

    def snapshot(self) -> dict[str, Any]:
        """Everything a later process needs to go on from here, JSON-ready (the busiest hosts and sections only)."""
        return {
            "seconds": list(self._seconds.items()),
            "watching_since": self.watching_since,
            "total": self.total,
            "malformed": self.malformed,
            "first": self.first,
            "hosts": self.bytes_by_host.most_common(SNAPSHOT_TOP),
            "sections": self.hits_by_section.most_common(SNAPSHOT_TOP),
            "ewma": [self._ewma, self._ewma_at],
            "usual_by_hour": {str(hour): rate for hour, rate in self.usual_by_hour.items()},
            "hour": [self._hour, self._hour_hits, self._hour_start],
        }

    @classmethod
    def restore(cls, saved: Mapping[str, Any], *, baseline_tau_s: float = 1800.0) -> TrafficStats:
        """The stats a snapshot describes; raises KeyError, TypeError or ValueError when it is not one."""
        stats = cls(baseline_tau_s=baseline_tau_s)
        for second, hits in saved["seconds"]:
            stats._seconds[int(second)] = int(hits)
            stats._kept += int(hits)
        stats.watching_since = _optional(saved["watching_since"])
        stats.total, stats.malformed = int(saved["total"]), int(saved["malformed"])
        stats.first = _optional(saved["first"])
        stats.bytes_by_host.update({str(host): int(size) for host, size in saved["hosts"]})
        stats.hits_by_section.update({str(name): int(hits) for name, hits in saved["sections"]})
        ewma, ewma_at = saved["ewma"]
        stats._ewma, stats._ewma_at = _optional(ewma), _optional(ewma_at)
        stats.usual_by_hour = {int(hour): float(rate) for hour, rate in saved["usual_by_hour"].items()}
        hour, hour_hits, hour_start = saved["hour"]
        stats._hour = None if hour is None else int(hour)
        stats._hour_hits, stats._hour_start = int(hour_hits), _optional(hour_start)
        return stats

    def _roll_hour(self, second: int, hits: int) -> None:
        hour = second // 3600
        if self._hour is None:
            self._hour, self._hour_start = hour, float(second)
        if hour > self._hour:
            # A complete hour (seen from its start) becomes that hour-of-day's usual level, blended with older days.
            seen_whole = self._hour_start is not None and self._hour_start <= self._hour * 3600 + 60
            if seen_whole and second < (self._hour + 1) * 3600 + 60:
                rate = self._hour_hits / 3600
                slot = self._hour % 24
                old = self.usual_by_hour.get(slot)
                self.usual_by_hour[slot] = rate if old is None else (old + rate) / 2
            self._hour, self._hour_hits, self._hour_start = hour, 0, float(second)
        if hour == self._hour:
            self._hour_hits += hits


def _trim(counter: collections.Counter[str]) -> None:
    if len(counter) > KEYS_KEPT:
        busiest = counter.most_common(KEYS_KEPT // 2)
        counter.clear()
        counter.update(dict(busiest))


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


class TrafficChange(enum.StrEnum):
    """What the traffic rules announce."""

    HIGH = "high"  # the 2-minute rate exceeds the baseline by the margin
    HIGH_OVER = "high_over"  # and fell back
    LOW = "low"  # below a fraction of the usual level for this hour
    LOW_OVER = "low_over"


@dataclass(frozen=True)
class TrafficEvent:
    """One change, with the figures that made it."""

    change: TrafficChange
    at: float
    rate: float  # the 2-minute rate, hits/s
    baseline: float

    def message(self, service: str) -> str:
        if self.change is TrafficChange.LOW:
            return low_traffic_words(service, self.rate, self.baseline)
        words = {
            TrafficChange.HIGH: "high traffic",
            TrafficChange.HIGH_OVER: "traffic back to normal after high traffic",
            TrafficChange.LOW: "low traffic",
            TrafficChange.LOW_OVER: "traffic back to normal after low traffic",
        }[self.change]
        return f"{service}: {words}: {self.rate:.1f} hits/s over 2 min, usual {self.baseline:.1f} hits/s"


@dataclass
class TrafficRules:
    """High traffic: 2-min rate > baseline x (1 + margin); low: < baseline x low_fraction; both announce their end."""

    high_margin: float = 1.0  # +100 %
    low_fraction: float = 0.2
    min_rate: float = 1.0  # hits/s: below this a "spike" is noise (5 hits instead of 1)
    high: bool = False
    low: bool = False

    def evaluate(self, stats: TrafficStats, now: float) -> list[TrafficEvent]:
        base = stats.baseline(now)
        rate = stats.rate(now, MEDIUM_S)
        events: list[TrafficEvent] = []
        if stats.watching_since is None or now - stats.watching_since < MEDIUM_S:
            return events  # the 2-minute rate is not yet a 2-minute rate
        if base is None:
            stats.learn(now)
            return events
        over = rate > base * (1 + self.high_margin) and rate >= self.min_rate
        # The rate-drop rule: below the fraction to start, back to half the usual level to end.
        share = max(self.low_fraction, LOW_RECOVERY_SHARE) if self.low else self.low_fraction
        under = rate < base * share and base >= self.min_rate
        if over != self.high:
            self.high = over
            events.append(TrafficEvent(TrafficChange.HIGH if over else TrafficChange.HIGH_OVER, now, rate, base))
        if under != self.low:
            self.low = under
            events.append(TrafficEvent(TrafficChange.LOW if under else TrafficChange.LOW_OVER, now, rate, base))
        if not (self.high or self.low):
            stats.learn(now)
        return events


def low_traffic_words(service: str, rate: float, baseline: float) -> str:
    """Low traffic in a rate drop's words: "nginx: 24 events in the last 2m, normally 1,200 (usual level ...), 2.0%"."""
    return drop_sentence(service, rate * MEDIUM_S, baseline * MEDIUM_S, MEDIUM_S, USUAL_BASIS)


def feed(stats: TrafficStats, rules: TrafficRules, seconds: Iterable[tuple[int, int]]) -> list[TrafficEvent]:
    """Drive stats and rules through (second, hits) pairs, evaluating once per second; for tests and the simulator."""
    events: list[TrafficEvent] = []
    for second, hits in seconds:
        stats.add_hits(second, hits, float(second))
        events.extend(rules.evaluate(stats, float(second)))
    return events
