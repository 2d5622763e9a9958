"""Wazuh as it runs in production (REALITY.md §8-§9): restarts, stopped and refused agents, clusters, re-enrolment."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from log_monitor import reenrol
from log_monitor.app import build
from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.demo import demo_setup
from log_monitor.errors import ConfigError
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity, Target, TargetState
from log_monitor.monitor import PassResult
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.render import fields, plain_text, title
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from log_monitor.status.http import StatusServer
from log_monitor.targets import load_targets
from log_monitor.top import TopModel, render
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from tests.monitor_rig import INTERVAL, NOW, Rig, agent

FLEET = [f"{n:03d}" for n in range(1, 7)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock(NOW)
    fleet = Fleet(now=clock.now)
    for agent_id in FLEET:
        fleet.add_agent(agent_id, f"web-{agent_id}", started=NOW - timedelta(hours=2))
    made = Rig(clock, tmp_path, fleet)
    with made.sim:
        yield made


def api_only(rig: Rig, targets: list[Target], **changes: Any) -> Any:
    return rig.app(targets, wazuh_indexer_url=None, wazuh_indexer_user=None, wazuh_indexer_password=None, **changes)


def sent(result: PassResult) -> list[tuple[NotificationKind, str]]:
    return [(n.kind, n.target_key) for n in result.notifications]


ALERT = Notification(
    id="n1",
    created_at=NOW,
    kind=NotificationKind.ALERT,
    severity=Severity.CRITICAL,
    target_key="agent:005",
    label="",
    condition=Condition.SILENT,
    host="monitor-1",
    silent_for_s=3600.0,
)
TARGETS = [agent(agent_id, f"web-{agent_id}") for agent_id in FLEET]


# -- item 2: status_code ---------------------------------------------------------------------------------


def test_a_manager_restart_alerts_no_agent_within_restart_grace_api_only(rig: Rig) -> None:
    with api_only(rig, TARGETS) as app:
        assert sent(app.monitor.run_once()) == []
        rig.clock.advance(INTERVAL)
        rig.fleet.restart_manager()  # every agent: disconnected, status_code 5, until its next keepalive
        rig.clock.advance(60)
        during = app.monitor.run_once()
        assert sent(during) == []
        assert {row.state.severity for row in during.rows} == {Severity.UNKNOWN}
        assert "manager restart" in during.rows[0].observation.detail
        rig.fleet.reconnect()
        rig.clock.advance(60)
        after = app.monitor.run_once()
    assert sent(after) == []
    assert after.exit_code == 0


def test_an_agent_still_reset_after_restart_grace_is_alerted_as_disconnected(rig: Rig) -> None:
    with api_only(rig, TARGETS[:1], restart_grace_s=600.0) as app:
        app.monitor.run_once()
        rig.fleet.restart_manager()
        rig.clock.advance(601)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:001")]
    assert result.notifications[0].condition is Condition.DISCONNECTED
    assert "reset by a manager restart" in result.notifications[0].detail


@pytest.mark.parametrize(
    ("code", "words"),
    [(3, "stopped on purpose"), (1, "version is newer than the manager's")],
)
def test_a_stopped_or_refused_agent_is_named_so_in_its_alert(rig: Rig, code: int, words: str) -> None:
    with rig.app(TARGETS[:2]) as app:
        app.monitor.run_once()
        rig.fleet.set_status("002", "disconnected", code=code)
        rig.fleet.silence("002")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:002")]
    assert words in result.notifications[0].detail
    assert words in rig.out.getvalue()


# -- item 8: honest words without the API or the indexer ----------------------------------------------------


def write_env(folder: Path, **values: str) -> Path:
    path = folder / "test.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def test_api_only_once_status_and_check_config_tell_one_truth_keepalive_only(tmp_path: Path) -> None:
    # `once` runs on this host's clock: the fleet starts at it, or the clock check would (rightly) refuse.
    clock = FakeClock(datetime.now(UTC))
    fleet = Fleet(now=clock.now)
    fleet.add_agent("001", "web-1", started=clock.now() - timedelta(hours=1))
    (tmp_path / "agents.csv").write_text("001,web-1\n")
    with SimulatorServer(fleet, clock=clock) as sim:
        env = write_env(
            tmp_path,
            WAZUH_URL=sim.api_url,  # a legacy API URL, as a new user copies it
            USERNAME="wazuh",
            PASSWORD="wazuh",
            AGENT_LIST_FILE=str(tmp_path / "agents.csv"),
            STATE_DB=str(tmp_path / "s.db"),
        )
        once, status, check = io.StringIO(), io.StringIO(), io.StringIO()
        code = main(["once", "--env-file", str(env)], stdout=once, stderr=io.StringIO())
        main(["status", "--env-file", str(env)], stdout=status, stderr=io.StringIO())
        main(["check-config", "--env-file", str(env)], stdout=check, stderr=check)
    assert code == 0, once.getvalue()
    for text in (once.getvalue(), status.getvalue()):
        row = next(line for line in text.splitlines() if line.startswith("agent:001"))
        assert "keepalive only" in row and "not counted" in row and "never" not in row, text
    assert "keepalive alone" in once.getvalue()
    assert "UNKNOWN" not in once.getvalue()
    assert "keepalive alone" in check.getvalue() and "UNKNOWN" not in check.getvalue()


def test_indexer_only_a_silence_says_no_events_and_claims_no_connection(rig: Rig) -> None:
    with rig.app(TARGETS[:1], wazuh_api_url=None, wazuh_api_user=None, wazuh_api_password=None) as app:
        app.monitor.run_once()
        rig.fleet.silence("001")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:001")]
    text = plain_text(result.notifications[0])
    assert "State: SILENT: no events" in text
    assert "connected" not in text


def test_with_the_api_a_silence_of_a_connected_agent_says_connected(rig: Rig) -> None:
    with rig.app(TARGETS[:1]) as app:
        app.monitor.run_once()
        rig.fleet.silence("001")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert "State: SILENT: connected, but no events" in plain_text(result.notifications[0])


def test_a_row_without_a_label_is_not_named_twice(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("005,\n")
    (target,) = load_targets(settings_for_files(tmp_path))
    note = replace(ALERT, label=target.label, agent_id="005", target_key=target.key)
    assert "agent 005 agent 005" not in plain_text(note)
    assert title(note).startswith("CRITICAL: agent 005 is ")
    assert ("Agent", "005") in fields(note)


def settings_for_files(folder: Path) -> Settings:
    return Settings(env_file=folder / "t.env", base_dir=folder, agent_list_file=folder / "agents.csv")


def test_agent_000_in_the_agents_file_is_a_configuration_error_that_says_why(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("# the manager\n000,manager\n001,web-1\n")
    with pytest.raises(ConfigError) as caught:
        load_targets(settings_for_files(tmp_path))
    (problem,) = caught.value.problems
    assert f"{tmp_path / 'agents.csv'}:2" in problem
    assert "agent 000 is the Wazuh manager" in problem and "syslog" in problem


def test_check_config_exits_78_for_agent_000(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("0,manager\n")
    env = write_env(tmp_path, AGENT_LIST_FILE=str(tmp_path / "agents.csv"))
    err = io.StringIO()
    assert main(["check-config", "--env-file", str(env)], stdout=io.StringIO(), stderr=err) == 78
    assert "agent 000 is the Wazuh manager" in err.getvalue()


def test_a_never_seen_agent_says_no_event_in_lookback_not_silent_for_7d(rig: Rig) -> None:
    # A location that sends nothing: no event in the whole LOOKBACK.
    quiet = Target.agent("001", "web-001", INTERVAL, location="/var/log/never.log")
    with rig.app([quiet]) as app:
        result = app.monitor.run_once()
    text = plain_text(result.notifications[0])
    assert "no event in the last 7d (LOOKBACK)" in text
    assert "Silent for" not in text


def test_an_agent_wazuh_does_not_know_says_not_registered_in_the_alert_and_in_status(rig: Rig) -> None:
    with rig.app([agent("042", "ghost")]) as app:
        result = app.monitor.run_once()
    text = plain_text(result.notifications[0])
    assert "NOT REGISTERED" in text and "does not know agent id 042" in text
    status = io.StringIO()
    env = write_env(rig.folder, STATE_DB=str(rig.folder / "state.sqlite3"), AGENT_LIST_FILE=str(rig.folder / "a.csv"))
    (rig.folder / "a.csv").write_text("042,ghost\n")
    main(["status", "--env-file", str(env)], stdout=status, stderr=io.StringIO())
    assert "not registered in Wazuh" in status.getvalue()


def test_api_only_an_agent_wazuh_does_not_know_alerts_not_registered(rig: Rig) -> None:
    with api_only(rig, [agent("042", "ghost")]) as app:
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:042")]
    assert "NOT REGISTERED" in title(result.notifications[0])


# -- item 6: the listing pages by id ----------------------------------------------------------------------


def test_an_agent_deleted_between_two_pages_skips_no_other_agent(rig: Rig) -> None:
    rig.fleet.add_agent("007", "web-007", started=NOW - timedelta(hours=2))
    connection = Connection(rig.sim.api_url, "wazuh", Secret("wazuh"), sleep=rig.clock.advance)
    with WazuhAPIHandler(connection, clock=rig.clock, page_size=3) as api:
        listing = api.iter_agents()
        first_page = [next(listing).id for _ in range(3)]
        rig.fleet.remove_agent("002")  # deleted while the listing is read: offsets would shift by one
        rest = [agent.id for agent in listing]
    assert first_page == ["001", "002", "003"]
    assert rest == ["004", "005", "006", "007"]


# -- item 3: cluster nodes ---------------------------------------------------------------------------------


def cluster_rig(rig: Rig, workers: dict[str, int]) -> list[Target]:
    """The fixture's six agents on the master, and `workers` more agents on each worker node."""
    targets = list(TARGETS)
    for number, (node, count) in enumerate(workers.items(), start=1):
        for n in range(count):
            agent_id = f"{number}{n:02d}"
            rig.fleet.add_agent(agent_id, f"{node}-{n}", started=NOW - timedelta(hours=2), node=node)
            targets.append(agent(agent_id, f"{node}-{n}"))
    return targets


def test_a_worker_node_that_dies_is_one_alert_naming_it_and_its_agents_then_one_recovery(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-1": 3, "worker-2": 5})
    with rig.app(targets) as app:
        assert sent(app.monitor.run_once()) == []
        rig.fleet.leave_cluster("worker-2")
        rig.clock.advance(INTERVAL + 31)
        down = app.monitor.run_once()
        assert sent(down) == [(NotificationKind.PIPELINE_SILENT, "node:worker-2")]
        note = down.notifications[0]
        assert sorted(note.related) == [f"agent:2{n:02d}" for n in range(5)]
        assert "node worker-2: 5 of 5 agents silent or disconnected since 2026-11-22 10:00 UTC" in note.detail
        assert "not in the cluster" in note.detail
        rig.clock.advance(INTERVAL)
        assert sent(app.monitor.run_once()) == []  # no per-agent alert while the node's alert stands
        rig.fleet.rejoin_cluster("worker-2")
        rig.clock.advance(60)
        back = app.monitor.run_once()
    assert sent(back) == [(NotificationKind.PIPELINE_RESTORED, "node:worker-2")]


def test_a_node_holding_most_of_the_fleet_is_still_named_not_the_whole_pipeline(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-2": 9})  # 9 of 15 agents: above PIPELINE_SILENCE_RATIO
    with rig.app(targets) as app:
        app.monitor.run_once()
        rig.fleet.leave_cluster("worker-2")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.PIPELINE_SILENT, "node:worker-2")]


def test_without_cluster_read_the_node_alert_says_it_cannot_tell_whether_the_node_left(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-2": 4})
    rig.sim.faults.cluster_denied = True
    with rig.app(targets) as app:
        app.monitor.run_once()
        for n in range(4):
            rig.fleet.silence(f"1{n:02d}")  # the node is up, its agents' events stop (its analysisd died)
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.PIPELINE_SILENT, "node:worker-2")]
    assert "no cluster:read" in result.notifications[0].detail


def test_a_silent_node_still_in_the_cluster_is_said_to_be_in_it(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-2": 4})
    with rig.app(targets) as app:
        app.monitor.run_once()
        for n in range(4):
            rig.fleet.silence(f"1{n:02d}")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert "the node is still in the cluster" in result.notifications[0].detail


def test_one_silent_agent_on_a_worker_is_its_own_alert(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-2": 4})
    with rig.app(targets) as app:
        app.monitor.run_once()
        rig.fleet.silence("100")
        rig.clock.advance(INTERVAL + 31)
        result = app.monitor.run_once()
    assert sent(result) == [(NotificationKind.ALERT, "agent:100")]


def test_the_status_json_metrics_and_page_show_agents_per_node(rig: Rig) -> None:
    targets = cluster_rig(rig, {"worker-1": 3, "worker-2": 5})
    with rig.app(targets) as app:
        rig.fleet.leave_cluster("worker-2")
        app.monitor.run_once()
        server = StatusServer(app, ("127.0.0.1", 0), None).start()
        try:
            body = httpx.get(server.url + "/api/targets", timeout=10).json()
            metrics = httpx.get(server.url + "/metrics", timeout=10).text
            page = httpx.get(server.url + "/", timeout=10).text
        finally:
            server.close()
    assert body["nodes"] == [
        {"node": "node01", "agents": 6, "connected": True},
        {"node": "worker-1", "agents": 3, "connected": True},
        {"node": "worker-2", "agents": 5, "connected": False},
    ]
    assert 'log_monitor_node_agents{node="worker-2"} 5.0' in metrics
    assert "Wazuh nodes" in page


def test_the_demo_shows_a_worker_node_going_down_and_a_disconnected_agent_that_blinds_nothing(
    tmp_path: Path,
) -> None:
    with demo_setup(tmp_path) as (settings, targets):
        out = io.StringIO()
        with build(settings, targets, channels=[ConsoleNotifier(out)], host="demo") as app:
            result = app.monitor.run_once()
    kinds = {(n.kind, n.target_key) for n in result.notifications}
    assert (NotificationKind.PIPELINE_SILENT, "node:worker-2") in kinds
    assert not any(key.startswith("agent:01") for _, key in kinds)  # the node's agents: one alert, not three
    rows = {row.target.key: row.state for row in result.rows}
    fw_edge = rows["agent:004:/var/log/syslog"]  # disconnected: not asked, so not UNKNOWN
    assert fw_edge.severity is not Severity.UNKNOWN and fw_edge.agent_status == "disconnected"
    assert rows["agent:005:Security"].severity is not Severity.UNKNOWN  # the agent after it is still judged
    assert "api" not in result.backend_errors


# -- item 4: re-enrolment ------------------------------------------------------------------------------------


def test_a_reenrolled_host_is_followed_to_its_new_id_with_one_notice(rig: Rig) -> None:
    watched = [*TARGETS, Target.agent("003", "web-003", 600.0, location="/var/log/syslog")]
    with rig.app(watched) as app:
        app.monitor.run_once()
        rig.fleet.reenrol("003", "014")  # reinstalled: the old agent removed, a new id for the same name
        rig.clock.advance(15 * 60)  # the next full listing
        first = app.monitor.run_once()
        rig.clock.advance(15 * 60)
        second = app.monitor.run_once()
        keys = {t.key: t for t in app.monitor.targets}
    notices = [n for n in first.notifications if n.kind is NotificationKind.REENROLLED]
    assert [title(n) for n in notices] == ["NOTICE: web-003 re-enrolled as 014 (003 removed)"]
    assert [n.kind for n in first.notifications] == [NotificationKind.REENROLLED]  # no "not registered" alert
    assert second.notifications == []
    assert "agent:003" not in keys and keys["agent:014:/var/log/syslog"].interval_s == 600.0
    rows = {row.target.key: row.state.severity for row in second.rows}
    assert rows["agent:014"] is Severity.OK and rows["agent:014:/var/log/syslog"] is Severity.OK


def test_after_a_restart_the_reenrolled_row_is_followed_without_a_second_notice(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.fleet.reenrol("003", "014")
        rig.clock.advance(15 * 60)
        app.monitor.run_once()
    rig.clock.advance(60)
    with rig.app(TARGETS) as app:  # the daemon's hourly re-exec: agents.csv still says 003
        result = app.monitor.run_once()
    assert result.notifications == []
    assert "agent:014" in {row.target.key for row in result.rows}


def test_check_config_connect_and_status_say_which_row_needs_its_id_updated(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text("001,web-001\n003,web-003\n")
    env = write_env(
        rig.folder,
        WAZUH_API_URL=rig.sim.api_url,
        WAZUH_API_USER="wazuh",
        WAZUH_API_PASSWORD="wazuh",
        WAZUH_INDEXER_URL=rig.sim.indexer_url,
        WAZUH_INDEXER_USER="admin",
        WAZUH_INDEXER_PASSWORD="admin",
        AGENT_LIST_FILE=str(rig.folder / "agents.csv"),
        STATE_DB=str(rig.folder / "state.sqlite3"),
    )
    with rig.app(TARGETS[:3]) as app:
        app.monitor.run_once()
        rig.fleet.reenrol("003", "014")
        rig.clock.advance(15 * 60)
        app.monitor.run_once()
    out, status = io.StringIO(), io.StringIO()
    code = main(["check-config", "--connect", "--env-file", str(env)], stdout=out, stderr=io.StringIO())
    main(["status", "--env-file", str(env)], stdout=status, stderr=io.StringIO())
    assert code == 3
    assert f"{rig.folder / 'agents.csv'}:2: agent 003 (web-003) re-enrolled as 014 (003 removed): update its id" in (
        out.getvalue()
    )
    assert "not known to the Wazuh API" not in out.getvalue()
    assert "re-enrolled as 014: update its id in the agents file" in status.getvalue()


# -- item 7: configured files, not only files that spoke ----------------------------------------------------


def test_files_star_also_watches_a_configured_file_that_never_sent_an_event(rig: Rig) -> None:
    rig.fleet.add_configured_file("001", "/var/log/app/error.log")
    learner = Target.agent("001", "web-001", INTERVAL, location="*")
    with rig.app([agent("001", "web-001"), learner]) as app:
        watched = sorted(t.location or "" for t in app.monitor.targets if t.location)
        result = app.monitor.run_once()
    assert watched == ["/var/log/app/error.log", "/var/log/syslog"]
    (note,) = result.notifications
    assert note.target_key == "agent:001:/var/log/app/error.log"
    assert "no event in the last 7d (LOOKBACK)" in plain_text(note)


def test_learning_configured_files_stays_within_its_share_of_the_api_budget(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    learners = [Target.agent(agent_id, agent_id, INTERVAL, location="*") for agent_id in FLEET]
    before = rig.sim.stats.api_requests
    with rig.app(learners, wazuh_indexer_url=None, wazuh_api_max_rpm=8):
        asked = rig.sim.stats.api_requests - before
    assert asked <= 2 + 2  # a login, 8 x 25% = 2 configurations, and the clock's / listing's first request
    assert "the configuration of 2 agents of 6 is read this start" in caplog.text


# -- the simulator's rate limit is the API's fixed window ---------------------------------------------------


def test_the_simulated_rate_limit_is_the_apis_fixed_window_not_a_sliding_one(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    with (
        SimulatorServer(Fleet(now=clock.now), clock=clock, max_rpm=3) as sim,
        httpx.Client(base_url=sim.api_url) as api,
    ):

        def status_at(second: float) -> int:
            clock.advance(second - (clock.monotonic() - start))
            return api.get("/").status_code  # 401 without a token: counted all the same, as the API counts it

        start = clock.monotonic()
        assert [status_at(s) for s in (0, 10, 20, 30, 59)] == [401, 401, 401, 429, 429]
        # At 61 s a new window opens (its first request counts 0): three more pass where a sliding
        # window (10 s and 20 s still inside it) would refuse the second.
        assert [status_at(s) for s in (61, 62, 63, 64, 65)] == [401, 401, 401, 401, 429]


def test_api_only_the_status_json_says_events_are_not_counted(rig: Rig) -> None:
    with api_only(rig, TARGETS[:1]) as app:
        app.monitor.run_once()
        server = StatusServer(app, ("127.0.0.1", 0), None).start()
        try:
            body = httpx.get(server.url + "/api/targets", timeout=10).json()
        finally:
            server.close()
    (row,) = body["targets"]
    assert row["events_counted"] is False and row["note"] == "keepalive only: events are not counted"


def test_a_reenrolment_is_only_a_newer_unwatched_id_with_the_last_known_name() -> None:
    targets = [agent("009", "web-1"), agent("011", "db-1"), agent("020", "mail-1")]
    states = {
        "agent:009": TargetState("agent:009", agent_name="web-1"),
        "agent:011": TargetState("agent:011", agent_name="db-1"),
        "agent:020": TargetState("agent:020", agent_name="mail-1"),
    }
    listed = {"005": "web-1", "014": "web-1", "016": "web-1", "012": "db-1", "021": "other"}
    # 009: 014 and 016 are newer with its name: the newest is the re-enrolment (005 is older: not it).
    # 011 is missing, and 012 is newer with its name.
    # 020: nobody took its name: still not registered.
    found = reenrol.find(targets, listed, states)
    assert [(m.old_id, m.new_id) for m in found] == [("009", "016"), ("011", "012")]
    assert reenrol.find([*targets, agent("016", "web-1")], listed, states)[0].new_id == "014"


def test_top_shows_an_agent_judged_by_keepalive_alone_as_not_counted(tmp_path: Path) -> None:
    web = agent("001", "web")
    with StateStore(tmp_path / "state.db") as store:
        store.commit([TargetState(web.key, agent_status="active", last_checked=NOW)], [])
        (row,) = TopModel([web], store).refresh(NOW)
    assert not row.counted
    console = Console(width=200, record=True)
    console.print(render([row], NOW))
    assert "not counted" in console.export_text() and "never" not in console.export_text()


def test_a_reload_that_brings_the_old_id_back_follows_it_at_once_without_a_new_listing(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.fleet.reenrol("003", "014")
        rig.clock.advance(15 * 60)
        app.monitor.run_once()
        full = app.monitor.agent_listings()
        app.monitor.reload_targets(TARGETS)  # SIGHUP: the agents file read again, 003 still in it
        rig.clock.advance(60)
        result = app.monitor.run_once()
        assert app.monitor.agent_listings() == full  # no listing needed
    keys = {row.target.key: row.state for row in result.rows}
    assert "agent:003" not in keys and keys["agent:014"].severity is Severity.OK
    assert result.notifications == []
