"""`make bench`: passes over large simulated fleets against the naive per-agent design, latency, costs per check."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from benchmarks.accesslog import parse_rate
from log_monitor.app import build
from log_monitor.clock import FakeClock
from log_monitor.daemon import Daemon
from log_monitor.demo import simulator_settings
from log_monitor.models import Condition, Notification, NotificationKind, Severity, Target, TargetKind
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.scheduler import Scheduler
from log_monitor.sources.local_files import LocalFilesSource
from log_monitor.state import StateStore
from log_monitor.state.codec import note_to_json
from log_monitor.state.outbox import OUTBOX_DELIVERED_KEPT
from log_monitor.wazuh.indexer import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:  # the simulator runs in a child process: the measured one, as the daemon, never imports it
    from log_monitor.simulator.fleet import Fleet

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INTERVAL = 900.0
LOCATIONS = ("/var/log/syslog", "/var/log/auth.log", "/var/log/nginx/access.log")
NAIVE_SAMPLE = 300  # the naive design is timed on this many agents and scaled linearly
# Steady passes after the first, a minute apart; the least CPU is the pass's (as timeit takes the least): on a
# shared 2-CPU machine a pass's CPU time grows by 15% and more with what the machine's neighbours do.
STEADY_PASSES = 3
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class PassFigures:
    agents: int
    pairs: int
    targets: int  # agents, or (agent, location) pairs with per-location targets
    wall_s: float  # the steady pass (the states and the agent listing known): the least CPU of STEADY_PASSES
    cpu_s: float
    rss_mb: float
    indexer_requests: int
    api_requests: int
    first_wall_s: float  # the first pass on a fresh state DB: every state new, every agent listed
    first_cpu_s: float
    first_api_requests: int
    states_written: int  # target_state rows the steady pass wrote
    naive_wall_s: float
    naive_requests: int
    naive_note: str
    baselines: bool = True  # the rate-drop baseline kept (hourly counts from the reads)
    steady_cpu_s: tuple[float, ...] = ()  # every steady pass's CPU, a minute apart: cpu_s is the least
    # What a pass costs the indexer: documents its searches visit (each page runs its query again), against the
    # documents of the span a steady pass must read (since the previous pass, plus INDEXING_DELAY); the first
    # pass's against LOOKBACK's; and the bytes of the answers per agent.
    indexer_docs_visited: int = 0
    span_docs: int = 0
    indexer_docs_ratio: float = 0.0
    first_pass_docs: int = 0
    lookback_docs: int = 0
    answer_bytes_per_agent: float = 0.0


def _fleet(agents: int, clock: FakeClock) -> Fleet:
    from log_monitor.simulator.fleet import Fleet

    fleet = Fleet(now=clock.now)
    width = max(3, len(str(agents)))
    for number in range(1, agents + 1):
        agent_id = f"{number:0{width}d}"
        fleet.add_agent(agent_id, f"agent-{agent_id}", locations=LOCATIONS, started=NOW - timedelta(days=8))
        if number % 100 == 0:  # 1% silent
            fleet.silence(agent_id, since=NOW - timedelta(hours=1))
    return fleet


def _serve(agents: int, pipe: Connection) -> None:
    """The simulator in its own process, so the monitor's CPU and memory are measured alone.

    Its clock moves with the monitor's (`("advance", seconds)`): between two passes the busy agents' last
    events move on, as they do in a real fleet, so the steady pass's states written are the real ones.
    """
    from log_monitor.simulator.server import SimulatorServer

    clock = FakeClock(NOW)
    fleet = _fleet(agents, clock)
    with SimulatorServer(fleet, clock=clock, max_rpm=1_000_000) as sim:
        pipe.send((sim.api_url, sim.indexer_url, [a.id for a in fleet.agents() if a.id != "000"]))
        ids = fleet.agent_ids()
        while (asked := pipe.recv()) != "stop":
            if isinstance(asked, tuple) and asked[0] == "docs":
                # The documents of [start, end] of every agent: what a read of that span must visit.
                start, end = datetime.fromisoformat(asked[1]), datetime.fromisoformat(asked[2])
                pipe.send(sum(fleet.count(agent_id, None, start, end) for agent_id in ids))
                continue
            if isinstance(asked, tuple):
                clock.advance(asked[1])
            stats = sim.stats
            pipe.send(
                {
                    "api_requests": stats.api_requests,
                    "indexer_requests": stats.indexer_requests,
                    "indexer_docs_visited": stats.indexer_docs_visited,
                    "indexer_answer_bytes": stats.indexer_answer_bytes,
                }
            )


def _targets(ids: list[str], by_location: bool) -> list[Target]:
    if not by_location:
        return [Target.agent(agent_id, f"agent-{agent_id}", INTERVAL) for agent_id in ids]
    return [
        Target.agent(agent_id, f"agent-{agent_id} {location}", INTERVAL, location=location)
        for agent_id in ids
        for location in LOCATIONS
    ]


def _stats(pipe: Connection) -> dict[str, int]:
    pipe.send("stats")
    found: dict[str, int] = pipe.recv()
    return found


def _docs(pipe: Connection, start: datetime, end: datetime) -> int:
    pipe.send(("docs", start.isoformat(), end.isoformat()))
    found: int = pipe.recv()
    return found


def _rows_written(db: Path) -> int:
    """target_state rows written since the first pass (the passes' updated_at tell them apart)."""
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute("SELECT count(*) FROM target_state WHERE updated_at > ?", (NOW.isoformat(),)).fetchone()[0]
        )


def one_pass(agents: int, baselines: bool = True, by_location: bool = False) -> PassFigures:
    """Passes of the real monitor (app.build) over `agents` agents, the simulator in a child process.

    The first starts from an empty state DB; the next STEADY_PASSES, a minute apart, are the steady ones a
    daemon runs (the one with the least CPU is reported, all of them in `steady_cpu_s`).
    `baselines=False` sets DROP_RATIO=0, so the aggregation asks no rate windows: the pass as it was before them.
    """
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(agents, theirs), daemon=True)
    child.start()
    api_url, indexer_url, ids = ours.recv()
    clock = FakeClock(NOW)
    targets = _targets(ids, by_location)
    per_agent = len(LOCATIONS) if by_location else 1
    timed: list[tuple[float, float]] = []
    requests: list[dict[str, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = simulator_settings(
            api_url, indexer_url, Path(tmp), wazuh_api_max_rpm=300, drop_ratio=0.1 if baselines else 0.0
        )
        with open(os.devnull, "w") as sink:
            app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)])
            with app:
                if by_location:
                    # Logcollector statistics cost one API request per agent (10,000 a pass here), paced by
                    # WAZUH_API_MAX_RPM: that is the API budget's question (docs/performance.md), not this pass's.
                    monitor = app.monitor
                    monitor._sources = [s for s in monitor._sources if s.name != "logcollector"]
                spans: list[int] = []
                previous_now: datetime | None = None
                for _ in range(1 + STEADY_PASSES):
                    now = clock.now()
                    if previous_now is None:
                        spans.append(_docs(ours, now - timedelta(seconds=settings.lookback_s), now))
                    else:
                        spans.append(_docs(ours, previous_now - timedelta(seconds=settings.indexing_delay_s), now))
                    previous_now = now
                    before = _stats(ours)
                    wall, cpu = time.perf_counter(), time.process_time()
                    # The daemon's pass (Daemon.tick): every target due, tallies kept but no rows, then delivery.
                    result = app.monitor.check(app.monitor.targets, keep_rows=False)
                    app.monitor.dispatcher.deliver_pending(force=True)
                    timed.append((time.perf_counter() - wall, time.process_time() - cpu))
                    after = _stats(ours)  # before the naive run, whose requests are its own
                    requests.append({name: after[name] - before[name] for name in after})
                    silent = sum(n for severity, n in result.severities.items() if severity.value in (1, 2))
                    expected = agents // 100 * per_agent
                    assert silent == expected, f"expected {expected} silent targets, found {silent}"
                    del result  # a daemon keeps no pass once it is done: neither does this
                    clock.advance(60.0)
                    ours.send(("advance", 60.0))
                    ours.recv()
                written = _rows_written(settings.state_db)
        naive_wall, naive_note = _naive(indexer_url, ids)
    ours.send("stop")
    child.join(timeout=10)
    steady = min(timed[1:], key=lambda pair: pair[1])
    visited = [r["indexer_docs_visited"] for r in requests]
    ratio = max(v / max(1, span) for v, span in zip(visited[1:], spans[1:], strict=True))
    answer_bytes = max(r["indexer_answer_bytes"] for r in requests[1:])
    return PassFigures(
        agents=agents,
        pairs=agents * len(LOCATIONS),
        targets=len(targets),
        wall_s=round(steady[0], 3),
        cpu_s=round(steady[1], 3),
        rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        indexer_requests=max(r["indexer_requests"] for r in requests[1:]),
        api_requests=max(r["api_requests"] for r in requests[1:]),
        first_wall_s=round(timed[0][0], 3),
        first_cpu_s=round(timed[0][1], 3),
        first_api_requests=requests[0]["api_requests"],
        states_written=written,
        naive_wall_s=round(naive_wall, 2),
        naive_requests=len(ids),
        naive_note=naive_note,
        baselines=baselines,
        steady_cpu_s=tuple(round(cpu, 3) for _, cpu in timed[1:]),
        indexer_docs_visited=max(visited[1:]),
        span_docs=max(spans[1:]),
        indexer_docs_ratio=round(ratio, 3),
        first_pass_docs=visited[0],
        lookback_docs=spans[0],
        answer_bytes_per_agent=round(answer_bytes / agents, 1),
    )


def _naive(indexer_url: str, ids: list[str]) -> tuple[float, str]:
    """The original tool: one `_count` request per agent, on a sample, scaled to the fleet."""
    sample = ids[:NAIVE_SAMPLE]
    since = (NOW - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with httpx.Client(base_url=indexer_url, auth=("admin", "admin")) as client:
        started = time.perf_counter()
        for agent_id in sample:
            query = {
                "query": {
                    "bool": {"filter": [{"term": {"agent.id": agent_id}}, {"range": {"timestamp": {"gte": since}}}]}
                }
            }
            client.post("/wazuh-alerts-4.x-*/_count", json=query).raise_for_status()
        elapsed = time.perf_counter() - started
    if len(sample) == len(ids):
        return elapsed, ""
    return elapsed * len(ids) / len(sample), f"timed on {len(sample)} agents and scaled linearly"


def request_bound(agents: int, per_agent: int) -> int:
    """Indexer requests a pass may make: per slice of a page of agents, its pages and one empty page, plus 2."""
    slices = math.ceil(agents / DEFAULT_PAGE_SIZE)
    buckets = min(agents, DEFAULT_PAGE_SIZE) * per_agent
    return slices * (math.ceil(buckets / DEFAULT_PAGE_SIZE) + 1) + 2


def scheduler_us_per_check(targets: int = 100_000, rounds: int = 3) -> float:
    scheduler = Scheduler()
    for index in range(targets):
        scheduler.schedule(f"agent:{index:06d}", float(index % 900))
    started = time.perf_counter()
    checks = 0
    now = 0.0
    for _ in range(rounds):
        now += 900.0
        for key in scheduler.pop_due(now):
            scheduler.schedule(key, now + 900.0)
            checks += 1
    return (time.perf_counter() - started) / checks * 1e6


def detection_latency(agents: int = 200, interval: float = 60.0, threshold: float = 300.0) -> tuple[float, float]:
    """Simulated seconds from an agent's last event to its alert leaving the outbox, worst case over agents."""
    from log_monitor.simulator.fleet import Fleet
    from log_monitor.simulator.server import SimulatorServer

    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    targets = []
    for number in range(1, agents + 1):
        agent_id = f"{number:03d}"
        fleet.add_agent(agent_id, f"a{agent_id}", rate_per_min=6, started=NOW - timedelta(hours=1))
        # Silences start at scattered moments so the checks catch them at every phase of the interval.
        fleet.silence(agent_id, since=NOW + timedelta(seconds=600 + number * 7.3))
        targets.append(Target.agent(agent_id, f"a{agent_id}", interval, threshold))
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(fleet, clock=clock, max_rpm=1_000_000) as sim:
        settings = simulator_settings(
            sim.api_url,
            sim.indexer_url,
            Path(tmp),
            default_check_interval_s=interval,
            pipeline_silence_ratio=2.0,  # every agent goes silent here: keep the per-agent alerts
            indexing_delay_s=0.0,  # the bound is threshold + interval; a configured INDEXING_DELAY adds to it
        )
        with open(os.devnull, "w") as sink:
            app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)])
            with app:
                daemon = Daemon(app.monitor)
                daemon.set_targets(targets)
                end = NOW + timedelta(seconds=600 + agents * 7.3 + 3 * threshold)
                while clock.now() < end:
                    daemon.tick()
                    wait = (daemon.scheduler.next_due() or 0.0) - clock.monotonic()
                    clock.advance(max(wait, 1.0))
                delivered = {e.notification.target_key: e for e in app.store.recent(10 * agents)}
    worst = 0.0
    for target in targets:
        assert target.agent_id is not None
        entry = delivered[target.key]
        assert entry.delivered_at is not None
        last = fleet.last_event(target.agent_id, None, NOW - timedelta(hours=2), entry.delivered_at)
        assert last is not None
        worst = max(worst, (entry.delivered_at - last).total_seconds())
    return worst, threshold + interval


def line_counting(size_mb: int, rounds: int = 3) -> tuple[float, float]:
    """The local files source counting appended lines, against `wc -l` on the same file: the best of `rounds`."""
    line = b'10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] "GET /a/b/c HTTP/1.1" 200 512 "-" "bench"\n'
    block = line * ((1 << 20) // len(line))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        path.write_bytes(line)
        target = Target(
            key=Target.file_key(str(path)),
            kind=TargetKind.LOCAL_FILE,
            label="bench",
            interval_s=60,
            threshold_s=300,
            path=str(path),
        )
        ours = wc = float("inf")
        with StateStore(Path(tmp) / "s.sqlite3") as store:
            LocalFilesSource(store).observe([target], NOW)  # first sight: the offset is the end of the first line
            # One line counted first: numpy's import (about 0.1 s, once per process) is not counting speed.
            with path.open("ab") as handle:
                handle.write(line)
            LocalFilesSource(store).observe([target], NOW)
            before = store.file_positions()[str(path)]
            with path.open("ab") as handle:
                for _ in range(size_mb):
                    handle.write(block)
            for _ in range(rounds):
                store.save_file_positions([before])  # each round counts the same appended gigabyte
                source = LocalFilesSource(store)
                started = time.perf_counter()
                counted = source.observe([target], NOW)[target.key].events_in_window
                ours = min(ours, time.perf_counter() - started)
                started = time.perf_counter()
                done = subprocess.run(
                    [shutil.which("wc") or "/usr/bin/wc", "-l", str(path)], check=True, capture_output=True, text=True
                )
                wc = min(wc, time.perf_counter() - started)
                assert counted is not None and counted + 2 == int(done.stdout.split()[0]), (counted, done.stdout)
    return ours, wc


def outbox_throughput(alerts: int = 300) -> float:
    """Alerts per second from the outbox into a local SMTP server (aiosmtpd), one message per alert."""
    from aiosmtpd.controller import Controller  # a dev dependency: only the benchmark needs it

    class Sink:
        received = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
            Sink.received += 1
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        notifier = SmtpNotifier(
            host="127.0.0.1", port=port, security="none", sender="lm@example.org", recipients=["soc@example.org"]
        )
        with tempfile.TemporaryDirectory() as tmp, StateStore(Path(tmp) / "o.sqlite3") as store:
            clock = FakeClock(NOW)
            dispatcher = Dispatcher(store, [notifier], clock)
            started = time.perf_counter()
            for number in range(alerts):
                note = Notification(
                    id=f"bench-{number}",
                    created_at=NOW,
                    kind=NotificationKind.ALERT,
                    severity=Severity.CRITICAL,
                    target_key=f"agent:{number:05d}",
                    label=f"agent-{number:05d}",
                    condition=Condition.SILENT,
                    host="bench",
                    agent_id=f"{number:05d}",
                    silent_for_s=1800.0,
                )
                store.commit([], [note])
                dispatcher.deliver_pending()  # one at a time: the worst case, no grouping
            elapsed = time.perf_counter() - started
    finally:
        controller.stop()
    assert Sink.received == alerts, (Sink.received, alerts)
    return alerts / elapsed


def outbox_history(rows: int = 1_000_000) -> tuple[float, float, float]:
    """`recent(50)` over `rows` delivered notifications (ms), pruning them to the bound (s), `recent(50)` after (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o.sqlite3"
        StateStore(path).close()
        payload = note_to_json(
            Notification(
                id="bench",
                created_at=NOW,
                kind=NotificationKind.ALERT,
                severity=Severity.CRITICAL,
                target_key="agent:00001",
                label="agent-00001",
                condition=Condition.SILENT,
                host="bench",
            )
        )
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.executemany(
                "INSERT INTO outbox (id, created_at, target_key, kind, payload, delivered_at, channel) "
                "VALUES (?, ?, ?, ?, ?, ?, 'slack')",
                (
                    (f"n{n}", at, f"agent:{n % 1000:05d}", "alert", payload, at)
                    for n in range(rows)
                    for at in [(NOW - timedelta(seconds=n)).isoformat()]
                ),
            )
        with StateStore(path) as store:
            started = time.perf_counter()
            store.recent(50)
            before = time.perf_counter() - started
            started = time.perf_counter()
            store.prune_outbox(NOW)
            prune = time.perf_counter() - started
            started = time.perf_counter()
            store.recent(50)
            after = time.perf_counter() - started
    return before * 1000, prune, after * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000", help="fleet sizes, comma-separated")
    parser.add_argument("--file-mb", type=int, default=1024, help="size of the file for line counting")
    parser.add_argument("--location-agents", type=int, default=10_000, help="agents of the per-location pass")
    parser.add_argument("--one-pass", type=int, help=argparse.SUPPRESS)  # internal: one size, in a fresh process
    parser.add_argument("--by-location", action="store_true", help=argparse.SUPPRESS)  # with --one-pass
    parser.add_argument("--no-baselines", action="store_true", help=argparse.SUPPRESS)  # internal, with --one-pass
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.json")
    parser.add_argument("--dashboard", type=int, help="only the dashboard figures, at this many agents")
    args = parser.parse_args(argv)
    if args.dashboard:
        return _dashboard(args.dashboard)
    if args.one_pass:
        print(json.dumps(asdict(one_pass(args.one_pass, not args.no_baselines, args.by_location))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    print(f"CPUs: {os.cpu_count()}; composite page size {DEFAULT_PAGE_SIZE}; simulator in a separate process")
    print(
        f"steady pass (the least CPU of {STEADY_PASSES}, a minute apart, after the first on a fresh state DB);"
        " first pass in brackets"
    )
    header = f"{'agents':>8} {'targets':>8} {'wall s':>7} {'cpu s':>7} {'(first)':>7} {'rss MB':>7} {'idx req':>7}"
    print(f"{header} {'api req':>7} {'(first)':>7} {'written':>7} {'naive s':>8} {'ratio':>6}")
    passes = []
    # Each size with the rate-drop baselines (the default) and without them (DROP_RATIO=0), side by side,
    # then the per-location pass.
    runs = [(size, baselines, False) for size in sizes for baselines in (True, False)]
    runs += [(args.location_agents, True, True)] if args.location_agents else []
    for size, baselines, by_location in runs:
        # A fresh process per size, so peak RSS belongs to that size alone.
        extra = ([] if baselines else ["--no-baselines"]) + (["--by-location"] if by_location else [])
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--one-pass", str(size), *extra],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        bound = request_bound(figures["agents"], figures["targets"] // figures["agents"])
        ratio = figures["naive_wall_s"] / figures["wall_s"] if figures["wall_s"] else float("inf")
        print(
            f"{figures['agents']:>8} {figures['targets']:>8} {figures['wall_s']:>7.2f} {figures['cpu_s']:>7.2f} "
            f"{figures['first_cpu_s']:>7.2f} {figures['rss_mb']:>7.0f} {figures['indexer_requests']:>7} "
            f"{figures['api_requests']:>7} {figures['first_api_requests']:>7} {figures['states_written']:>7} "
            f"{figures['naive_wall_s']:>8.1f} {ratio:>5.0f}x  (indexer bound {bound}) {figures['naive_note']}"
            f"{'' if baselines else ' [no baselines]'}"
        )
        passes.append(figures | {"by_location": by_location, "indexer_request_bound": bound})
    results["passes"] = passes
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--dashboard", str(max(sizes))], check=True, capture_output=True, text=True
    )
    print(done.stdout.strip().splitlines()[0])
    results["dashboard"] = json.loads(done.stdout.strip().splitlines()[-1])
    results["scheduler_us_per_check"] = round(scheduler_us_per_check(), 3)
    print(f"scheduler: {results['scheduler_us_per_check']:.2f} µs per check over 100,000 targets")
    worst, bound_s = detection_latency()
    results["latency_worst_s"], results["latency_bound_s"] = round(worst, 1), bound_s
    print(f"detection latency: worst {worst:.0f} s from last event to alert delivered (bound {bound_s:.0f} s)")
    ours, wc = line_counting(args.file_mb)
    results["linecount_s"], results["wc_l_s"] = round(ours, 3), round(wc, 3)
    print(f"line counting, {args.file_mb} MB: ours {ours:.2f} s, wc -l {wc:.2f} s ({ours / wc:.1f}x)")
    results["parse_lines_per_s"] = round(parse_rate())
    print(f"combined-format parsing: {results['parse_lines_per_s']:,} lines/s (target 300,000)")
    results["outbox_alerts_per_s"] = round(outbox_throughput(), 1)
    print(f"outbox into a local SMTP server: {results['outbox_alerts_per_s']:,} alerts/s (one at a time, no grouping)")
    before, prune, after = outbox_history()
    results["outbox_recent_1m_ms"], results["outbox_prune_1m_s"] = round(before, 2), round(prune, 2)
    results["outbox_recent_pruned_ms"] = round(after, 2)
    print(
        f"status page history: recent(50) over 1,000,000 delivered rows {before:.1f} ms; pruning them to "
        f"{OUTBOX_DELIVERED_KEPT:,} {prune:.1f} s (once); recent(50) after {after:.1f} ms"
    )
    previous = json.loads(args.out.read_text()) if args.out.exists() else None
    if isinstance(previous, dict):
        previous.pop("previous", None)  # one run back is enough to compare with
        results["previous"] = previous
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


def _dashboard(agents: int) -> int:
    """The daemon's memory and pass time with a dashboard open (benchmarks/dashboard.py), in this fresh process."""
    from benchmarks.dashboard import dashboard_load

    figures = dashboard_load(agents)
    print(
        f"dashboard open, {agents:,} agents: peak RSS {figures.rss_with_mb:.0f} MB (without {figures.rss_mb:.0f} MB); "
        f"steady pass {figures.pass_wall_with_s:.2f} s (without {figures.pass_wall_s:.2f} s, "
        f"{figures.pass_wall_with_s / figures.pass_wall_s:.2f}x); /api/targets {figures.targets_bytes:,} bytes, "
        f"/metrics {figures.metrics_bytes:,} bytes"
    )
    print(json.dumps(asdict(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
