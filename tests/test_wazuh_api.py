"""The Wazuh server API client against the simulator on loopback: login, tokens, budget, 429, paging, TLS."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from log_monitor.clock import FakeClock
from log_monitor.errors import AuthError, ResponseError, UnreachableError
from log_monitor.models import Secret
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from tests.helpers import connection

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def fleet(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web", started=START)
    fleet.add_agent("002", "db", started=START)
    fleet.add_agent("003", "fw", started=START)
    fleet.set_status("003", "disconnected")
    return fleet


def client(sim: SimulatorServer, clock: FakeClock, **kwargs: object) -> WazuhAPIHandler:
    options: dict[str, object] = {"clock": clock, "sleep": clock.advance}
    options.update(kwargs)
    password = options.pop("password", Secret("wazuh"))
    assert isinstance(password, Secret)
    linked, own = connection(sim.api_url, "wazuh", password, options)
    return WazuhAPIHandler(linked, **own)


def test_lists_every_agent_but_the_manager_with_status_and_keepalive(sim: SimulatorServer, clock: FakeClock) -> None:
    with client(sim, clock) as api:
        agents = api.list_agents()
    assert [a.id for a in agents] == ["001", "002", "003"]
    assert {a.id: a.status for a in agents}["003"] == "disconnected"
    assert all(a.last_keepalive is not None for a in agents if a.status == "active")


def test_pages_through_a_large_fleet_by_total_affected_items(clock: FakeClock) -> None:
    fleet = Fleet.generate(1234, now=clock.now, started=START)
    with SimulatorServer(fleet, clock=clock) as sim, client(sim, clock, page_size=500) as api:
        agents = api.list_agents()
        requests = sim.stats.api_requests
    assert len(agents) == 1234
    assert len({a.id for a in agents}) == 1234
    assert requests == 1 + 3  # one login, three pages


def test_iterating_the_agents_asks_for_each_page_only_when_the_one_before_is_used_up(clock: FakeClock) -> None:
    # The monitor keeps only names of a full listing: 100,000 AgentInfo at once would be 30 MB it never needs.
    fleet = Fleet.generate(1234, now=clock.now, started=START)
    with SimulatorServer(fleet, clock=clock) as sim, client(sim, clock, page_size=500) as api:
        agents = api.iter_agents()
        first = [next(agents) for _ in range(500)]
        after_one_page = sim.stats.api_requests
        rest = list(agents)
        after_all = sim.stats.api_requests
        listed = api.list_agents()
    assert after_one_page == 1 + 1  # the login and the first page
    assert after_all == 1 + 3
    assert first + rest == listed  # the same agents in the same order as the list
    assert len(listed) == 1234


def test_reuses_its_token_until_it_nears_expiry(sim: SimulatorServer, clock: FakeClock) -> None:
    with client(sim, clock) as api:
        api.list_agents()
        clock.advance(600)
        api.list_agents()
        assert api.logins == 1
        clock.advance(300)  # past the 900 s lifetime: a fresh login, not a failure
        api.list_agents()
        assert api.logins == 2


def test_a_token_lifetime_shorter_than_the_renewal_margin_still_serves_many_requests(
    fleet: Fleet, clock: FakeClock
) -> None:
    # 20 s tokens (the API's auth_token_exp_timeout set low): the 30 s margin must shrink to fit them.
    with SimulatorServer(fleet, clock=clock, token_ttl_s=20) as sim, client(sim, clock) as api:
        for _ in range(40):
            api.list_agents()
            clock.advance(1)
        logins = api.logins
    assert logins == 3  # one per 18 s of a 20 s token (renewed 2 s early), not one before every request


def test_a_token_is_timed_by_its_own_lifetime_when_the_api_clock_is_an_hour_behind_ours(
    fleet: Fleet, clock: FakeClock
) -> None:
    api_clock = FakeClock(START - timedelta(hours=1))  # by our clock, every token the API issues expired long ago
    with SimulatorServer(fleet, clock=api_clock) as sim, client(sim, clock) as api:
        for _ in range(10):
            api.list_agents()
            clock.advance(60)
            api_clock.advance(60)
        assert api.logins == 1  # 600 s of a 900 s token
        clock.advance(300)
        api_clock.advance(300)
        api.list_agents()  # 900 s since the login: renewed
        assert api.logins == 2


def test_logs_in_again_once_when_its_token_is_revoked_mid_run(sim: SimulatorServer, clock: FakeClock) -> None:
    with client(sim, clock) as api:
        api.list_agents()
        sim.expire_tokens()
        agents = api.list_agents()
    assert len(agents) == 3
    assert api.logins == 2
    assert sim.stats.api_401 == 1


def test_wrong_password_is_an_auth_error_that_names_the_user_but_not_the_password(
    sim: SimulatorServer, clock: FakeClock
) -> None:
    with client(sim, clock, password=Secret("not-the-password")) as api, pytest.raises(AuthError) as caught:
        api.list_agents()
    assert "wazuh" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


def test_waits_for_the_next_minute_on_429_and_finishes(fleet: Fleet, clock: FakeClock) -> None:
    with SimulatorServer(fleet, clock=clock, max_rpm=5) as sim, client(sim, clock, max_rpm=300, page_size=1) as api:
        before = clock.now()
        agents = api.list_agents()  # 1 login + 3 pages, then more calls cross the limit
        agents += api.list_agents()
    assert len(agents) == 6
    assert sim.stats.api_429 >= 1
    assert (clock.now() - before).total_seconds() >= 1


def test_keeps_its_own_request_budget_below_the_api_limit(fleet: Fleet, clock: FakeClock) -> None:
    with SimulatorServer(fleet, clock=clock, max_rpm=300) as sim, client(sim, clock, max_rpm=4, page_size=1) as api:
        before = clock.now()
        api.list_agents()
        api.list_agents()
    assert sim.stats.api_429 == 0
    assert (clock.now() - before).total_seconds() >= 59  # the fifth request waited for the window


def test_retries_server_errors_then_succeeds(sim: SimulatorServer, clock: FakeClock) -> None:
    sim.faults.fail_next_api = 2
    with client(sim, clock) as api:
        assert len(api.list_agents()) == 3


def test_gives_up_after_repeated_server_errors_with_a_response_error(sim: SimulatorServer, clock: FakeClock) -> None:
    sim.faults.api_mode = "down"
    with client(sim, clock, retries=3) as api, pytest.raises(ResponseError, match="HTTP 500"):
        api.list_agents()


def test_connection_refused_is_a_transport_error(clock: FakeClock) -> None:
    api = WazuhAPIHandler(Connection("http://127.0.0.1:9", "wazuh", Secret("wazuh"), sleep=clock.advance), clock=clock)
    with api, pytest.raises(UnreachableError):
        api.list_agents()


def test_reads_logcollector_statistics(sim: SimulatorServer, clock: FakeClock) -> None:
    with client(sim, clock) as api:
        stats = api.logcollector_stats("001")
    assert "global" in stats


def test_verifies_tls_against_the_given_ca_and_refuses_without_it(
    fleet: Fleet, clock: FakeClock, tmp_path: Path
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with SimulatorServer(fleet, clock=clock, ssl_context=context) as sim:
        assert sim.api_url.startswith("https://")
        with client(sim, clock, verify=ssl.create_default_context(cafile=str(bundle))) as api:
            assert len(api.list_agents()) == 3
        with client(sim, clock, retries=1) as api, pytest.raises(UnreachableError):
            api.list_agents()
