"""HEARTBEAT_URL: the success ping, `/fail` when a backend is down, Uptime Kuma's status=, never the URL in a log."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.cli import main
from log_monitor.heartbeat import Heartbeat, ping_url
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.heartbeat_receiver import HeartbeatReceiver
from tests.slack_server import SlackServer

TOKEN = "xoxb-heartbeat-test-token"
CHECK = "/ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"  # the check's UUID: the secret part of the URL


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=datetime.now(UTC) - timedelta(hours=2))
    with SimulatorServer(fleet) as server:
        yield server


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN, channels=("#soc",)) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[HeartbeatReceiver]:
    with HeartbeatReceiver() as server:
        yield server


def once(folder: Path, sim: SimulatorServer, slack: SlackServer, url: str) -> int:
    (folder / "agents.csv").write_text("001,web,5m\n")
    env = write_env(folder, sim, slack, TOKEN, HEARTBEAT_URL=url, INDEXING_DELAY="0s")
    return main(["once", "--env-file", str(env)], stdout=io.StringIO(), stderr=io.StringIO())


def test_a_pass_that_reads_every_backend_pings_the_url_before_once_exits(
    tmp_path: Path, sim: SimulatorServer, slack: SlackServer, receiver: HeartbeatReceiver
) -> None:
    assert once(tmp_path, sim, slack, receiver.url + CHECK) == 0
    assert receiver.requests == [CHECK]  # already there when `once` returned: it waits for its ping


def test_a_pass_with_a_backend_down_pings_fail(
    tmp_path: Path, sim: SimulatorServer, slack: SlackServer, receiver: HeartbeatReceiver
) -> None:
    sim.faults.indexer_mode = "down"
    assert once(tmp_path, sim, slack, receiver.url + CHECK) == 3
    assert receiver.requests == [CHECK + "/fail"]


def test_the_heartbeat_url_never_appears_in_the_log_when_the_ping_is_refused(
    tmp_path: Path, sim: SimulatorServer, slack: SlackServer
) -> None:
    with HeartbeatReceiver(status=500) as refusing:
        once(tmp_path, sim, slack, refusing.url + CHECK)
        assert refusing.requests == [CHECK]
    log = (tmp_path / "monitor.log").read_text()
    assert "heartbeat http://127.0.0.1/***: answered HTTP 500" in log
    assert "5bf66975" not in log


def test_a_hanging_receiver_never_blocks_a_ping_and_the_latest_pass_wins(receiver: HeartbeatReceiver) -> None:
    receiver.hold.clear()
    heartbeat = Heartbeat(receiver.url + CHECK, min_gap_s=0)
    heartbeat.ping(True)
    assert receiver.arrived.wait(10)  # the first ping hangs in the receiver...
    heartbeat.ping(False, "indexer unreadable")  # ...while passes go on queueing theirs, each replacing the last
    heartbeat.ping(True)
    heartbeat.ping(False, "indexer unreadable")
    assert not heartbeat.flush(0.05)
    receiver.hold.set()
    assert heartbeat.flush(10)
    heartbeat.close()
    assert receiver.requests == [CHECK, CHECK + "/fail"]


def test_the_same_news_is_not_sent_again_within_the_minimum_gap(receiver: HeartbeatReceiver) -> None:
    heartbeat = Heartbeat(receiver.url + CHECK, min_gap_s=3600)
    for ok in (True, True, False, False, True):
        heartbeat.ping(ok)
        assert heartbeat.flush(10)
    heartbeat.close()
    assert receiver.requests == [CHECK, CHECK + "/fail", CHECK]


def test_healthchecks_urls_get_fail_appended_to_the_path() -> None:
    assert ping_url("https://hc-ping.com/uuid", ok=True) == "https://hc-ping.com/uuid"
    assert ping_url("https://hc-ping.com/uuid", ok=False) == "https://hc-ping.com/uuid/fail"
    assert ping_url("https://hc-ping.com/key/slug/?create=1", ok=False) == "https://hc-ping.com/key/slug/fail?create=1"


def test_uptime_kuma_push_urls_get_status_up_or_down_and_a_message() -> None:
    url = "https://kuma.example/api/push/AbC123?status=up&msg=OK&ping="
    assert ping_url(url, ok=True) == "https://kuma.example/api/push/AbC123?status=up&msg=OK&ping="
    down = ping_url(url, ok=False, detail="indexer unreadable")
    assert down == "https://kuma.example/api/push/AbC123?status=down&msg=indexer+unreadable&ping="
