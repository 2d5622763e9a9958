"""`python -m benchmarks.rhythm`: a fleet of four kinds of sources judged at a one-minute interval, both silence modes.

Busy and steady sources (5 events/s), daily rhythms with silent nights, office hours on weekdays only, and sparse
bursty ones (about 3 events an hour) get a week of synthetic history written straight into the state's hourly
counts, then are judged pass by pass by the real monitor core (LogCounter, judge, policy, ledger, SQLite store)
reading them through an in-process source that behaves as the incremental indexer reads do (events counted once,
INDEXING_DELAY late). Half the agents fall silent at a random moment of the first days and never come back.
The table: recall, false alerts, median and 95th percentile detection latency, per kind and mode.
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

from log_monitor.app import policy_settings
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.ledger import hour_before, hour_index
from log_monitor.models import NotificationKind, Observation, Target, TargetKind
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


def fleet(agents: int, days: float, seed: int) -> dict[str, Stream]:
    """`agents` streams, the four kinds in turn; every other one falls silent at a random moment of the run."""
    rng = random.Random(seed)
    streams = {}
    latest_silence = max(3 * 3600.0, days * 86400 * 0.6)
    for number in range(1, agents + 1):
        kind = KINDS[(number - 1) % len(KINDS)]
        agent_id = f"{number:03d}"
        own = random.Random(rng.random())
        silent_at = None
        if (number - 1) // len(KINDS) % 2:
            silent_at = START + timedelta(seconds=own.uniform(2 * 3600.0, latest_silence))
        stream = Stream(agent_id, kind, rate_of(kind, own), own, silent_at)
        stream.first_last_event = _last_before(stream, START)
        streams[agent_id] = stream
    return streams


def _last_before(stream: Stream, moment: datetime) -> datetime:
    hour = hour_index(moment) - 1
    while stream.rate(hour) <= 0:
        hour -= 1
    gap = stream.rng.expovariate(1 / 1200) if stream.kind == "sparse" else stream.rng.uniform(0, 5)
    return min(moment, datetime.fromtimestamp((hour + 1) * 3600, UTC)) - timedelta(seconds=gap)


def write_history(store: StateStore, streams: dict[str, Stream]) -> None:
    """A week of hourly counts before START straight into the state's history (what a week of reads would close)."""
    first_day = hour_index(START) // 24 - 7
    hours: list[tuple[str, int, array[int]]] = []
    for stream in streams.values():
        for day in range(first_day, first_day + 7):
            counts = array("I", (stream.hour_total(day * 24 + slot) for slot in range(24)))
            hours.append((Target.agent_key(stream.agent_id), day, counts))
    store.commit([], [], hours)


def run(mode: str, agents: int, days: float, seed: int, workdir: Path) -> list[Tally]:
    """The fleet judged every INTERVAL_S for `days` in SILENCE_MODE `mode`; each agent's tally."""
    streams = fleet(agents, days, seed)
    clock = FakeClock(START)
    store = StateStore(workdir / f"{mode}.sqlite3")
    write_history(store, streams)
    targets = [Target.agent(s.agent_id, f"{s.kind}-{s.agent_id}", INTERVAL_S, THRESHOLD_S) for s in streams.values()]
    monitor = LogCounter(
        targets=targets, store=store, clock=clock, policy=policy(mode),
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
            clock.advance(INTERVAL_S)
    finally:
        store.close()
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
            if kind is NotificationKind.ALERT and (tally.silent_at is None or now < tally.silent_at):
                tally.false_alerts += 1
    for tally in tallies.values():
        if tally.alerting and tally.detected_at is None and tally.silent_at is not None and now >= tally.silent_at:
            tally.detected_at = now


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

    @property
    def recall(self) -> float:
        return self.detected / self.silenced if self.silenced else 1.0


def rows(mode: str, tallies: list[Tally]) -> list[Row]:
    found = []
    for kind in KINDS:
        mine = [t for t in tallies if t.kind == kind]
        late = sorted(
            (t.detected_at - t.silent_at).total_seconds() / 60
            for t in mine
            if t.detected_at is not None and t.silent_at is not None
        )
        silenced = sum(1 for t in mine if t.silent_at is not None)
        median = statistics.median(late) if late else None
        p95 = late[min(len(late) - 1, math.ceil(0.95 * len(late)) - 1)] if late else None
        found.append(Row(kind, mode, silenced, len(late), sum(t.false_alerts for t in mine), median, p95))
    return found


def table(found: list[Row]) -> str:
    """The markdown table docs/detection.md shows."""
    lines = [
        "| kind | mode | recall | false alerts | median latency | p95 latency |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(found, key=lambda r: (KINDS.index(r.kind), r.mode != "rhythm")):
        lines.append(
            f"| {row.kind} | {row.mode} | {row.detected}/{row.silenced} ({row.recall:.0%}) | {row.false_alerts} | "
            f"{_minutes(row.median_min)} | {_minutes(row.p95_min)} |"
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
    args = parser.parse_args(argv)
    modes = ("rhythm", "fixed") if args.mode == "both" else (args.mode,)
    found: list[Row] = []
    with tempfile.TemporaryDirectory() as workdir:
        for mode in modes:
            found += rows(mode, run(mode, args.agents, args.days, args.seed, Path(workdir)))
    print(f"{args.agents} agents, {args.days:g} days, one pass a minute, threshold 15 min, seed {args.seed}")
    print(table(found))


if __name__ == "__main__":
    main()
