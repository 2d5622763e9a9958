"""The daemon's memory and pass time with dashboards open on a large fleet (docs/performance.md, issue 28).

The real monitor (app.build) and its status server in one process, the simulator in a child process as in
the pass benchmark. Steady passes run back to back, first with no client, then with `clients` dashboards
each asking what the page asks (`/api/targets?limit=500`, `/api/alerts?limit=50`, `/api/charts?limit=24`)
every `refresh_s` seconds, and one Prometheus scrape of `/metrics` at the same pace. The resident memory is
sampled from /proc every 50 ms in each phase.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from benchmarks.__main__ import NOW, _serve, _targets
from log_monitor.app import App, build
from log_monitor.clock import FakeClock
from log_monitor.demo import simulator_settings
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.status.http import StatusServer

PAGE_PATHS = ("/api/targets?limit=500", "/api/alerts?limit=50", "/api/charts?limit=24")
PASSES = 6  # steady passes per phase: at 100,000 agents, two refreshes of the page or more


@dataclass
class DashboardFigures:
    agents: int
    clients: int
    refresh_s: float
    pass_wall_s: float  # mean steady pass with no client
    pass_wall_with_s: float  # mean steady pass with the dashboards open
    pass_cpu_s: float
    pass_cpu_with_s: float
    rss_mb: float  # the most resident memory sampled during the passes with no client
    rss_with_mb: float  # the same with the dashboards open
    targets_bytes: int  # one /api/targets answer as the page asks it
    metrics_bytes: int
    answers: int  # answers the clients got during the phase
    busy: int  # of which 503 (waited their turn past the limit)


class _Sampler:
    """The process's resident memory, sampled every 50 ms on a thread."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        while not self._stop.is_set():
            with open("/proc/self/statm") as statm:
                self.peak_kb = max(self.peak_kb, int(statm.read().split()[1]) * page_kb)
            self._stop.wait(0.05)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _Dashboards:
    """`clients` pages refreshing every `refresh_s` seconds, and one /metrics scrape at the same pace."""

    def __init__(self, url: str, clients: int, refresh_s: float) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.answers = 0
        self.busy = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._page, daemon=True) for _ in range(clients)]
        self._threads.append(threading.Thread(target=self._scrape, daemon=True))

    def _get(self, client: httpx.Client, path: str) -> None:
        status = client.get(self.url + path).status_code
        self.answers += 1
        self.busy += status == 503

    def _page(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                for path in PAGE_PATHS:
                    self._get(client, path)
                self._stop.wait(self.refresh_s)

    def _scrape(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                self._get(client, "/metrics")
                self._stop.wait(self.refresh_s)

    def __enter__(self) -> _Dashboards:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def _passes(app: App, clock: FakeClock, ours: Connection) -> tuple[float, float]:
    """PASSES steady passes, a minute of fleet time apart: their mean wall and CPU seconds."""
    walls, cpus = [], []
    for _ in range(PASSES):
        wall, cpu = time.perf_counter(), time.process_time()
        app.monitor.check(app.monitor.targets, keep_rows=False)
        app.monitor.deliver_queued(force=True)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        clock.advance(60.0)
        ours.send(("advance", 60.0))
        ours.recv()
    return statistics.mean(walls), statistics.mean(cpus)


def dashboard_load(agents: int, clients: int = 1, refresh_s: float = 10.0) -> DashboardFigures:
    """Steady passes over `agents` agents without, then with, `clients` dashboards open (module docstring)."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(agents, theirs), daemon=True)
    child.start()
    api_url, indexer_url, ids = ours.recv()
    clock = FakeClock(NOW)
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        settings = simulator_settings(api_url, indexer_url, Path(tmp), wazuh_api_max_rpm=300)
        app = build(settings, _targets(ids, False), clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(sink)])
        with app, StatusServer(app, ("127.0.0.1", 0)) as server:
            app.monitor.check(app.monitor.targets, keep_rows=False)  # the first pass: every state new
            app.monitor.deliver_queued(force=True)
            with _Sampler() as alone:
                wall, cpu = _passes(app, clock, ours)
            with _Sampler() as watched, _Dashboards(server.url, clients, refresh_s) as pages:
                wall_with, cpu_with = _passes(app, clock, ours)
            targets_bytes = len(httpx.get(server.url + PAGE_PATHS[0], timeout=60).content)
            metrics_bytes = len(httpx.get(server.url + "/metrics", timeout=60).content)
    ours.send("stop")
    child.join(timeout=10)
    return DashboardFigures(
        agents=agents,
        clients=clients,
        refresh_s=refresh_s,
        pass_wall_s=round(wall, 3),
        pass_wall_with_s=round(wall_with, 3),
        pass_cpu_s=round(cpu, 3),
        pass_cpu_with_s=round(cpu_with, 3),
        rss_mb=round(alone.peak_kb / 1024, 1),
        rss_with_mb=round(watched.peak_kb / 1024, 1),
        targets_bytes=targets_bytes,
        metrics_bytes=metrics_bytes,
        answers=pages.answers,
        busy=pages.busy,
    )
