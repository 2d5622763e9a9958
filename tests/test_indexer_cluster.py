"""The indexer as it runs in production: a partial answer, several nodes, permissions and load (REALITY.md §10)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.models import NotificationKind, Secret, Severity
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.wazuh.hosts import HostPool
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.envfile import write_env
from tests.helpers import connection, free_port
from tests.monitor_rig import NOW, Rig, agent
from tests.slack_server import SlackServer
from tests.test_config import load, problems_of

HOUR_AGO = NOW - timedelta(hours=1)
TARGETS = [agent("001", "web"), agent("002", "db"), agent("003", "mail")]


@pytest.fixture
def fleet(clock: FakeClock) -> Fleet:
    fleet = Fleet(now=clock.now)
    for number, label in (("001", "web"), ("002", "db"), ("003", "mail")):
        fleet.add_agent(number, label, rate_per_min=6, started=NOW - timedelta(hours=3))
    fleet.silence("003", since=NOW - timedelta(minutes=30))  # really silent, as far as the answer shows
    return fleet


def indexer(sim: SimulatorServer, clock: FakeClock, **kwargs: object) -> WazuhIndexer:
    options: dict[str, object] = {"sleep": clock.advance}
    options.update(kwargs)
    linked, own = connection(sim.indexer_url, "admin", Secret("admin"), options)
    return WazuhIndexer(linked, **own)


# -- 3. partial answers ----------------------------------------------------------------------------------------


def test_a_lost_shard_without_failures_is_a_partial_answer_not_a_silence(
    sim: SimulatorServer, clock: FakeClock
) -> None:
    sim.faults.lost_shard_agents = frozenset({"002"})
    with indexer(sim, clock) as client:
        stats = client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert ("002",) not in stats  # its documents were on the lost shard
    assert client.partial == "1 of 6 shards failed"


def test_a_partial_answer_keeps_live_agents_ok_and_makes_the_others_unknown_with_one_backend_alert(
    clock: FakeClock, tmp_path: Path, fleet: Fleet
) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.faults.lost_shard_agents = frozenset({"002"})
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    severities = {row.target.key: row.state.severity for row in result.rows}
    assert severities == {"agent:001": Severity.OK, "agent:002": Severity.UNKNOWN, "agent:003": Severity.UNKNOWN}
    assert result.exit_code == 3
    assert "1 of 6 shards failed" in result.backend_errors["indexer"]
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]
    unknown = next(row for row in result.rows if row.target.key == "agent:002")
    assert "1 of 6 shards failed" in (unknown.observation.incomplete or "")


# -- 1. several indexer nodes ----------------------------------------------------------------------------------


def test_a_host_list_whose_first_host_refuses_connections_gives_a_clean_pass(
    clock: FakeClock, tmp_path: Path, fleet: Fleet
) -> None:
    rig = Rig(clock, tmp_path, fleet, indexer_nodes=2)
    with rig.sim:
        rig.sim.stop_indexer_node(0)
        urls = ",".join(rig.sim.indexer_urls)
        with rig.app(TARGETS, wazuh_indexer_url=urls) as app:
            result = app.monitor.run_once()
            assert app.indexer is not None
            health = {host.url: host for host in app.indexer.hosts()}
    assert result.backend_errors == {}
    severities = {row.target.key: row.state.severity for row in result.rows}
    assert severities["agent:001"] is Severity.OK and severities["agent:003"] is Severity.CRITICAL
    first, second = rig.sim.indexer_urls
    assert not health[first].up and health[first].retry_in_s == 60.0
    assert health[second].up


def test_a_failed_node_is_set_aside_for_60_s_then_tried_again_for_twice_as_long(
    sim: SimulatorServer, clock: FakeClock
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with indexer(sim, clock, monotonic=clock.monotonic) as client:
        client._hosts = HostPool([dead, sim.indexer_url], clock.monotonic)
        for _ in range(4):  # round robin would give the dead node every other request
            client.info()
        assert [h.requests for h in client.hosts()] == [1, 4]
        clock.advance(61)
        for _ in range(2):
            client.info()
        dead_health = client.hosts()[0]
    assert dead_health.failures == 2 and dead_health.retry_in_s == 120.0


def test_only_every_node_failing_is_one_backend_alert(clock: FakeClock, tmp_path: Path, fleet: Fleet) -> None:
    rig = Rig(clock, tmp_path, fleet, indexer_nodes=3)
    with rig.sim:
        for number in range(3):
            rig.sim.stop_indexer_node(number)
        with rig.app(TARGETS, wazuh_indexer_url=",".join(rig.sim.indexer_urls)) as app:
            result = app.monitor.run_once()
    assert "no indexer node answered" in result.backend_errors["indexer"]
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}


def test_the_indexer_url_takes_a_comma_separated_list_of_nodes(tmp_path: Path) -> None:
    text = "WAZUH_INDEXER_URL=https://n1:9200, https://n2:9200,https://n3:9200\n"
    text += "WAZUH_INDEXER_USER=u\nWAZUH_INDEXER_PASSWORD=p\n"
    settings = load(tmp_path, text)
    assert settings.wazuh_indexer_url == "https://n1:9200,https://n2:9200,https://n3:9200"


def test_a_bad_node_in_the_list_is_one_problem_naming_it(tmp_path: Path) -> None:
    text = "WAZUH_INDEXER_URL=https://n1:9200,n2:9200\nWAZUH_INDEXER_USER=u\nWAZUH_INDEXER_PASSWORD=p\n"
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems  # not also "WAZUH_INDEXER_URL missing"
    assert "n2:9200" in problems[0] and "separated by commas" in problems[0]


def test_check_config_connect_tries_each_node_and_names_the_dead_one(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=12, started=datetime.now(UTC) - timedelta(hours=2))
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n")
    with SimulatorServer(fleet, indexer_nodes=3) as sim, SlackServer(token="xoxb-t", channels=("#soc",)) as slack:
        sim.stop_indexer_node(1)
        env_file = write_env(tmp_path, sim, slack, "xoxb-t", WAZUH_INDEXER_URL=",".join(sim.indexer_urls))
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), "check-config", "--connect"], stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    first, dead, third = sim.indexer_urls
    assert any(f"Wazuh indexer node {first}: ok (node " in line for line in lines), lines
    assert any(f"Wazuh indexer node {dead}: FAILED" in line and "refused" in line for line in lines), lines
    assert any(f"Wazuh indexer node {third}: ok" in line for line in lines), lines
    assert any(line.startswith("  Wazuh indexer: ok") for line in lines), lines  # the cluster answers
    assert code == 3


# -- 2. permissions --------------------------------------------------------------------------------------------


def test_a_missing_search_permission_is_one_backend_alert_that_says_what_to_grant(
    clock: FakeClock, tmp_path: Path, fleet: Fleet
) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.indexer_permissions = {"admin": ("wazuh-alerts-4.x-2026.12.01",)}  # not the newer daily index
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    error = result.backend_errors["indexer"]
    assert "user 'admin' lacks the permission indices:data/read/search on 'wazuh-alerts-4.x-*'" in error
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}


def test_check_config_connect_says_which_permission_to_grant(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=12, started=datetime.now(UTC) - timedelta(hours=2))
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n")
    with SimulatorServer(fleet) as sim, SlackServer(token="xoxb-t", channels=("#soc",)) as slack:
        sim.indexer_permissions = {"admin": ("wazuh-archives-*",)}
        env_file = write_env(tmp_path, sim, slack, "xoxb-t")
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), "check-config", "--connect"], stdout=out, stderr=err)
    line = next(line for line in out.getvalue().splitlines() if line.startswith("  Wazuh indexer: FAILED"))
    assert "grant a role with indices:data/read/search on wazuh-alerts-4.x-*" in line
    assert code == 3


# -- 5. load ---------------------------------------------------------------------------------------------------


def test_a_few_overloaded_answers_are_retried_with_backoff_and_the_pass_is_clean(
    clock: FakeClock, tmp_path: Path, fleet: Fleet
) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.faults.overloaded_next = 2
    started = clock.monotonic()
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    assert result.backend_errors == {}
    assert clock.monotonic() - started >= 1.5  # waited 0.5 s, then 1 s (the fake clock's time)


@pytest.mark.parametrize("mode", ["overloaded", "breaker"])
def test_an_indexer_shedding_load_is_reported_as_load_not_as_an_outage(
    clock: FakeClock, tmp_path: Path, fleet: Fleet, mode: str
) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.faults.indexer_mode = mode
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    assert "the indexer is overloaded (HTTP 429" in result.backend_errors["indexer"]
    assert rig.sim.stats.indexer_errors == 3  # retried


def test_every_shard_failing_is_an_outage(clock: FakeClock, tmp_path: Path, fleet: Fleet) -> None:
    rig = Rig(clock, tmp_path, fleet)
    rig.sim.faults.indexer_mode = "all_shards_failed"
    with rig.sim, rig.app(TARGETS) as app:
        result = app.monitor.run_once()
    assert "every shard failed (the indexer is down)" in result.backend_errors["indexer"]
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}


def test_a_page_over_the_clusters_max_buckets_is_halved_the_pass_finishes_and_the_setting_is_named(
    sim: SimulatorServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    whole = dict(indexer_of(sim, clock))
    sim.max_buckets = 2  # an admin lowered search.max_buckets far below a page
    with caplog.at_level(logging.WARNING), indexer(sim, clock) as client:
        stats = client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW)
    assert set(stats) == set(whole)  # every agent read, in smaller pages
    assert sim.stats.indexer_errors >= 1
    said = [r.getMessage() for r in caplog.records if "search.max_buckets" in r.getMessage()]
    assert len(said) == 1  # said once, with the setting to raise


def indexer_of(sim: SimulatorServer, clock: FakeClock) -> dict[tuple[str, ...], object]:
    with indexer(sim, clock) as client:
        return dict(client.last_events(since=HOUR_AGO, window_start=HOUR_AGO, until=NOW))


def test_check_config_connect_warns_when_do_not_fail_on_forbidden_hides_an_index(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=12, started=datetime.now(UTC) - timedelta(hours=2))
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n")
    with SimulatorServer(fleet) as sim, SlackServer(token="xoxb-t", channels=("#soc",)) as slack:
        sim.indexer_permissions = {"admin": ("wazuh-alerts-4.x-2026.12.01",)}
        sim.do_not_fail_on_forbidden = True  # the newer daily index is left out of every search, silently
        env_file = write_env(tmp_path, sim, slack, "xoxb-t")
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env_file), "check-config", "--connect"], stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("  Wazuh indexer: ok") for line in lines), lines  # the search itself succeeds
    warning = next(line for line in lines if line.startswith("  Wazuh indexer permissions: FAILED"))
    assert "wazuh-alerts-4.x-2026.12.02" in warning and "do_not_fail_on_forbidden" in warning
    assert "wazuh-alerts-4.x-2026.12.01" not in warning
    assert code == 3
