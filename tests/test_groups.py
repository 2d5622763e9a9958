"""Policies by Wazuh agent group: groups.csv rows, agents.csv overriding them field by field, discovery by group.

In-process passes run against the simulator (which lists agents by `group` and serves GET /groups as the
real API does) with a fake clock; check-config and the route checks run through the CLI.
"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import ConfigError
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.targets import load_groups, load_targets
from tests.daemon_process import TOKEN, Daemon
from tests.helpers import wait_for
from tests.monitor_rig import INTERVAL, NOW, Rig, agent
from tests.slack_server import SlackServer

GROUPS = (
    "group,interval,threshold,files,maintenance,drop_ratio,route\n"
    "domain-controllers,2m,6m,Security|System,Sun 02:00-04:00,0.2,dc\n"
    "linux-servers,10m,,/var/log/auth.log,,,linux\n"
    "default,30m,,,,,\n"
)
ROUTES = "route,mode,receivers\nlinux,all,console\ndc,all,console\n"


def settings(folder: Path, agents: str, groups: str = GROUPS, **changes: object) -> Settings:
    (folder / "agents.csv").write_text(agents)
    (folder / "groups.csv").write_text(groups)
    (folder / "routes.csv").write_text(ROUTES)
    base = Settings(
        env_file=folder / "log_monitor.env",
        base_dir=folder,
        agent_list_file=folder / "agents.csv",
        groups_file=folder / "groups.csv",
        routes_file=folder / "routes.csv",
        default_check_interval_s=900.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_agent_takes_the_first_group_row_in_file_order_that_names_one_of_its_groups(tmp_path: Path) -> None:
    policies = load_groups(settings(tmp_path, ""))
    first = policies.policy_for(["default", "linux-servers", "domain-controllers"])
    assert first is not None and first.group == "domain-controllers"
    linux = policies.policy_for(["default", "linux-servers"])
    assert linux is not None and linux.group == "linux-servers"
    assert policies.policy_for(["windows-workstations"]) is None


def test_an_agents_csv_row_overrides_its_group_row_field_by_field(tmp_path: Path) -> None:
    folder_settings = settings(
        tmp_path,
        "agent_id,label,interval,threshold,files,maintenance,drop_ratio,route\n"
        "001,dc-1,,20m,,,,\n002,web-1,5m,,/var/log/nginx/error.log,,,\n003,dc-2\n",
    )
    targets = load_targets(folder_settings)
    groups = load_groups(folder_settings)
    applied = {t.key: t for t in groups.apply(targets, {"001": ("domain-controllers",), "002": ("linux-servers",)})}
    dc = applied["agent:001"]
    # Its own threshold; the group's interval, windows, drop ratio and route; the group's files added.
    assert (dc.interval_s, dc.threshold_s, dc.drop_ratio, dc.route) == (120.0, 1200.0, 0.2, "dc")
    assert [w.text for w in dc.maintenance] == ["Sun 02:00-04:00"]
    assert {"agent:001:Security", "agent:001:System"} <= applied.keys()
    web = applied["agent:002"]
    # Its own interval (and the threshold that follows it), its own files; the group's route.
    assert (web.interval_s, web.threshold_s, web.route) == (300.0, 300.0, "linux")
    assert "agent:002:/var/log/auth.log" not in applied and "agent:002:/var/log/nginx/error.log" in applied
    assert applied["agent:002:/var/log/nginx/error.log"].route == "linux"
    # In no group the file names: the defaults, as before groups existed.
    assert (applied["agent:003"].interval_s, applied["agent:003"].route) == (900.0, "")


def test_every_bad_groups_csv_row_is_named_by_file_and_line(tmp_path: Path) -> None:
    bad = (
        "group,interval,threshold,files,maintenance,drop_ratio,route\n"
        ",5m\nlinux,often\nlinux,5m\nlinux,5m\nx,,,,25:00-26:00\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_groups(settings(tmp_path, "", groups=bad))
    path = tmp_path / "groups.csv"
    assert [p.split(": ")[0] for p in caught.value.problems] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]


def test_a_route_that_routes_csv_does_not_define_is_a_configuration_error_naming_its_line(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("001,web-1,,,,,,sales\n")
    (tmp_path / "groups.csv").write_text("linux-servers,,,,,,ops\n")
    (tmp_path / "routes.csv").write_text("linux,all,console\n")
    env = tmp_path / "log_monitor.env"
    env.write_text("AGENT_LIST_FILE=agents.csv\nGROUPS_FILE=groups.csv\nROUTES_FILE=routes.csv\nSTATE_DB=s.db\n")
    err = io.StringIO()
    assert main(["check-config", "--env-file", str(env)], stdout=io.StringIO(), stderr=err) == 78
    assert f"{tmp_path / 'agents.csv'}:1: route: 'sales' is not defined" in err.getvalue()
    assert f"{tmp_path / 'groups.csv'}:1: route: 'ops' is not defined" in err.getvalue()


# -- against the simulator ---------------------------------------------------------------------------------


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    fleet = Fleet(now=clock.now)
    for number, groups in ((1, ["default", "linux-servers"]), (2, ["default", "domain-controllers"]), (3, ["default"])):
        fleet.add_agent(f"00{number}", f"host-{number}", rate_per_min=6, started=NOW - timedelta(hours=3))
        fleet.set_groups(f"00{number}", groups)
    made = Rig(clock, tmp_path, fleet)
    with made.sim:
        yield made


def write_group_files(folder: Path) -> dict[str, object]:
    (folder / "groups.csv").write_text(GROUPS)
    (folder / "routes.csv").write_text(ROUTES)
    return {"groups_file": folder / "groups.csv", "routes_file": folder / "routes.csv"}


def test_a_listed_agent_takes_its_wazuh_groups_policy_at_start(rig: Rig) -> None:
    files = write_group_files(rig.folder)
    with rig.app([agent("001", "host-1"), agent("003", "host-3")], **files) as app:
        targets = {t.key: t for t in app.monitor.targets}
    # agent() sets the interval as an agents.csv row would not: given is empty, so the group's policy fills it.
    assert (targets["agent:001"].interval_s, targets["agent:001"].route) == (600.0, "linux")
    assert "agent:001:/var/log/auth.log" in targets
    assert targets["agent:003"].interval_s == 1800.0  # the `default` group's row


def test_a_group_row_applies_to_an_agent_enrolled_later_from_the_next_listing_on(rig: Rig) -> None:
    files = write_group_files(rig.folder)
    with rig.app([], agent_discovery=True, discovery_groups=("linux-servers", "domain-controllers"), **files) as app:
        first = app.monitor.run_once()
        assert {r.target.key for r in first.rows} >= {"agent:001", "agent:002"}
        assert "agent:003" not in {r.target.key for r in first.rows}  # in no watched group
        rig.fleet.add_agent("004", "dc-new", rate_per_min=6, started=rig.clock.now())
        rig.fleet.set_groups("004", ["default", "domain-controllers"])
        rig.clock.advance(INTERVAL)
        assert "agent:004" not in {t.key for t in app.monitor.targets}  # the group listing is 15 minutes old at most
        rig.clock.advance(15 * 60)
        app.monitor.run_once()
        targets = {t.key: t for t in app.monitor.targets}
    new = targets["agent:004"]
    assert (new.interval_s, new.threshold_s, new.route) == (120.0, 360.0, "dc")
    assert {"agent:004:Security", "agent:004:System"} <= targets.keys()
    assert "groups:linux-servers|domain-controllers" in new.origin


def test_check_config_connect_lists_the_groups_the_manager_does_not_have(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.add_agent("001", "host-1")
    fleet.set_groups("001", ["default", "linux-servers"])
    with SimulatorServer(fleet) as sim:
        (tmp_path / "agents.csv").write_text("001,host-1\n")
        (tmp_path / "groups.csv").write_text(GROUPS)
        (tmp_path / "routes.csv").write_text(ROUTES)
        env = tmp_path / "log_monitor.env"
        env.write_text(
            f"WAZUH_API_URL={sim.api_url}\nWAZUH_API_USER=wazuh\nWAZUH_API_PASSWORD=wazuh\n"
            "AGENT_LIST_FILE=agents.csv\nSTATE_DB=s.db\nAGENT_DISCOVERY=groups:linux-servers|web-farm\n"
            "GROUPS_FILE=groups.csv\nROUTES_FILE=routes.csv\n"
        )
        out = io.StringIO()
        code = main(["check-config", "--connect", "--env-file", str(env)], stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert code == 3
    assert "agent group(s) the Wazuh manager does not have" in text
    assert f"domain-controllers ({tmp_path / 'groups.csv'}:2)" in text and "web-farm (AGENT_DISCOVERY)" in text
    assert "linux-servers (" not in text


def test_a_sighup_re_executes_the_daemon_so_the_groups_and_routes_apply_anew(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    fleet = Fleet()
    for agent_id in ("001", "002"):
        fleet.add_agent(agent_id, f"host-{agent_id}", rate_per_min=60, started=now - timedelta(hours=2))
    fleet.set_groups("002", ["default", "dbs"])
    fleet.silence("002", since=now - timedelta(hours=1))
    with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc", "#dba")) as slack:
        (tmp_path / "groups.csv").write_text("dbs,,,,,,dba\n")
        (tmp_path / "routes.csv").write_text("dba,first,slack:#dba\n")
        daemon = Daemon(tmp_path, sim, slack, GROUPS_FILE="groups.csv", ROUTES_FILE="routes.csv", REMINDER_INITIAL="2s")
        try:
            process = daemon.start_until_alerted()
            assert slack.messages[0]["channel"] == "#dba"
            process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: daemon.log_text().count("daemon started") >= 2), daemon.log_text()
            assert "re-executing" in daemon.log_text() and "reloaded:" not in daemon.log_text()
            assert wait_for(lambda: len(slack.messages) >= 2), daemon.log_text()
            assert {m["channel"] for m in slack.messages} == {"#dba"}  # the group's route, after the re-exec too
            assert daemon.terminate() == 0
        finally:
            daemon.stop()
