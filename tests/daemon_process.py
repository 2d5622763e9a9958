"""The real daemon as a child process (`log_monitor.py run`) with an env file in a temporary folder."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.helpers import wait_for
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-daemon-test-token"


class Daemon:
    """Starts `log_monitor.py run` as a child process with an env file in a temporary folder."""

    def __init__(self, folder: Path, sim: SimulatorServer, slack: SlackServer, **extra: str) -> None:
        self.folder = folder
        self.slack = slack
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

    def start_until_alerted(self) -> subprocess.Popen[bytes]:
        """Start it and wait for its first Slack message (the alert about the silent agent)."""
        process = self.start()
        assert wait_for(lambda: len(self.slack.messages) == 1), self.log_text()
        return process

    def terminate(self) -> int:
        """SIGTERM, then its exit code; TimeoutExpired if it has not stopped within 10 s."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)

    def undelivered(self) -> int:
        with contextlib.closing(sqlite3.connect(self.folder / "state.sqlite3")) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0])

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
