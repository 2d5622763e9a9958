"""Rate against baseline in the API and on the page: a server-made SVG per target, checked in a real Chromium."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from rich.console import Console

from log_monitor.app import App, build
from log_monitor.changes import rate_points, transition
from log_monitor.demo import simulator_settings
from log_monitor.models import Condition, Severity, Target, TargetKind, TargetState
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.reports import status as cli_status
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.status.http import StatusServer, start_status_server
from log_monitor.top import TopModel, render
from tests.browser import ARTIFACTS, chromium_tab

WINDOW = 60.0  # the check interval, so the rate window: 600 events a minute is a baseline of 600


@dataclass
class Page:
    app: App
    server: StatusServer

    def json(self, path: str) -> dict[str, object]:
        answer = httpx.get(self.server.url + path, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert isinstance(body, dict)
        return body


def seed_history(app: App, key: str, now: datetime, events: list[int]) -> None:
    """The last hours as earlier passes left them (oldest first): committed with what the judge decides of them."""
    previous: TargetState | None = None
    for hours_ago, count in zip(range(len(events), 0, -1), events, strict=True):
        dropping = count < 60
        state = TargetState(
            key,
            severity=Severity.WARNING if dropping else Severity.OK,
            condition=Condition.RATE_DROP if dropping else Condition.OK,
            last_checked=now - timedelta(hours=hours_ago),
            recent=count,
            baseline=600.0,
            rate_window_s=WINDOW,
        )
        change = transition(previous, state, now)
        points = rate_points(previous, state)
        app.store.commit([state], [], transitions=[change] if change else [], rate_points=points)
        previous = state


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "fw-alpha", rate_per_min=600, started=now - timedelta(days=9))
    fleet.add_agent("002", "web", rate_per_min=600, started=now - timedelta(days=9))
    fleet.set_rate("001", 0.02, since=now - timedelta(hours=2, minutes=30))
    targets = [
        Target(Target.agent_key(n), TargetKind.AGENT, label, WINDOW, WINDOW, agent_id=n)
        for n, label in (("001", "fw-alpha"), ("002", "web"))
    ]
    with SimulatorServer(fleet) as sim:
        settings = simulator_settings(
            sim.api_url,
            sim.indexer_url,
            tmp_path,
            default_check_interval_s=WINDOW,
            indexing_delay_s=0.0,
            status_addr=("127.0.0.1", 0),
        )
        with build(settings, targets, channels=[ConsoleNotifier(io.StringIO())]) as app:
            seed_history(app, "agent:001", now, [600] * 21 + [12, 12])
            seed_history(app, "agent:002", now, [600] * 23)
            app.monitor.run_once()
            server = start_status_server(app)
            assert server is not None
            try:
                yield Page(app, server)
            finally:
                server.close()


def points(text: str | None) -> list[tuple[float, float]]:
    assert text
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in text.split())]


def test_the_api_gives_each_target_its_rate_and_a_chart_with_drops_first(page: Page) -> None:
    targets = {t["key"]: t for t in page.json("/api/targets")["targets"]}  # type: ignore[attr-defined]
    fw = targets["agent:001"]
    assert fw["condition"] == "rate_drop" and fw["baseline"] == 600.0 and fw["recent"] < 60
    assert targets["agent:002"]["rate_share"] == pytest.approx(1.0, abs=0.02)
    charts = page.json("/api/charts?limit=5")["charts"]
    assert [c["key"] for c in charts] == ["agent:001", "agent:002"]  # type: ignore[attr-defined]
    assert charts[0]["svg"].startswith("<svg")  # type: ignore[index]
    # Nine days of history: each chart draws the rhythm its hours expect (600 a window) behind the counts.
    web = charts[1]  # type: ignore[index]
    assert web["learning"] is False and 'class="expected"' in web["svg"]
    expected = re.search(r'class="expected" points="([^"]+)"', web["svg"])
    band = re.search(r'class="band" points="([^"]+)"', web["svg"])
    assert expected is not None and band is not None
    assert {y for _, y in points(expected.group(1))} == {y for _, y in points(band.group(1))[:1]}  # at the baseline
    assert httpx.get(page.server.url + "/api/charts?limit=0", timeout=10).status_code == 400


def test_the_page_draws_a_dropping_targets_line_below_its_band_and_marks_the_alert(page: Page, tmp_path: Path) -> None:
    with chromium_tab(tmp_path, height=900) as (tab, problems):
        tab.goto(page.server.url + "/")
        dropping = tab.locator('#charts figure[data-key="agent:001"]')
        steady = tab.locator('#charts figure[data-key="agent:002"]')
        expect(dropping.locator("svg polyline.count")).to_have_count(1, timeout=10_000)
        expect(dropping).to_contain_text("fw-alpha")
        expect(tab.locator('#targets tr[data-key="agent:001"] td.rate')).to_contain_text("/ 600 (")
        line = points(dropping.locator("polyline.count").get_attribute("points"))
        band = points(dropping.locator("polygon.band").get_attribute("points"))
        steady_line = points(steady.locator("polyline.count").get_attribute("points"))
        steady_band = points(steady.locator("polygon.band").get_attribute("points"))
        alerts = dropping.locator("circle.alert").count()
        screenshot = tab.screenshot(full_page=True)
    (tmp_path / "rate-chart.png").write_bytes(screenshot)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "rate-chart.png").write_bytes(screenshot)
    assert screenshot.startswith(b"\x89PNG")
    assert problems == []

    def floor_and_top(shape: list[tuple[float, float]], x: float) -> tuple[float, float]:
        """The band's lower edge (drop threshold) and upper edge (baseline) at x: SVG y grows downwards."""
        ys = [py for px, py in shape if px == x]
        return max(ys), min(ys)

    x, y = line[-1]
    floor, _ = floor_and_top(band, x)
    assert y > floor  # the dropping target's latest count is below its band
    x0, y0 = line[0]
    floor0, top0 = floor_and_top(band, x0)
    assert top0 <= y0 <= floor0  # a day ago it was inside
    sx, sy = steady_line[-1]
    steady_floor, steady_top = floor_and_top(steady_band, sx)
    assert steady_top - 1 <= sy <= steady_floor  # the steady one stays in its band
    assert alerts >= 1  # the drop's alert is on the timeline


def test_status_and_top_show_the_rate_against_the_baseline(page: Page) -> None:
    out = io.StringIO()
    assert cli_status(page.app.settings, list(page.app.monitor.targets), out) == 0
    table = out.getvalue()
    assert "RATE VS BASELINE" in table
    row = next(line for line in table.splitlines() if line.startswith("agent:001"))
    assert "rate_drop" in row and re.search(r"\b\d+ / 600 \(\d\.\d%\)", row), row
    rows = {r.key: r for r in TopModel(list(page.app.monitor.targets), page.app.store).refresh(datetime.now(UTC))}
    assert rows["agent:001"].rate.endswith("/ 600 (2.0%)")
    console = Console(width=160, record=True)
    console.print(render(list(rows.values()), datetime.now(UTC)))
    assert "vs baseline" in console.export_text()
