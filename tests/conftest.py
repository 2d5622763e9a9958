"""Shared fixtures: a clean environment for every test and the location of the Wazuh spec folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from log_monitor.clock import FakeClock
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.helpers import NOW

REPO = Path(__file__).resolve().parent.parent

# Keys our configuration reads; a developer's shell must never leak into a test.
_ENV_PREFIXES = ("WAZUH_", "SLACK_", "SMTP_", "TEAMS_", "LOG_", "AGENT_", "STATUS_")
_ENV_KEYS = {"USERNAME", "PASSWORD", "VERIFICATION_FILE", "VERIFY_TLS", "STATE_DB", "LOOKBACK", "HEARTBEAT_URL"}
# A test run started by systemd must not hand its own notify socket to the daemons the tests start.
_ENV_KEYS |= {"HEARTBEAT_URL_FILE", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove every configuration key from os.environ for the duration of a test."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES) or key in _ENV_KEYS:
            monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at NOW (2026-11-22 10:00 UTC): time moves only when a test or a `sleep` advances it."""
    return FakeClock(NOW)


@pytest.fixture
def sim(fleet: Fleet, clock: FakeClock) -> Iterator[SimulatorServer]:
    """The simulator serving the test module's `fleet` on the fake clock."""
    with SimulatorServer(fleet, clock=clock) as server:
        yield server


@pytest.fixture
def api(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the simulator's Wazuh API."""
    with httpx.Client(base_url=sim.api_url) as client:
        yield client


@pytest.fixture
def root_logger() -> Iterator[None]:
    """The root logger's handlers and level put back after the test (`main` and setup_logging change them)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def spec_dir() -> Path:
    """The shared Wazuh spec folder; tests fail (never skip) when it is missing."""
    configured = os.environ.get("WAZUH_SPEC_DIR_FOR_TESTS") or os.environ.get("WAZUH_SPEC_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(REPO.parent / "shared" / "wazuh")
    for candidate in candidates:
        if (candidate / "spec.yaml").is_file():
            return candidate
    raise AssertionError(
        "Wazuh spec folder not found: set WAZUH_SPEC_DIR or put it at ../shared/wazuh "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


# WAZUH_SPEC_DIR starts with WAZUH_ and is cleaned per test; remember it before that happens.
if "WAZUH_SPEC_DIR" in os.environ:
    os.environ["WAZUH_SPEC_DIR_FOR_TESTS"] = os.environ["WAZUH_SPEC_DIR"]


@pytest.fixture(scope="session")
def wazuh_spec_dir() -> Path:
    return spec_dir()
