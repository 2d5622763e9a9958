"""The status answers that walk every target share one build of the views per pass, however many clients ask."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from log_monitor.app import App, build
from log_monitor.clock import FakeClock
from log_monitor.demo import simulator_settings
from log_monitor.models import Silence, Target
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.status import documents
from log_monitor.status.http import StatusServer
from log_monitor.view import views as all_views

NOW = datetime(2026, 11, 22, 10, 0, 20, tzinfo=UTC)
# What a page refreshing asks, what a scrape asks, a target's own page and a filtered list.
ASKED = (
    "/api/targets?limit=500",
    "/api/charts?limit=24",
    "/metrics",
    "/api/targets/agent:001",
    "/api/targets?state=OK",
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[App, Fleet, FakeClock, StatusServer]]:
    clock = FakeClock(NOW)
    fleet = Fleet(clock.now)
    for agent_id, name in (("001", "web"), ("002", "db")):
        fleet.add_agent(agent_id, name, rate_per_min=60, started=NOW - timedelta(hours=2))
    targets = [Target.agent("001", "web", 60.0, 120.0), Target.agent("002", "db", 60.0, 120.0)]
    with SimulatorServer(fleet, clock=clock) as sim:
        settings = simulator_settings(sim.api_url, sim.indexer_url, tmp_path, indexing_delay_s=0.0)
        app = build(settings, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(io.StringIO())])
        with app, StatusServer(app, ("127.0.0.1", 0)) as server:
            app.monitor.run_once()
            yield app, fleet, clock, server


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the views of every target are built (one entry per build)."""
    built: list[int] = []

    def counting(*args: Any) -> Any:
        built.append(1)
        return all_views(*args)

    monkeypatch.setattr(documents, "all_views", counting)
    return built


def test_clients_and_answers_share_one_build_of_the_views_until_a_pass_ends(
    rig: tuple[App, Fleet, FakeClock, StatusServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, fleet, clock, server = rig
    built = _counted(monkeypatch)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(3):  # three dashboards open, each refreshing
            for path in ASKED:
                assert client.get(path).status_code == 200, path
        assert len(built) == 1
        assert client.get("/api/targets").json()["counts"] == {"OK": 2}
        fleet.silence("002", since=clock.now())
        clock.advance(300.0)
        app.monitor.run_once()  # a pass ends: the next answer shows what it found
        assert client.get("/api/targets").json()["counts"] == {"OK": 1, "CRITICAL": 1}
        assert 'log_monitor_targets{state="CRITICAL"} 1.0' in client.get("/metrics").text
        assert len(built) == 2


def test_a_silence_set_between_passes_shows_at_the_next_answer(
    rig: tuple[App, Fleet, FakeClock, StatusServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, fleet, clock, server = rig
    fleet.silence("002", since=clock.now())
    clock.advance(300.0)
    app.monitor.run_once()
    built = _counted(monkeypatch)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/api/targets").json()["counts"] == {"OK": 1, "CRITICAL": 1}
        app.store.add_silence(Silence("agent:002", clock.now() + timedelta(hours=1), "disk swap", clock.now()))
        assert client.get("/api/targets").json()["counts"] == {"OK": 1, "MAINTENANCE": 1}
        clock.advance(2 * 3600.0)  # the silence ended: so did its hold, with no pass in between
        assert client.get("/api/targets").json()["counts"] == {"OK": 1, "CRITICAL": 1}
    assert len(built) == 3


def test_a_reload_between_passes_shows_at_the_next_answer(rig: tuple[App, Fleet, FakeClock, StatusServer]) -> None:
    app, _, _, server = rig
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/api/targets").json()["counts"] == {"OK": 2}
        app.monitor.reload_targets([t for t in app.monitor.targets if t.key != "agent:002"])  # SIGHUP
        assert client.get("/api/targets").json()["counts"] == {"OK": 1, "REMOVED": 1}
