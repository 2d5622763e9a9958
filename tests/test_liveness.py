"""Who watches the watcher: sd_notify datagrams, the watchdog fed only while passes succeed, the hourly line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from log_monitor.clock import FakeClock
from log_monitor.config.environment import service_manager
from log_monitor.liveness import FAILED_PASSES_BEFORE_RESTART, Liveness
from log_monitor.models import Severity, TargetState
from log_monitor.sdnotify import SdNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from tests.daemon_process import Daemon
from tests.heartbeat_receiver import HeartbeatReceiver
from tests.helpers import wait_for
from tests.slack_server import SlackServer

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class NotifySocket:
    """The socket systemd listens on: an AF_UNIX datagram socket; each message is one datagram."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind("\0" + address[1:] if address.startswith("@") else address)
        self._socket.settimeout(0.05)
        self.messages: list[str] = []

    def receive(self) -> list[str]:
        """Every datagram arrived so far (waits at most 50 ms for a first one)."""
        while True:
            try:
                self.messages.append(self._socket.recv(4096).decode())
            except TimeoutError:
                return self.messages

    def saw(self, line: str) -> bool:
        return any(line in message.splitlines() for message in self.receive())

    def count(self, line: str) -> int:
        return sum(line in message.splitlines() for message in self.receive())

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    # A short path: AF_UNIX addresses are limited to 108 bytes, pytest's tmp_path can be longer.
    folder = tempfile.mkdtemp(prefix="sd-")
    sock = NotifySocket(os.path.join(folder, "notify"))
    yield sock
    sock.close()
    os.unlink(sock.address)
    os.rmdir(folder)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite3") as db:
        yield db


def test_a_notify_socket_nobody_reads_never_blocks_a_send(notify_socket: NotifySocket) -> None:
    notifier = SdNotifier(notify_socket.address)
    sent: list[bool] = []
    done = threading.Event()

    def send_many() -> None:
        sent.extend(notifier.status(f"pass {n}") for n in range(1000))  # the queue holds a few of these
        done.set()

    threading.Thread(target=send_many, daemon=True).start()
    assert done.wait(20)  # a blocking send would wait here for ever
    assert sent[0] and not all(sent)  # the first went out; the full queue refused some, each refused at once


def test_the_notifier_speaks_the_datagram_protocol_to_a_path_and_to_an_abstract_socket(
    notify_socket: NotifySocket,
) -> None:
    notifier = SdNotifier(notify_socket.address)
    assert notifier.ready("12 targets")
    assert notify_socket.receive() == ["READY=1\nSTATUS=12 targets"]
    abstract = NotifySocket(f"@log-monitor-test-{os.getpid()}")
    try:
        assert SdNotifier(abstract.address).watchdog()
        assert abstract.receive() == ["WATCHDOG=1"]
    finally:
        abstract.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SdNotifier(*service_manager({}))
    assert not notifier.notify("STATUS=x")
    assert not notifier.ready("x")
    assert notifier.watchdog_s is None


def test_the_watchdog_interval_is_read_only_by_the_process_it_is_meant_for() -> None:
    mine = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
    assert service_manager(mine) == ("/run/systemd/notify", 20.0)
    assert service_manager(mine | {"WATCHDOG_PID": "1"}) == ("/run/systemd/notify", None)


def test_ready_after_the_first_pass_then_watchdog_only_while_passes_succeed(
    notify_socket: NotifySocket, store: StateStore
) -> None:
    clock = FakeClock(NOW)
    liveness = Liveness(store=store, clock=clock, notifier=SdNotifier(notify_socket.address, watchdog_s=20.0))
    liveness.turn()
    assert notify_socket.receive() == []  # not ready before a pass
    assert liveness.max_sleep() == 10.0  # the loop wakes twice per watchdog period
    liveness.pass_done(3, {})
    liveness.turn()
    assert notify_socket.receive()[0].startswith("READY=1\nSTATUS=3 targets, 0 alerting, last good pass 2026-11-22")
    assert notify_socket.count("WATCHDOG=1") == 1
    for _ in range(FAILED_PASSES_BEFORE_RESTART):
        liveness.pass_failed(3, "state DB locked")
        liveness.turn()
    # Fed after the first failures (one bad pass is no reason to restart), not once they keep failing.
    assert notify_socket.count("WATCHDOG=1") == FAILED_PASSES_BEFORE_RESTART
    assert (
        "STATUS=3 targets, 0 alerting, last good pass 2026-11-22 10:00:00 UTC, 0 notification(s) queued; "
        in (notify_socket.messages[-1])
    )
    assert notify_socket.messages[-1].endswith(
        f"pass failed ({FAILED_PASSES_BEFORE_RESTART} in a row): state DB locked"
    )
    liveness.pass_done(3, {"indexer": "connection refused"})  # a backend down: the daemon itself is fine
    liveness.turn()
    assert notify_socket.count("WATCHDOG=1") == FAILED_PASSES_BEFORE_RESTART + 1


def test_the_daemon_logs_a_summary_line_after_its_first_pass_and_every_hour(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(NOW)
    store.commit([TargetState("agent:002", severity=Severity.CRITICAL)], [])
    liveness = Liveness(store=store, clock=clock, summary_every_s=3600)
    with caplog.at_level(logging.INFO, logger="log_monitor.liveness"):
        liveness.pass_done(2, {})
        liveness.turn()
        clock.advance(3599)
        liveness.pass_done(2, {})
        liveness.turn()
        assert liveness.max_sleep() == 1.0  # the loop wakes for the line even when no target is due
        clock.advance(1)
        liveness.turn()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "alive: 2 targets, 1 alerting, last good pass 2026-11-22 10:00:00 UTC, 0 notification(s) queued",
        "alive: 2 targets, 1 alerting, last good pass 2026-11-22 10:59:59 UTC, 0 notification(s) queued",
    ]


@pytest.fixture
def services() -> Iterator[tuple[SimulatorServer, SlackServer, HeartbeatReceiver]]:
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=datetime.now(UTC))
    fleet.add_agent("002", "db", rate_per_min=60, started=datetime.now(UTC))
    with (
        SimulatorServer(fleet) as sim,
        SlackServer(token="xoxb-liveness-token", channels=("#soc",)) as slack,
        HeartbeatReceiver() as receiver,
    ):
        yield sim, slack, receiver


def test_a_daemon_started_by_systemd_says_ready_feeds_the_watchdog_and_pings_the_heartbeat(
    tmp_path: Path,
    services: tuple[SimulatorServer, SlackServer, HeartbeatReceiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim, slack, receiver = services
    address = f"@log-monitor-daemon-test-{os.getpid()}"
    listener = NotifySocket(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    daemon = Daemon(tmp_path, sim, slack, HEARTBEAT_URL=receiver.url + "/ping/abc")
    # Checked once an hour: without the watchdog the loop would sleep for an hour after the first pass.
    (tmp_path / "agents.csv").write_text("agent_id,label,interval,threshold\n001,web,1h,2h\n002,db,1h,2h\n")
    process = daemon.start()
    saw: Callable[[str], bool] = listener.saw
    try:
        assert wait_for(lambda: saw("READY=1")), daemon.log_text()
        ready = next(m for m in listener.messages if "READY=1" in m)
        assert "STATUS=2 targets, 0 alerting" in ready
        assert wait_for(lambda: listener.count("WATCHDOG=1") >= 3), daemon.log_text()
        assert wait_for(lambda: receiver.requests == ["/ping/abc"]), daemon.log_text()
        assert "alive: 2 targets, 0 alerting" in daemon.log_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert listener.saw("STOPPING=1")
    finally:
        daemon.stop()
        listener.close()
