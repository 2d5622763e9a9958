"""`python -m benchmarks.rhythm`: a fleet of four kinds of sources judged at a one-minute interval, both silence modes.

Busy and steady sources (5 events/s), daily rhythms with silent nights, office hours on weekdays only, and sparse
bursty ones (about 3 events an hour) get a week of synthetic history written straight into the state's hourly
counts, then are judged pass by pass by the real monitor core (LogCounter, judge, policy, ledger, SQLite store)
reading them through an in-process source that behaves as the incremental indexer reads do (events counted once,
INDEXING_DELAY late). Half the agents fall silent at a random moment of the first days and never come back.
The table: recall, false alerts, median and 95th percentile detection latency, per kind and mode; and, so that a
false alert standing when the silence began is not read as a fast detection, how many silences began under one
and the median latency counted from the last event sent. tests/test_rhythm_http.py checks the in-process source
against the bundled simulator read over HTTP.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from log_monitor import rhythm
from log_monitor.app import policy_settings
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.ledger import hour_before, hour_index
from log_monitor.models import Notification, NotificationKind, Observation, Target, TargetKind
from log_monitor.monitor import LogCounter
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.policy import PolicySettings
from log_monitor.state import StateStore

KINDS = ("busy", "rhythm", "office", "sparse")
BIN_S = 30.0  # events are made in 30-second bins: the passes' spans (a minute, 30 s late) are whole bins
DELAY_S = 30.0  # INDEXING_DELAY's default
INTERVAL_S = 60.0  # the check interval; each target's threshold stays DEFAULT_CHECK_INTERVAL's default, 15 minutes
THRESHOLD_S = 900.0
START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # a Wednesday: the judged week holds a weekend and two Mondays


@dataclass
class Stream:
    """One agent's events: `rate(hour index)` events an hour (bursts for the sparse kind), silent from `silent_at`."""

    agent_id: str
    kind: str
    rate: Callable[[int], float]
    rng: random.Random
    silent_at: datetime | None = None
    first_last_event: datetime | None = None  # its last event before the run
    last_sent: float = 0.0  # its last event's second so far: after the silence began, the silence's true start
    bins: dict[int, tuple[int, float]] = field(default_factory=dict)  # bin index -> (events, last event's second)
    floor: int = 0  # bins below this were read for good and let go

    def bin(self, index: int) -> tuple[int, float]:
        """The events of 30-second bin `index`, made once."""
        found = self.bins.get(index)
        if found is None:
            start = index * BIN_S
            silent = self.silent_at is not None and start >= self.silent_at.timestamp()
            count = 0 if silent else self._count(self.rate(math.floor(start / 3600)) * BIN_S / 3600)
            last = start + BIN_S * self.rng.random() ** (1 / count) if count else 0.0
            found = self.bins[index] = (count, last)
            self.last_sent = max(self.last_sent, last)
        return found

    def _count(self, mean: float) -> int:
        if self.kind == "sparse":  # bursts of 1-6 events at the hour's rate of bursts
            return self.rng.randint(1, 6) if mean > 0 and self.rng.random() < mean / 3.5 else 0
        return poisson(self.rng, mean)

    def hour_total(self, hour: int) -> int:
        """One history hour's events, drawn as the bins would make them."""
        mean = self.rate(hour)
        if self.kind == "sparse":
            return sum(self.rng.randint(1, 6) for _ in range(poisson(self.rng, mean / 3.5)))
        return poisson(self.rng, mean)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def rate_of(kind: str, rng: random.Random) -> Callable[[int], float]:
    """Events an hour at each UTC hour index, for a source of `kind` with its own hours."""
    if kind == "busy":
        return lambda hour: 18_000.0  # 5 a second
    if kind == "rhythm":
        begin, end = rng.randint(6, 8), rng.randint(18, 21)
        return lambda hour: 1200.0 if begin <= hour % 24 < end else 0.0
    if kind == "office":
        begin, end = rng.randint(7, 9), rng.randint(16, 18)
        return lambda hour: 600.0 if begin <= hour % 24 < end and (hour // 24 + 3) % 7 < 5 else 0.0
    return lambda hour: 3.5  # sparse: one burst of 1-6 events an hour on average


class StreamSource:
    """The streams read as the incremental indexer source reads: from each target's mark to now - delay."""

    name = "indexer"
    backend = "indexer"
    counts_events = True

    def __init__(self, streams: dict[str, Stream], store: StateStore) -> None:
        self._streams = streams
        self._store = store

    def handles(self, target: Target) -> bool:
        return target.kind is TargetKind.AGENT

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        states = self._store.kept_states()
        settled = now - timedelta(seconds=DELAY_S)
        found: dict[str, Observation] = {}
        for target in targets:
            stream = self._streams[target.agent_id or ""]
            previous = states.get(target.key)
            mark = previous.read_until if previous is not None and previous.read_until is not None else settled
            first, last = hour_index(mark), hour_before(settled) if settled > mark else hour_index(mark)
            counts = [0] * (last - first + 1)
            latest = previous.last_event if previous is not None else stream.first_last_event
            read_from = int(mark.timestamp() // BIN_S)
            for index in range(stream.floor or read_from, read_from):
                stream.bins.pop(index, None)
            stream.floor = max(stream.floor, read_from)
            for index in range(read_from, int(now.timestamp() // BIN_S)):
                count, second = stream.bin(index)
                if index * BIN_S < settled.timestamp():
                    counts[math.floor(index * BIN_S / 3600) - first] += count
                if count:
                    latest = datetime.fromtimestamp(second, UTC)
            found[target.key] = Observation(
                target.key, now, last_event=latest, read_from=mark, read_until=settled, hour_from=first,
                hour_counts=counts,
            )  # fmt: skip
        return found


@dataclass
class Tally:
    """One agent's outcome: when it fell silent, its alerts before that, when a silence was first alerted."""

    kind: str
    silent_at: datetime | None
    false_alerts: int = 0
    alerting: bool = False
    detected_at: datetime | None = None
    raised_at: datetime | None = None  # when the alert standing now was raised
    standing: bool = False  # the silence began under an alert raised before it (a false one, standing still)
    last_sent: datetime | None = None  # the last event before the silence: the start that any rule can see


def fleet(agents: int, days: float, seed: int, kinds: Sequence[str] = KINDS) -> dict[str, Stream]:
    """`agents` streams, the `kinds` in turn; every other one falls silent at a random moment of the run."""
    rng = random.Random(seed)
    streams = {}
    latest_silence = max(3 * 3600.0, days * 86400 * 0.6)
    for number in range(1, agents + 1):
        kind = kinds[(number - 1) % len(kinds)]
        agent_id = f"{number:03d}"
        own = random.Random(rng.random())
        silent_at = None
        if (number - 1) // len(kinds) % 2:
            silent_at = START + timedelta(seconds=own.uniform(2 * 3600.0, latest_silence))
        stream = Stream(agent_id, kind, rate_of(kind, own), own, silent_at)
        stream.first_last_event = _last_before(stream, START)
        stream.last_sent = stream.first_last_event.timestamp()
        streams[agent_id] = stream
    return streams


def _last_before(stream: Stream, moment: datetime) -> datetime:
    hour = hour_index(moment) - 1
    while stream.rate(hour) <= 0:
        hour -= 1
    gap = stream.rng.expovariate(1 / 1200) if stream.kind == "sparse" else stream.rng.uniform(0, 5)
    return min(moment, datetime.fromtimestamp((hour + 1) * 3600, UTC)) - timedelta(seconds=gap)


def history(streams: dict[str, Stream]) -> list[tuple[str, int, array[int]]]:
    """A week of hourly counts before START for each stream: (target key, day index, its 24 counts)."""
    first_day = hour_index(START) // 24 - 7
    hours: list[tuple[str, int, array[int]]] = []
    for stream in streams.values():
        for day in range(first_day, first_day + 7):
            counts = array("I", (stream.hour_total(day * 24 + slot) for slot in range(24)))
            hours.append((Target.agent_key(stream.agent_id), day, counts))
    return hours


@dataclass(frozen=True)
class Setup:
    """What a run may change from the defaults: the kinds, the fixed threshold, RHYTHM_WARN_EVENTS."""

    kinds: tuple[str, ...] = KINDS
    threshold_s: float = THRESHOLD_S
    warn_events: float | None = None  # None: RHYTHM_WARN_EVENTS's default


def run(mode: str, agents: int, days: float, seed: int, workdir: Path, setup: Setup = Setup()) -> list[Tally]:
    """The fleet judged every INTERVAL_S for `days` in SILENCE_MODE `mode`; each agent's tally."""
    streams = fleet(agents, days, seed, setup.kinds)
    return judge(mode, streams, history(streams), days, workdir, setup)


def judge(
    mode: str,
    streams: dict[str, Stream],
    hours: list[tuple[str, int, array[int]]],
    days: float,
    workdir: Path,
    setup: Setup = Setup(),
    sent: list[Notification] | None = None,
) -> list[Tally]:
    """`streams` with the history `hours` judged from START every INTERVAL_S for `days`; `sent` gets every
    notification."""
    clock = FakeClock(START)
    store = StateStore(workdir / f"{mode}.sqlite3")
    store.commit([], [], hours)  # what a week of reads would have closed
    targets = [
        Target.agent(s.agent_id, f"{s.kind}-{s.agent_id}", INTERVAL_S, setup.threshold_s) for s in streams.values()
    ]
    chosen = policy(mode)
    if setup.warn_events is not None:
        chosen = replace(chosen, rhythm_warn_events=setup.warn_events)
    monitor = LogCounter(
        targets=targets, store=store, clock=clock, policy=chosen,
        dispatcher=Dispatcher(store, [ConsoleNotifier(io.StringIO())], clock),
        sources=[StreamSource(streams, store)], backends=["indexer"],
        pipeline_ratio=1.0,  # one agent's silence judged as itself: a night-quiet half would read as a pipeline fault
    )  # fmt: skip
    tallies = {Target.agent_key(s.agent_id): Tally(s.kind, s.silent_at) for s in streams.values()}
    end = START + timedelta(days=days)
    try:
        while clock.now() < end:
            result = monitor.check(targets, keep_rows=False)
            _count(tallies, result.notifications, clock.now())
            if sent is not None:
                sent.extend(result.notifications)
            clock.advance(INTERVAL_S)
    finally:
        store.close()
    for stream in streams.values():
        tally = tallies[Target.agent_key(stream.agent_id)]
        tally.last_sent = datetime.fromtimestamp(stream.last_sent, UTC)
    return list(tallies.values())


def policy(mode: str) -> PolicySettings:
    """The policy of a configuration that sets nothing but SILENCE_MODE."""
    return replace(
        policy_settings(Settings(env_file=Path("x.env"), base_dir=Path(".")), host="bench"), silence_mode=mode
    )


def _count(tallies: dict[str, Tally], notes: Sequence[object], now: datetime) -> None:
    for note in notes:
        tally = tallies.get(getattr(note, "target_key", ""))
        if tally is None:
            continue
        kind = getattr(note, "kind", None)
        if kind is NotificationKind.RECOVERY:
            tally.alerting = False
        elif kind in (NotificationKind.ALERT, NotificationKind.ESCALATION, NotificationKind.REMINDER):
            tally.alerting = True
            if kind is NotificationKind.ALERT:
                tally.raised_at = now
                if tally.silent_at is None or now < tally.silent_at:
                    tally.false_alerts += 1
    for tally in tallies.values():
        if tally.alerting and tally.detected_at is None and tally.silent_at is not None and now >= tally.silent_at:
            tally.detected_at = now
            tally.standing = tally.raised_at is not None and tally.raised_at < tally.silent_at


@dataclass(frozen=True)
class Row:
    """One kind's figures in one mode."""

    kind: str
    mode: str
    silenced: int
    detected: int
    false_alerts: int
    median_min: float | None
    p95_min: float | None
    standing: int = 0  # silences that began while a false alert raised before them was standing
    from_last_min: float | None = None  # median latency counted from the last event the source sent

    @property
    def recall(self) -> float:
        return self.detected / self.silenced if self.silenced else 1.0


def rows(mode: str, tallies: list[Tally], kinds: Sequence[str] = KINDS) -> list[Row]:
    found = []
    for kind in kinds:
        mine = [t for t in tallies if t.kind == kind]
        caught = [t for t in mine if t.detected_at is not None and t.silent_at is not None]
        late = sorted(_minutes_between(t.silent_at, t.detected_at) for t in caught)
        # From the last event the source sent to the alert that stands for its silence (raised before the silence
        # began, for one that fell silent under a standing alert): the latency of a rule that only sees the gap.
        from_last = [_minutes_between(t.last_sent, t.raised_at or t.detected_at) for t in caught]
        silenced = sum(1 for t in mine if t.silent_at is not None)
        found.append(
            Row(
                kind, mode, silenced, len(late), sum(t.false_alerts for t in mine), _median(late), _p95(late),
                sum(1 for t in caught if t.standing), _median(from_last),
            )
        )  # fmt: skip
    return found


def _minutes_between(start: datetime | None, end: datetime | None) -> float:
    assert start is not None and end is not None
    return (end - start).total_seconds() / 60


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _p95(ordered: Sequence[float]) -> float | None:
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else None


def table(found: list[Row], kinds: Sequence[str] = KINDS) -> str:
    """The markdown table docs/detection.md shows."""
    lines = [
        "| kind | mode | recall | false alerts | median latency | p95 latency | fell silent under a false alert "
        "| median latency from its last event |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(found, key=lambda r: (kinds.index(r.kind), r.mode != "rhythm")):
        lines.append(
            f"| {row.kind} | {row.mode} | {row.detected}/{row.silenced} ({row.recall:.0%}) | {row.false_alerts:,} | "
            f"{_minutes(row.median_min)} | {_minutes(row.p95_min)} | {row.standing} | {_minutes(row.from_last_min)} |"
        )
    return "\n".join(lines)


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rhythm", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--mode", choices=("rhythm", "fixed", "both"), default="both")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, of " + ", ".join(KINDS))
    parser.add_argument("--threshold", type=float, default=THRESHOLD_S, help="each target's threshold, seconds")
    parser.add_argument("--warn-events", type=float, help="RHYTHM_WARN_EVENTS (default: its default)")
    parser.add_argument(
        "--split-from-days", type=int, default=rhythm.SPLIT_FROM_DAYS,
        help="days of history before weekdays and weekends are expected apart (14: the issue's two weeks)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    modes = ("rhythm", "fixed") if args.mode == "both" else (args.mode,)
    kinds = tuple(args.kinds.split(","))
    setup = Setup(kinds, args.threshold, args.warn_events)
    rhythm.SPLIT_FROM_DAYS = args.split_from_days  # read when a profile is made, wherever the store makes it
    found: list[Row] = []
    with tempfile.TemporaryDirectory() as workdir:
        for mode in modes:
            found += rows(mode, run(mode, args.agents, args.days, args.seed, Path(workdir), setup), kinds)
    print(
        f"{args.agents} agents, {args.days:g} days, one pass a minute, threshold {args.threshold:g} s, "
        f"RHYTHM_WARN_EVENTS {args.warn_events or 'default'}, split from {args.split_from_days} days, seed {args.seed}"
    )
    print(table(found, kinds))


if __name__ == "__main__":
    main()
