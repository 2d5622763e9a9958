"""The indexer client against the simulator: one aggregation per pass, exact figures, partial answers refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from log_monitor.clock import FakeClock
from log_monitor.errors import AuthError, ResponseError, UnreachableError
from log_monitor.models import Secret
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.helpers import connection

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)


@pytest.fixture
def fleet(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web", locations=("/var/log/syslog", "/var/log/auth.log"), rate_per_min=6, started=HOUR_AGO)
    fleet.add_agent("002", "db", rate_per_min=6, started=HOUR_AGO)
    fleet.add_agent("003", "idle", rate_per_min=6, started=HOUR_AGO)
    fleet.silence("002", since=NOW - timedelta(minutes=20))
    fleet.silence("001", "/var/log/auth.log", since=NOW - timedelta(minutes=30))
    fleet.silence("003", since=HOUR_AGO)  # never sent anything
    return fleet


def indexer(sim: SimulatorServer, clock: FakeClock, **kwargs: object) -> WazuhIndexer:
    options: dict[str, object] = {"sleep": clock.advance}
    options.update(kwargs)
    linked, own = connection(sim.indexer_url, "admin", Secret("admin"), options)
    return WazuhIndexer(linked, **own)


def test_gives_last_event_and_window_count_per_agent_in_one_request(
    sim: SimulatorServer, clock: FakeClock, fleet: Fleet
) -> None:
    with indexer(sim, clock) as client:
        stats = client.last_events(since=NOW - timedelta(days=7), window_start=NOW - timedelta(minutes=15), until=NOW)
    assert sim.stats.indexer_requests == 1
    assert set(stats) == {("001",), ("002",)}  # 003 never sent anything: absent, so reported as never seen
    assert stats[("001",)].count_in_window == fleet.count("001", None, NOW - timedelta(minutes=15), NOW)
    assert stats[("001",)].last_event == fleet.last_event("001", None, NOW - timedelta(days=7), NOW)
    assert stats[("002",)].count_in_window == 0
    silent_since = stats[("002",)].last_event
    assert silent_since is not None
    assert NOW - timedelta(minutes=21) <= silent_since < NOW - timedelta(minutes=20)


def test_splits_figures_by_location_when_asked(sim: SimulatorServer, clock: FakeClock) -> None:
    with indexer(sim, clock) as client:
        stats = client.last_events(
            since=NOW - timedelta(days=7), window_start=NOW - timedelta(minutes=15), until=NOW, by_location=True
        )
    assert stats[("001", "/var/log/syslog")].count_in_window > 0
    assert stats[("001", "/var/log/auth.log")].count_in_window == 0


def test_uses_the_configured_field_names(sim: SimulatorServer, clock: FakeClock) -> None:
    fields = {"agent_id_field": "wazuh.agent.id", "timestamp_field": "@timestamp"}
    with indexer(sim, clock, **fields) as client:
        client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    body = sim.stats.last_search_body
    assert "wazuh.agent.id" in str(body)
    assert "@timestamp" in str(body)


def test_five_thousand_agents_cost_a_handful_of_requests_and_none_is_cut_off(clock: FakeClock) -> None:
    fleet = Fleet.generate(5000, now=clock.now, started=HOUR_AGO, silent_every=10)
    with SimulatorServer(fleet, clock=clock) as sim, indexer(sim, clock, page_size=1000) as client:
        stats = client.last_events(since=NOW - timedelta(days=7), window_start=NOW - timedelta(minutes=15), until=NOW)
        requests = sim.stats.indexer_requests
    assert len(stats) == 5000
    assert requests <= 6
    silent = [key for key, value in stats.items() if value.count_in_window == 0]
    assert len(silent) == 500


def test_filters_to_the_asked_agents(sim: SimulatorServer, clock: FakeClock) -> None:
    with indexer(sim, clock) as client:
        stats = client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW, agent_ids=["002"])
    assert set(stats) == {("002",)}


def test_shard_failures_mark_the_answer_partial(sim: SimulatorServer, clock: FakeClock) -> None:
    sim.faults.indexer_mode = "shard_failure"
    with indexer(sim, clock) as client:
        client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert client.partial == "1 of 2 shards failed (node_disconnected_exception)"


def test_an_unavailable_indexer_is_retried_then_reported(sim: SimulatorServer, clock: FakeClock) -> None:
    sim.faults.indexer_mode = "down"
    with indexer(sim, clock) as client, pytest.raises(ResponseError, match="503"):
        client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert sim.stats.indexer_requests == 3


def test_wrong_credentials_are_an_auth_error(sim: SimulatorServer, clock: FakeClock) -> None:
    client = WazuhIndexer(Connection(sim.indexer_url, "admin", Secret("wrong-secret"), sleep=clock.advance))
    with client, pytest.raises(AuthError) as caught:
        client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert "wrong-secret" not in str(caught.value)


def test_an_unreachable_indexer_is_an_unreachable_error(clock: FakeClock) -> None:
    client = WazuhIndexer(Connection("http://127.0.0.1:9", "admin", Secret("admin"), sleep=clock.advance))
    with client, pytest.raises(UnreachableError):
        client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)


def test_the_time_spent_waiting_for_answers_is_counted_once(sim: SimulatorServer, clock: FakeClock) -> None:
    with indexer(sim, clock) as client:
        started = time.monotonic()
        for _ in range(5):
            client.info()
        around = time.monotonic() - started
    # Measured inside the calls, so it can never exceed the time measured around them (it was counted twice).
    assert 0 < client.request_seconds <= around


def test_a_full_page_with_a_bucket_for_every_agent_asked_is_the_last(sim: SimulatorServer, clock: FakeClock) -> None:
    # By agent alone there is at most one bucket per agent: a full page that holds them all needs no empty page after.
    with indexer(sim, clock, page_size=2) as client:
        stats = client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW, agent_ids=["001", "002"])
    assert set(stats) == {("001",), ("002",)}
    assert sim.stats.indexer_requests == 1
