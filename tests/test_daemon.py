"""The real daemon process against the simulator and a fake Slack: signals, kill -9, the periodic re-exec."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-daemon-test-token"


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Daemon:
    """Starts `log_monitor.py run` as a child process with an env file in a temporary folder."""

    def __init__(self, folder: Path, sim: SimulatorServer, slack: SlackServer, **extra: str) -> None:
        self.folder = folder
        self.log = folder / "monitor.log"
        (folder / "agents.csv").write_text("agent_id,label,interval,threshold\n001,web,1s,60s\n002,db,1s,60s\n")
        options = {"DEFAULT_CHECK_INTERVAL": "1s", "INDEXING_DELAY": "0s"} | extra
        self.env_file = write_env(folder, sim, slack, TOKEN, **options)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "log_monitor.py"), "run", "--env-file", str(self.env_file)],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
        )
        return self.process

    def undelivered(self) -> int:
        with contextlib.closing(sqlite3.connect(self.folder / "state.sqlite3")) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0])

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def services() -> Iterator[tuple[Fleet, SimulatorServer, SlackServer]]:
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.add_agent("002", "db", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.silence("002", since=now - timedelta(hours=1))
    with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
        yield fleet, sim, slack


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def factory(sim: SimulatorServer, slack: SlackServer, **extra: str) -> Daemon:
        daemon = Daemon(tmp_path, sim, slack, **extra)
        made.append(daemon)
        return daemon

    yield factory
    for daemon in made:
        daemon.stop()


def test_sigterm_stops_the_daemon_with_exit_0_within_10_seconds(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack)
    process = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert "db" in str(slack.messages[0])


def test_kill_9_then_restart_sends_no_duplicate_alert(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack)
    first = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    # Killed once the delivery is recorded: a kill between Slack's answer and that record is the
    # documented at-least-once window (Slack cannot deduplicate), covered in tests/faults.
    assert wait_for(lambda: daemon.undelivered() == 0)
    first.kill()
    first.wait(timeout=10)
    second = daemon.start()
    searches = sim.stats.indexer_searches
    assert wait_for(lambda: sim.stats.indexer_searches >= searches + 3)  # it checked again, several times
    assert len(slack.messages) == 1
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0


def test_the_periodic_re_exec_keeps_the_process_and_its_state(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack, RESTART_INTERVAL="2s")
    process = daemon.start()
    assert wait_for(lambda: daemon.log_text().count("daemon started") >= 3, timeout=20), daemon.log_text()
    assert process.poll() is None  # execv keeps the pid: systemd sees one long-lived service
    assert len(slack.messages) == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_sighup_picks_up_a_new_agent_without_restarting(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack)
    process = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    agents = daemon.folder / "agents.csv"
    agents.write_text(agents.read_text() + "077,new-box,1s,60s\n")
    process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: any("077" in str(m) for m in slack.messages)), daemon.log_text()
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_a_re_exec_while_a_slow_slack_is_answering_waits_for_the_answer_and_sends_no_duplicate(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    slack.delay_s = 6.0  # longer than the 5 s a SIGTERM drain waits, within Slack's 10 s timeout
    daemon = daemon_factory(sim, slack, RESTART_INTERVAL="1s")
    process = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    # The re-exec falls due while Slack holds its answer: the in-flight post is finished and marked first.
    assert wait_for(lambda: daemon.log_text().count("daemon started") >= 2, timeout=30), daemon.log_text()
    assert daemon.undelivered() == 0
    slack.delay_s = 0.0
    assert wait_for(lambda: daemon.log_text().count("daemon started") >= 3, timeout=30), daemon.log_text()
    assert len(slack.messages) == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def run_cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """`log_monitor.py ARGS --env-file ...` as its own process, as cron or a person would run it."""
    return subprocess.run(
        [sys.executable, str(ROOT / "log_monitor.py"), *args, "--env-file", str(daemon.env_file)],
        cwd=daemon.folder,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
    )


def test_a_second_daemon_or_a_once_beside_a_running_daemon_exits_75_naming_the_lock(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack)
    first = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    lock_file = daemon.folder / "state.sqlite3.lock"
    second = run_cli(daemon, "run")
    assert second.returncode == 75, second.stderr
    assert str(lock_file) in second.stderr and "another instance" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    once = run_cli(daemon, "once")
    assert once.returncode == 75 and str(lock_file) in once.stderr, once.stderr
    assert "Traceback" not in second.stderr + once.stderr
    # Reading commands need no lock: they work beside the daemon.
    assert run_cli(daemon, "status").returncode == 0
    assert len(slack.messages) == 1  # neither the second daemon nor the `once` sent the alert again
    assert first.poll() is None
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=10) == 0
    after = run_cli(daemon, "once")  # the lock went with the daemon
    assert after.returncode == 2, after.stderr


def test_the_re_executed_daemon_still_holds_the_lock(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack, RESTART_INTERVAL="2s")
    process = daemon.start()
    assert wait_for(lambda: daemon.log_text().count("daemon started") >= 3, timeout=20), daemon.log_text()
    once = run_cli(daemon, "once")
    assert once.returncode == 75, once.stderr
    assert f"pid {process.pid}" in once.stderr  # the same process, re-executed, holds it
    lock_file = str(daemon.folder / "state.sqlite3.lock")
    descriptors = Path(f"/proc/{process.pid}/fd")
    held = [fd for fd in descriptors.iterdir() if os.path.realpath(fd) == lock_file]
    assert len(held) == 1  # taken over at each re-exec, not opened once more
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_deleting_the_state_db_under_the_daemon_is_noticed_announced_and_a_fresh_one_used(
    services: tuple[Fleet, SimulatorServer, SlackServer], daemon_factory: Callable[..., Daemon]
) -> None:
    _, sim, slack = services
    daemon = daemon_factory(sim, slack)
    process = daemon.start()
    assert wait_for(lambda: len(slack.messages) == 1), daemon.log_text()
    db = daemon.folder / "state.sqlite3"
    db.unlink()
    assert wait_for(lambda: any("state DB was deleted" in str(m) for m in slack.messages)), daemon.log_text()
    assert "was deleted while the monitor ran" in daemon.log_text()
    assert wait_for(lambda: daemon.undelivered() == 0)  # the notice was queued in, and delivered from, the new file
    with contextlib.closing(sqlite3.connect(db)) as fresh:

        def keys() -> set[str]:
            return {row[0] for row in fresh.execute("SELECT target_key FROM target_state")}

        assert wait_for(lambda: {"agent:001", "agent:002"} <= keys()), keys()
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
