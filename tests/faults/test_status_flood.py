"""Half-sent requests flooding the status port of a daemon short of descriptors: checks and alerts go on.

A real `log_monitor.py run` process, its open-files limit lowered to 256, against the simulator and a
fake Slack. More slowloris connections than that limit hit the status port on 127.0.0.1 (300 in
`make test`, 1,100 in `make faults`); an agent falls silent during the flood and must still reach Slack,
and `/healthz` must answer once the flood ends.
"""

from __future__ import annotations

import errno
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.daemon_process import ROOT, TOKEN, Daemon
from tests.faults.common import FULL
from tests.helpers import free_port, wait_for
from tests.slack_server import SlackServer

FILE_LIMIT = 256
FLOOD = 1100 if FULL else 300
FLOOD_SECONDS = 40.0  # the flood stops by itself after this, whatever the test does
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: monitor\r\nX-Slow: "

# Sets the limit, then becomes the daemon (same pid): the test's own process keeps its limit and threads.
LAUNCHER = (
    "import os, resource, sys\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


class LimitedDaemon(Daemon):
    """The daemon started with RLIMIT_NOFILE lowered to `file_limit`."""

    file_limit = FILE_LIMIT

    def start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-c", LAUNCHER, str(self.file_limit), str(ROOT / "log_monitor.py")]
        self.process = subprocess.Popen(
            [*command, "run", "--env-file", str(self.env_file)],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
        )
        return self.process


class Flood:
    """Keeps up to `count` half-header connections open on 127.0.0.1:`port`, replacing those the server closes.

    Connects without blocking, as attack tools do: a server slow to accept cannot pace the flood.
    Bounded: at most 10 x `count` connections in all, a tenth of `count` new ones per round, FLOOD_SECONDS.
    """

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0  # connected, half a head sent
        self.failed = 0  # refused, or not connected within 5 s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flood", daemon=True)

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        connecting: dict[int, tuple[socket.socket, float]] = {}
        held: dict[int, socket.socket] = {}
        poller = select.poll()  # not select(): the flood's descriptors go past FD_SETSIZE (1,024)
        started = 0
        deadline = time.monotonic() + FLOOD_SECONDS
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                for _ in range(max(1, self.count // 10)):
                    if len(connecting) + len(held) >= self.count or started >= 10 * self.count:
                        break
                    conn = socket.socket()
                    conn.setblocking(False)
                    if conn.connect_ex(("127.0.0.1", self.port)) not in (0, errno.EINPROGRESS):
                        conn.close()
                        self.failed += 1
                        continue
                    started += 1
                    connecting[conn.fileno()] = (conn, time.monotonic() + 5)
                    poller.register(conn, select.POLLOUT)
                for fd, _ in poller.poll(100):
                    if fd in connecting:
                        conn, _ = connecting.pop(fd)
                        if conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                            conn.send(HALF_HEAD)
                            held[fd] = conn
                            poller.modify(fd, select.POLLIN)
                            self.opened += 1
                            continue
                        self.failed += 1
                    else:
                        conn = held.pop(fd)  # readable: the server closed it (it never answers half a head)
                    poller.unregister(fd)
                    conn.close()
                now = time.monotonic()
                for fd in [fd for fd, (_, until) in connecting.items() if until < now]:
                    poller.unregister(fd)
                    connecting.pop(fd)[0].close()
                    self.failed += 1
        finally:
            for conn in [*held.values(), *(c for c, _ in connecting.values())]:
                conn.close()


@pytest.fixture
def services() -> Iterator[tuple[Fleet, SimulatorServer, SlackServer]]:
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.add_agent("002", "db", rate_per_min=60, started=now - timedelta(hours=2))
    with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
        yield fleet, sim, slack


@pytest.fixture
def enough_files_for_the_flood() -> Iterator[None]:
    """The test process holds the flood's client ends: give it room for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD + 512
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _healthz(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.TransportError:
        return None


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled(pid: int, timeout: float = 30.0) -> bool:
    """The daemon's descriptor count has stopped moving (within 8 over 1 s): the flood took all it could get."""
    samples: deque[int] = deque(maxlen=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples.append(_descriptors(pid))
        if len(samples) == samples.maxlen and max(samples) - min(samples) <= 8:
            return True
        time.sleep(0.25)
    return False


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no Threads line in /proc/{pid}/status")


def test_a_slowloris_flood_on_the_status_port_does_not_blind_the_checks(
    services: tuple[Fleet, SimulatorServer, SlackServer], tmp_path: Path, enough_files_for_the_flood: None
) -> None:
    fleet, sim, slack = services
    port = free_port()
    daemon = LimitedDaemon(tmp_path, sim, slack, STATUS_ADDR=f"127.0.0.1:{port}")
    # A 10 s threshold for db: its events stop during the flood (as events stop: from now, each read once), and
    # the alert must go out while the flood is on.
    (daemon.folder / "agents.csv").write_text("agent_id,label,interval,threshold\n001,web,1s,60s\n002,db,1s,10s\n")
    process = daemon.start()
    try:
        assert wait_for(lambda: _healthz(port) == 200), daemon.log_text()
        assert slack.messages == []
        with Flood(port, FLOOD) as flood:
            assert wait_for(lambda: flood.opened >= FLOOD), (flood.opened, flood.failed)  # more than the limit
            # As in the incident, the idle connections pile up first: as many as the daemon lets them take.
            assert _settled(process.pid), _descriptors(process.pid)
            fleet.silence("002", since=datetime.now(UTC))
            assert wait_for(lambda: any("db" in str(m) for m in slack.messages), timeout=30), daemon.log_text()
            assert flood.running  # the alert went out while the flood was on
            assert _threads(process.pid) < 40  # no thread per connection
            assert _descriptors(process.pid) < FILE_LIMIT - 100  # descriptors left for the checks
        assert wait_for(lambda: _healthz(port) == 200), daemon.log_text()
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        daemon.stop()
    log = daemon.log_text()
    assert "Too many open files" not in log
    assert "Traceback" not in log
