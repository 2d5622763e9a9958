"""`simulate` as a real process a new user points the monitor at; usage errors show the command's own usage."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from log_monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "log_monitor.py"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
    )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], list[str]]]:
    """`simulate --agents 3 --silent 1` on free ports; the KEY=VALUE lines and agents.csv lines it printed."""
    process = _start(
        "simulate", "--agents", "3", "--silent", "1", "--api-port", "0", "--indexer-port", "0", cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        keys: dict[str, str] = {}
        agents: list[str] = []
        for line in process.stdout:
            if line.startswith("Running until"):
                break
            key, sep, value = line.strip().partition("=")
            if sep and key.isupper():
                keys[key] = value
            elif line[:3].isdigit():
                agents.append(line.strip())
        yield process, keys, agents
    finally:
        _stop(process)


def test_simulate_prints_an_env_file_the_monitor_can_use_and_stops_on_sigterm(
    tmp_path: Path, simulator: tuple[subprocess.Popen[str], dict[str, str], list[str]]
) -> None:
    process, keys, agents = simulator
    assert set(keys) == {
        "WAZUH_API_URL",
        "WAZUH_API_USER",
        "WAZUH_API_PASSWORD",
        "WAZUH_INDEXER_URL",
        "WAZUH_INDEXER_USER",
        "WAZUH_INDEXER_PASSWORD",
        "DEFAULT_CHECK_INTERVAL",  # 30s for a first run: something happens within a minute
        "STATUS_ADDR",  # the status page and `top`'s live view
    }
    assert keys["DEFAULT_CHECK_INTERVAL"] == "30s"
    assert agents == ["001,sim-001", "002,sim-002", "003,sim-003"]
    (tmp_path / "agents.csv").write_text("agent_id,label\n" + "\n".join(agents) + "\n")
    env = tmp_path / "sim.env"
    lines = [f"{key}={value}" for key, value in keys.items()] + ["AGENT_LIST_FILE=agents.csv", "STATE_DB=state.db"]
    env.write_text("\n".join(lines) + "\n")

    out, err = io.StringIO(), io.StringIO()
    assert main(["--env-file", str(env), "check-config", "--connect"], stdout=out, stderr=err) == 0, out.getvalue()
    assert "Wazuh API: ok (3 agents)" in out.getvalue()
    assert "Wazuh indexer: ok" in out.getvalue()

    out = io.StringIO()
    assert main(["--env-file", str(env), "once"], stdout=out, stderr=io.StringIO()) == 2
    row = next(line for line in out.getvalue().splitlines() if line.startswith("agent:003"))
    assert "CRITICAL" in row
    assert "OK" in next(line for line in out.getvalue().splitlines() if line.startswith("agent:001"))

    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "simulator stopped" in rest


def test_simulate_on_a_port_in_use_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    first = _start("simulate", "--api-port", "0", "--indexer-port", "0", cwd=tmp_path)
    try:
        assert first.stdout is not None
        api_url = next(line for line in first.stdout if line.startswith("WAZUH_API_URL=")).strip().split("=", 1)[1]
        port = api_url.rsplit(":", 1)[1]
        second = _start("simulate", "--api-port", port, "--indexer-port", "0", cwd=tmp_path)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 64
        assert port in err
        assert "--api-port" in err
        assert "Traceback" not in err
    finally:
        _stop(first)


@pytest.mark.parametrize("seconds", ["-5", "0", "1e300", "nan", "inf", "soon"])
def test_demo_refuses_a_nonsense_duration_with_its_own_usage(seconds: str) -> None:
    err = io.StringIO()
    assert main(["demo", "--seconds", seconds], stdout=io.StringIO(), stderr=err) == 64
    assert "usage: log_monitor.py demo" in err.getvalue()
    assert "--seconds" in err.getvalue()


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["simulate", "--agents", "-1"], "usage: log_monitor.py simulate"),
        (["simulate", "--agents", "2", "--silent", "3"], "usage: log_monitor.py simulate"),
        (["simulate", "--api-port", "70000"], "usage: log_monitor.py simulate"),
        (["once", "--no-such-flag"], "usage: log_monitor.py once"),
        (["silence", "web"], "usage: log_monitor.py silence"),
        (["--no-such-flag"], "usage: log_monitor.py [-h]"),
    ],
)
def test_a_usage_error_shows_the_usage_of_the_command_concerned(argv: list[str], usage: str) -> None:
    err = io.StringIO()
    assert main(argv, stdout=io.StringIO(), stderr=err) == 64
    assert usage in err.getvalue()
    assert "Traceback" not in err.getvalue()
