"""The dashboard page in a real headless Chromium (Debian's, driven by Playwright): loads clean, shows the fleet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect

from log_monitor.models import Silence
from tests import status_rig
from tests.browser import ARTIFACTS, chromium_tab
from tests.status_rig import TOKEN, Running

start = status_rig.start  # the same running monitor, simulator and status server


def test_the_page_loads_without_console_errors_and_shows_the_silent_agent(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(token=TOKEN)
    with chromium_tab(tmp_path) as (page, problems):
        page.goto(f"{running.server.url}/?token={TOKEN}")
        silent = page.locator('#targets tr[data-key="agent:002"]')
        silent.wait_for(timeout=10_000)
        # A locator assertion polls without eval, which the page's strict CSP (rightly) refuses.
        expect(silent).to_contain_text("CRITICAL", timeout=10_000)
        assert "db" in silent.inner_text()
        assert "token" not in page.url  # taken out of the address bar, kept in sessionStorage
        assert page.locator("#score").inner_text() == "50"
        # Worst first by default; a click on "Target" sorts by key.
        assert page.locator("#targets tbody tr").first.get_attribute("data-key") == "agent:002"
        page.locator('#targets th[data-key="key"]').click()
        assert page.locator("#targets tbody tr").first.get_attribute("data-key") == "agent:001"
        page.locator("#alerts tbody tr").first.wait_for(timeout=10_000)
        assert "agent:002" in page.locator("#alerts").inner_text()
        assert "ok" in page.locator('#channels tr[data-channel="console"]').inner_text()
        assert "ok" in page.locator('#backends tr[data-key="backend:indexer"]').inner_text()
        # A silence shows on the page as in `status` and the API: MAINTENANCE, until when, why, who.
        now = datetime.now(UTC)
        running.app.store.add_silence(Silence("agent:002", now + timedelta(hours=2), "db migration", now, "alice"))
        page.goto(f"{running.server.url}/?token={TOKEN}")  # the page itself asks for the token again
        expect(silent).to_contain_text("MAINTENANCE", timeout=10_000)
        assert "db migration" in silent.inner_text()
        silences = page.locator('#silences tr[data-key="agent:002"]').inner_text()
        assert "db migration" in silences
        assert "alice" in silences
        assert page.locator("#score").inner_text() == "100"
        screenshot = page.screenshot(full_page=True)
    (tmp_path / "dashboard.png").write_bytes(screenshot)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard.png").write_bytes(screenshot)
    assert screenshot.startswith(b"\x89PNG")
    assert problems == []
