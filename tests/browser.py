"""A fresh headless Chromium tab (Debian's chromium, driven by Playwright) that records console problems."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"  # gitignored; CI keeps it for people to look at
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # root in a container: the setuid sandbox is not available
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_tab(folder: Path, *, height: int = 720) -> Iterator[tuple[Page, list[str]]]:
    """A tab in a new, empty profile, and the list its console errors, warnings and page errors go to."""
    # No skip: a missing browser must fail the suite (.ci/run installs Debian's chromium).
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: apt-get install -y --no-install-recommends chromium"
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(dir=folder) as profile:
        # A persistent context is how Playwright takes a --user-data-dir: here a fresh, empty one.
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": height}
        )
        try:
            tab = browser.new_page()
            tab.on("console", on_console)
            tab.on("pageerror", on_page_error)
            yield tab, problems
        finally:
            browser.close()
