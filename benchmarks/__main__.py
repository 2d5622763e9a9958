"""`make bench`: a pass over large simulated fleets against the naive per-agent design, and the scheduler's cost."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from log_monitor.app import build
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.models import Secret, Target, TargetKind
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.scheduler import Scheduler
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.wazuh.indexer import DEFAULT_PAGE_SIZE, WazuhIndexer

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INTERVAL = 900.0
NAIVE_SAMPLE = 500  # the naive design is timed on this many agents and scaled


@dataclass
class PassFigures:
    agents: int
    pairs: int
    wall_s: float
    cpu_s: float
    rss_mb: float
    indexer_requests: int
    api_requests: int
    naive_wall_s: float
    naive_requests: int
    naive_note: str


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the peak of this process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one_pass(agents: int, folder: Path) -> PassFigures:
    clock = FakeClock(NOW)
    fleet = Fleet.generate(agents, now=clock.now, started=NOW - timedelta(hours=2), silent_every=100)
    targets = [
        Target(
            key=Target.agent_key(a.id),
            kind=TargetKind.AGENT,
            label=a.name,
            interval_s=INTERVAL,
            threshold_s=INTERVAL,
            agent_id=a.id,
        )
        for a in fleet.agents()
        if a.id != "000"
    ]
    with SimulatorServer(fleet, clock=clock, max_rpm=100_000) as sim:
        settings = Settings(
            env_file=folder / "bench.env",
            base_dir=folder,
            wazuh_api_url=sim.api_url,
            wazuh_api_user="wazuh",
            wazuh_api_password=Secret("wazuh"),
            wazuh_indexer_url=sim.indexer_url,
            wazuh_indexer_user="admin",
            wazuh_indexer_password=Secret("admin"),
            wazuh_api_max_rpm=300,
            state_db=folder / f"bench-{agents}.sqlite3",
        )
        with open(os.devnull, "w") as sink:
            app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)])
            with app:
                wall, cpu = time.perf_counter(), time.process_time()
                app.monitor.run_once()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rss = _rss_mb()
        indexer_requests, api_requests = sim.stats.indexer_requests, sim.stats.api_requests
        naive_wall, naive_requests, note = _naive(sim, agents)
    return PassFigures(agents, agents, wall, cpu, rss, indexer_requests, api_requests, naive_wall, naive_requests, note)


def _naive(sim: SimulatorServer, agents: int) -> tuple[float, int, str]:
    """The original tool: one `_count` request per agent."""
    sample = min(agents, NAIVE_SAMPLE)
    with WazuhIndexer(sim.indexer_url, "admin", Secret("admin")) as indexer:
        started = time.perf_counter()
        for number in range(1, sample + 1):
            indexer.count(f"{number:03d}", 15, now=NOW)
        elapsed = time.perf_counter() - started
    note = "" if sample == agents else f"timed on {sample} agents and scaled linearly"
    return elapsed * agents / sample, agents, note


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000", help="fleet sizes, comma-separated")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, object] = {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}
    passes = []
    print(f"CPUs: {os.cpu_count()}; composite page size {DEFAULT_PAGE_SIZE}")
    header = f"{'agents':>8} {'wall s':>8} {'cpu s':>8} {'rss MB':>8} {'idx req':>8} {'api req':>8}"
    print(f"{header} {'naive s':>9} {'naive req':>9} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            figures = one_pass(size, Path(tmp))
            bound = math.ceil(figures.pairs / DEFAULT_PAGE_SIZE) + 2
            ratio = figures.naive_wall_s / figures.wall_s if figures.wall_s else float("inf")
            print(
                f"{figures.agents:>8} {figures.wall_s:>8.2f} {figures.cpu_s:>8.2f} {figures.rss_mb:>8.0f} "
                f"{figures.indexer_requests:>8} {figures.api_requests:>8} {figures.naive_wall_s:>9.2f} "
                f"{figures.naive_requests:>9} {ratio:>6.0f}x  (indexer bound {bound})"
            )
            passes.append(figures.__dict__ | {"indexer_request_bound": bound})
    results["passes"] = passes
    results["scheduler_us_per_check"] = scheduler_us_per_check()
    print(f"scheduler: {results['scheduler_us_per_check']:.2f} µs per check over 100,000 targets")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
