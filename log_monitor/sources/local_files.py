"""Log files on the monitor's own host: silence by growth, rotation-aware, offsets kept in the state DB."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import BinaryIO

from log_monitor.accesslog import TrafficRules, TrafficStats, low_traffic_words, parse
from log_monitor.linecount import count_newlines
from log_monitor.models import Condition, Observation, Target, TargetKind
from log_monitor.patterns import PatternRule, PatternTracker, parse_rules
from log_monitor.state import StateStore
from log_monitor.state.positions import FilePosition

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# The file's first bytes are its fingerprint: a log truncated or re-created in place (same inode) that has grown
# past the old offset by the next check starts with other lines (other timestamps), so it is read from its start.
HEAD_BYTES = 256
MAX_CARRY = 8 << 20  # a "line" longer than this without a newline is taken as it is, so memory stays bounded
MISSING = "file missing"
# logrotate renames then creates: a file that was there at the last check and is gone now is looked for once more
# after this pause, so a check that lands in that instant does not report it missing.
MISSING_RECHECK_S = 1.0


@dataclass
class FileWatch:
    """What the source remembers of one file between checks: rates, traffic, patterns; saved beside its offset."""

    checked_at: float | None = None
    events_per_s: float | None = None  # new lines / seconds since the previous check
    traffic: TrafficStats | None = None
    rules: TrafficRules | None = None
    patterns: PatternTracker | None = None
    cache: dict[bytes, int] = field(default_factory=dict)  # access-log timestamps already parsed

    def snapshot(self) -> str:
        """JSON for the state DB, so a cron run or the re-executed daemon keeps its windows and hourly baseline."""
        saved: dict[str, object] = {"checked_at": self.checked_at, "events_per_s": self.events_per_s}
        if self.traffic is not None and self.rules is not None:
            saved["traffic"] = self.traffic.snapshot()
            saved["traffic_alerts"] = [self.rules.high, self.rules.low]
        if self.patterns is not None:
            saved["patterns"] = self.patterns.snapshot()
        return json.dumps(saved, separators=(",", ":"))

    def restore(self, text: str) -> None:
        """Take over a snapshot; raises ValueError, KeyError or TypeError when it is not one."""
        saved = json.loads(text)
        checked_at, events_per_s = saved["checked_at"], saved["events_per_s"]
        self.checked_at = None if checked_at is None else float(checked_at)
        self.events_per_s = None if events_per_s is None else float(events_per_s)
        if self.traffic is not None and self.rules is not None and "traffic" in saved:
            self.traffic = TrafficStats.restore(saved["traffic"])
            self.rules.high, self.rules.low = (bool(flag) for flag in saved["traffic_alerts"])
        if self.patterns is not None and "patterns" in saved:
            self.patterns.restore(saved["patterns"])


class LocalFilesSource:
    """Counts the lines appended since the last check; a rotated or truncated file is read from its start.

    With a StateStore the offsets survive restarts and cron runs; without one (the `top` view) they live in
    memory, so a viewer never moves the daemon's offsets.
    """

    name = "files"
    backend = "files"  # never fails as a whole: a missing or unreadable file is its own problem
    counts_events = True

    def __init__(self, store: StateStore | None, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = store
        self._sleep = sleep
        self._memory: dict[str, FilePosition] = {}
        self.watches: dict[str, FileWatch] = {}

    def handles(self, target: Target) -> bool:
        return target.kind is TargetKind.LOCAL_FILE and target.path is not None

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        if not targets:
            return {}
        known = self._store.file_positions() if self._store is not None else self._memory
        observations: dict[str, Observation] = {}
        updated: dict[str, FilePosition] = {}

        def check(target: Target) -> bool:
            """Observe one file; True when it has just vanished (it was there at the last check)."""
            assert target.path is not None
            before = known.get(target.path)
            watch = self.watches.get(target.path) or self._new_watch(target, before)
            self.watches[target.path] = watch
            observation, position = _observe_file(target, before, now, watch)
            observations[target.key] = observation
            if position is not None:
                updated[target.path] = replace(position, analysis=watch.snapshot())
            return observation.problem == MISSING and before is not None and before.missing_since is None

        vanished = [target for target in targets if check(target)]
        if vanished:
            self._sleep(MISSING_RECHECK_S)  # once per pass, for all of them, and only when one has just gone
            for target in vanished:
                check(target)
        if self._store is not None:
            self._store.save_file_positions(updated.values())
        else:
            self._memory.update(updated)
        return observations

    def _new_watch(self, target: Target, before: FilePosition | None) -> FileWatch:
        watch = FileWatch()
        if target.log_format == "combined":
            watch.traffic = TrafficStats()
            watch.rules = TrafficRules(high_margin=target.traffic_high_margin, low_fraction=target.traffic_low_fraction)
        if target.patterns_file:
            watch.patterns = PatternTracker(load_rules(target.patterns_file))
        if before is not None and before.analysis:
            try:
                watch.restore(before.analysis)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Losing a window is better than refusing to watch: the rules relearn within minutes.
                log.warning("%s: saved traffic and pattern state unreadable (%s); starting afresh", target.path, exc)
                return self._new_watch(target, None)
        return watch


def load_rules(path: str) -> list[PatternRule]:
    """A patterns file's rules; problems are logged (check-config reports them) and the good rules kept."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        log.warning("pattern rules %s unreadable: %s", path, exc.strerror or exc)
        return []
    rules, problems = parse_rules(text, path)
    for problem in problems:
        log.warning("%s", problem)
    return rules


def _observe_file(
    target: Target, before: FilePosition | None, now: datetime, watch: FileWatch
) -> tuple[Observation, FilePosition | None]:
    assert target.path is not None
    last = before.last_growth if before else None
    consume = _consumer(watch, now) if (watch.traffic or watch.patterns) else None
    try:
        with open(target.path, "rb") as handle:
            # From the open file, not the path: a rotation between the two must not pair one file's inode and size
            # with the other's content.
            stat = os.fstat(handle.fileno())
            head = os.pread(handle.fileno(), HEAD_BYTES, 0)
            if before is None:
                # First sight: the file's history is not news; its mtime tells when it last grew.
                grown = datetime.fromtimestamp(stat.st_mtime, UTC) if stat.st_size else None
                position = FilePosition(target.path, stat.st_ino, stat.st_size, grown, 0, head=head)
                _rate(watch, now, 0)
                if consume is not None:
                    consume(b"")  # traffic and pattern windows start now: every line from here on is read
                first = Observation(target.key, now, last_event=grown, events_in_window=0)
                return _finish(target, watch, now, first), position
            start = before.offset
            # A new inode (rename rotation, re-creation), a file that was gone, a shorter file (copytruncate) or
            # one that starts with other bytes starts over at 0.
            rotated = stat.st_ino != before.inode
            replaced = before.missing_since is not None or not head.startswith(before.head)
            if rotated or replaced or stat.st_size < before.offset or _rewritten(stat, before):
                start = 0
            # Lines written to the old file after the last check are in the renamed file (access.log.1): found by
            # its inode and read to its end, so a rotation loses none. Compressed siblings are never opened.
            tail, tail_grown = _rotated_tail(target.path, before, consume) if rotated else (0, None)
            handle.seek(start)
            lines, offset = _read(handle, start, consume)
            lines += tail
            if tail_grown is not None:
                last = max(tail_grown, last) if last else tail_grown
    except FileNotFoundError:
        # Missing is its own alert (MISSING), reported once per episode by the policy, not a silence. The last
        # file's inode and offset are kept, so a rotated-away file's last lines can still be read when the path
        # is back; whatever appears at the path then is read from its start.
        if before is not None:
            gone = replace(before, missing_since=before.missing_since or now)
        else:
            gone = FilePosition(target.path, -1, 0, None, missing_since=now)
        detail = f"{target.label}: {target.path} is missing"
        observation = Observation(target.key, now, last_event=last, events_in_window=0, problem=MISSING, detail=detail)
        return observation, gone
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        detail = f"{target.label}: {target.path} is unreadable: {reason}"
        observation = Observation(target.key, now, last_event=last, events_in_window=0, problem=reason, detail=detail)
        return observation, before
    if offset > start or (rotated and offset > 0):
        grown = datetime.fromtimestamp(stat.st_mtime, UTC)
        last = max(grown, last) if last else grown
    position = FilePosition(target.path, stat.st_ino, offset, last, before.lines + lines, head=head)
    _rate(watch, now, lines)
    return _finish(target, watch, now, Observation(target.key, now, last_event=last, events_in_window=lines)), position


def _rotated_tail(
    path: str, before: FilePosition, consume: Callable[[bytes], None] | None
) -> tuple[int, datetime | None]:
    """Lines appended after `before.offset` to the file this path was, now under another name in the same folder."""
    if before.inode <= 0:
        return 0, None
    try:
        with os.scandir(os.path.dirname(path) or ".") as entries:
            found = [e.path for e in entries if e.inode() == before.inode and e.path != path]
        for candidate in found:
            with open(candidate, "rb") as old:
                stat = os.fstat(old.fileno())
                if stat.st_ino != before.inode or stat.st_size <= before.offset:
                    continue
                old.seek(before.offset)
                lines, _ = _read(old, before.offset, consume)
                return lines, datetime.fromtimestamp(stat.st_mtime, UTC)
    except OSError as exc:
        log.debug("%s: rotated file not read: %s", path, exc)
    return 0, None


def _rewritten(stat: os.stat_result, before: FilePosition) -> bool:
    """Same inode, no growth, yet modified since the last read: rewritten in place (or an inode reused at once)."""
    if before.last_growth is None or stat.st_size > before.offset:
        return False
    return datetime.fromtimestamp(stat.st_mtime, UTC) > before.last_growth


def _rate(watch: FileWatch, now: datetime, lines: int) -> None:
    moment = now.timestamp()
    if watch.checked_at is not None and moment > watch.checked_at:
        watch.events_per_s = lines / (moment - watch.checked_at)
    watch.checked_at = moment


def _consumer(watch: FileWatch, now: datetime) -> Callable[[bytes], None]:
    moment = now.timestamp()

    def consume(data: bytes) -> None:
        if watch.traffic is not None:
            watch.traffic.add(parse(data, watch.cache), moment)
        if watch.patterns is not None:
            watch.patterns.add(data, moment)

    return consume


def _finish(target: Target, watch: FileWatch, now: datetime, observation: Observation) -> Observation:
    """Traffic and pattern findings added to an observation of a readable file; the service named in each."""
    moment = now.timestamp()
    if watch.traffic is not None and watch.rules is not None:
        for event in watch.rules.evaluate(watch.traffic, moment):
            log.info("%s", event.message(target.label))
        if watch.rules.high or watch.rules.low:
            rate = watch.traffic.rate(moment, 120)
            base = watch.traffic.baseline(moment) or 0.0
            if watch.rules.high:
                detail = f"{target.label}: high traffic: {rate:.1f} hits/s over 2 min, usual {base:.1f} hits/s"
            else:
                detail = low_traffic_words(target.label, rate, base)
            return replace(
                observation,
                finding=Condition.HIGH_TRAFFIC if watch.rules.high else Condition.LOW_TRAFFIC,
                detail=detail,
            )
    if watch.patterns is not None:
        fired = watch.patterns.firing(moment)
        if fired:
            return replace(
                observation,
                finding=Condition.PATTERN,
                finding_severity=fired[0].rule.severity,
                detail="; ".join(f"{target.label}: {f.detail}" for f in fired),
            )
    return observation


def _read(handle: BinaryIO, start: int, consume: Callable[[bytes], None] | None) -> tuple[int, int]:
    """Lines from `start` to the end and the offset reached; with `consume`, whole lines are handed over.

    Counting only: newlines in any bytes and any line length, up to the size the file had when counting began.
    Consuming: a partial last line (still being written) is left for the next check.
    """
    if consume is None:
        return count_newlines(handle.fileno(), start, os.fstat(handle.fileno()).st_size)
    lines = 0
    offset = start
    carry = b""
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            return lines, offset - len(carry)
        offset += len(chunk)
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > MAX_CARRY:
            cut = len(data)
        if cut:
            consume(data[:cut])
            lines += data.count(b"\n", 0, cut)
        carry = data[cut:]
