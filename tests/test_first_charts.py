"""The dashboard in its first hour: charts from the first pass with axes and times, a learning baseline said as
such, and a page (not JSON) telling a person without the token how to pass it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from log_monitor.dropwords import rate_against
from log_monitor.ratechart import FinePoints, Point, chart
from tests import status_rig
from tests.browser import ARTIFACTS, chromium_tab
from tests.helpers import wait_for
from tests.status_rig import TOKEN, Running

start = status_rig.start

NOW = datetime(2026, 11, 22, 10, 20, tzinfo=UTC)


def test_a_single_hourly_point_is_drawn_with_axes_and_times_in_utc_and_local_time() -> None:
    svg = chart("web", [Point(NOW.replace(minute=0), 15, 600.0)], [], 0.1, NOW, zone=ZoneInfo("Europe/Paris"))
    assert svg.count('<circle class="point"') == 1
    assert 'class="count"' in svg
    assert "10:20 UTC (11:20 CET)" in svg  # now, at the right end of the time axis
    assert "09:20 UTC (10:20 CET)" in svg  # a short history spans an hour, not 24 mostly empty ones
    assert re.search(r'<text class="axis"[^>]*>0</text>', svg)
    assert "last 1 hour" in svg


def test_a_learning_baseline_is_said_as_such_never_as_a_zero() -> None:
    svg = chart("web", [Point(NOW.replace(minute=0), 15, 0.0)], [], 0.1, NOW, history_days=2)
    assert "baseline learning (2 of 7 days)" in svg
    assert 'class="band"' not in svg
    assert rate_against(15, 0.0, 2) == "15 / learning (2 of 7 days)"
    assert rate_against(15, 0.0) == "15 / learning (0 of 7 days)"
    assert rate_against(12, 600.0, 7) == "12 / 600 (2.0%)"


def test_the_dashboard_draws_charts_from_the_first_pass_and_says_the_baseline_is_learning(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(token=TOKEN)
    with chromium_tab(tmp_path, height=900) as (page, problems):
        page.goto(f"{running.server.url}/?token={TOKEN}")
        figure = page.locator('#charts figure[data-key="agent:001"]')
        expect(figure.locator("svg circle.point").first).to_be_attached(timeout=10_000)
        expect(figure.locator("figcaption")).to_contain_text("learning (0 of 7 days)")
        expect(figure.locator("svg text.time").last).to_contain_text("UTC (")
        expect(page.locator('#targets tr[data-key="agent:001"] td.rate')).to_contain_text("learning (")
        assert " / 0" not in page.locator("#targets").inner_text()
        screenshot = page.screenshot(full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard-first-pass.png").write_bytes(screenshot)
    assert problems == []


def test_opening_the_page_without_the_token_shows_how_to_pass_it(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(token=TOKEN)
    answer = httpx.get(running.server.url + "/", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert TOKEN not in answer.text
    api = httpx.get(running.server.url + "/api/targets", timeout=10)
    assert api.status_code == 401 and api.headers["content-type"] == "application/json"  # scripts still get JSON
    with chromium_tab(tmp_path) as (page, _):
        page.goto(f"{running.server.url}/")
        expect(page.locator("h1")).to_contain_text("a token is required")
        assert "/?token=" in page.locator("body").inner_text()
        assert "Authorization: Bearer" in page.locator("body").inner_text()


def test_while_the_history_is_short_each_check_is_its_own_point() -> None:
    fine = FinePoints()
    hour = NOW.replace(minute=0)
    points: list[Point] = []
    latest = None
    for minute in (1, 2, 3):
        at = NOW.replace(minute=minute)
        latest = Point(hour, 10 + minute, 0.0, at=at)
        points = fine.merged("agent:001", latest, [Point(hour, 10 + minute, 0.0)], at)
    assert [(p.at, p.events) for p in points] == [(NOW.replace(minute=m), 10 + m) for m in (1, 2, 3)]
    svg = chart("web", points, [], 0.1, NOW.replace(minute=3))
    assert svg.count('<circle class="point"') == 3
    old = [Point(NOW - timedelta(hours=h), 600, 600.0) for h in range(8, 0, -1)]
    assert fine.merged("agent:001", latest, old, NOW) == old  # a long history: the hours are fine enough


def test_the_dashboard_chart_gains_a_point_per_check_from_the_first_minutes(start: Callable[..., Running]) -> None:
    running = start(token=TOKEN)

    def points() -> int:
        answer = running.get("/api/charts", TOKEN).json()
        chart_001 = next(c for c in answer["charts"] if c["key"] == "agent:001")
        return int(chart_001["svg"].count('<circle class="point"'))

    assert wait_for(lambda: points() >= 3, timeout=20)  # checks every second, all in the same hour
