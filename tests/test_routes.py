"""Routes: routes.csv parsed with named errors; fan-out (`all`) and fall-back (`first`) through the outbox's lanes.

Real clients against loopback servers: slack_sdk against tests/slack_server.py, smtplib against aiosmtpd; the
kill -9 test runs `log_monitor.py once` as real processes against the simulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import ConfigError
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity, Target
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.routes import RECEIVER_KINDS, Route, Router, Routes, load_routes, parse_routes
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from tests.envfile import write_env
from tests.helpers import wait_for
from tests.mail import MailServer
from tests.slack_server import SlackServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-routes-secret-token"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


# -- routes.csv --------------------------------------------------------------------------------------------


def test_routes_csv_gives_each_route_its_mode_and_receivers_in_order(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text(
        "# the SOC's teams\nroute,mode,receivers\n"
        "linux,first,slack:#soc-linux|email:linux@example.org\n"
        "dc, all , slack:#soc-dc | EMAIL:dc@example.org; audit@example.org |pagerduty\n"
    )
    problems: list[str] = []
    routes = parse_routes(path, problems)
    assert problems == []
    assert routes.by_name["linux"].lanes() == ("first:slack:#soc-linux|email:linux@example.org",)
    assert routes.by_name["dc"].lanes() == ("slack:#soc-dc", "email:dc@example.org;audit@example.org", "pagerduty")
    assert routes.lanes("") == ("",)  # no default row: today's chain
    assert routes.lanes("nonexistent") == ("",)


def test_every_bad_row_of_routes_csv_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text(
        "route,mode,receivers\n"
        "a,some,slack\n"
        "b,all,fax\n"
        "# comment\n"
        "c,all,teams:#x\n"
        "d,all,\n"
        "a,all,console\n"
        "e,first,syslog:ftp://x:1\n"
    )
    problems: list[str] = []
    parse_routes(path, problems)
    assert [p.split(": ")[0] for p in problems] == [f"{path}:{n}" for n in (2, 3, 5, 6, 8)]
    assert "expected all or first" in problems[0] and "unknown kind 'fax'" in problems[1]
    assert "teams takes no destination" in problems[2] and "receivers: empty" in problems[3]
    assert "udp://HOST:PORT" in problems[4]


def test_a_route_naming_a_receiver_the_env_file_does_not_configure_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.csv"
    path.write_text("default,all,slack:#soc-dc|pagerduty|webhook\n")
    settings = Settings(env_file=tmp_path / "x.env", base_dir=tmp_path, routes_file=path)
    with pytest.raises(ConfigError) as caught:
        load_routes(settings)
    text = str(caught.value)
    assert f"{path}:1: receiver slack:#soc-dc needs SLACK_BOT_TOKEN" in text
    assert "receiver pagerduty needs PAGERDUTY_ROUTING_KEY" in text and "webhook needs WEBHOOK_URL" in text


def test_a_grouped_alert_goes_to_the_route_of_each_target_it_covers_once_per_route() -> None:
    routes = Routes(
        {
            "linux": Route("linux", "all", ("slack:#linux",), "r:1"),
            "dc": Route("dc", "all", ("slack:#dc", "email"), "r:2"),
        }
    )
    targets = [
        replace(Target.agent("001", "web", 60.0), route="linux"),
        replace(Target.agent("002", "web2", 60.0), route="linux"),
        replace(Target.agent("003", "dc1", 60.0), route="dc"),
        Target.agent("004", "other", 60.0),
    ]
    router = Router(routes, lambda: targets)
    pipeline = note("pipeline", related=("agent:001", "agent:002", "agent:003"))
    assert router.lanes_of(pipeline) == ("slack:#linux", "slack:#dc", "email")
    assert router.lanes_of(note("agent:003:Security")) == ("slack:#dc", "email")  # a location takes its agent's
    assert router.lanes_of(note("agent:004")) == ("",)


def test_the_alert_about_a_broken_receiver_goes_through_the_routes_other_receivers() -> None:
    routes = Routes({"default": Route("default", "all", ("slack", "email"), "r:1")})
    router = Router(routes, list)
    down = replace(note("channel:slack"), kind=NotificationKind.CHANNEL_DOWN, label="slack")
    assert router.lanes_of(down) == ("email",)
    alone = Router(Routes({"default": Route("default", "all", ("slack",), "r:1")}), list)
    assert alone.lanes_of(down) == ("",)  # today's chain, whose other channels take it


# -- delivery through lanes ----------------------------------------------------------------------------------


def note(
    target_key: str, number: int = 1, kind: NotificationKind = NotificationKind.ALERT, **extra: object
) -> Notification:
    agent = target_key.split(":")[1] if target_key.startswith("agent:") else None
    fields: dict[str, object] = {
        "id": f"{kind.value}-{target_key}-{number}",
        "created_at": T0 + timedelta(seconds=number),
        "kind": kind,
        "severity": Severity.CRITICAL if kind is not NotificationKind.RECOVERY else Severity.OK,
        "target_key": target_key,
        "label": f"host-{agent}",
        "condition": Condition.SILENT if kind is not NotificationKind.RECOVERY else Condition.OK,
        "host": "soc-monitor",
        "agent_id": agent,
        "silent_for_s": 3600.0,
    }
    fields.update(extra)
    return Notification(**fields)  # type: ignore[arg-type]


@dataclass
class Rig:
    slack: SlackServer
    mail: MailServer
    db: Path

    def slack_channel(self) -> SlackNotifier:
        slack = SlackNotifier(
            token=Secret(TOKEN), channel="#soc", api_url=self.slack.api_url, timeout=0.5, connect_retry_s=0.01
        )
        slack.name = "slack"
        return slack

    def email(self) -> SmtpNotifier:
        return SmtpNotifier(
            host="127.0.0.1",
            port=self.mail.port,
            security="none",
            sender="monitor@example.org",
            recipients=["soc@example.org"],
            timeout=2.0,
        )

    def dispatcher(self, store: StateStore, lanes: dict[str, list[Notifier]]) -> Dispatcher:
        store.lanes_of = lambda n: tuple(lanes)
        return Dispatcher(
            store, [self.slack_channel()], FakeClock(T0), sleep=lambda s: None, host="soc-monitor", lanes=lanes
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    mail = MailServer()
    mail.up()
    try:
        with SlackServer(token=TOKEN, channels=("#soc",)) as slack:
            yield Rig(slack, mail, tmp_path / "state.sqlite3")
    finally:
        mail.down()


def test_a_fan_out_route_delivers_to_slack_and_email_each_once(rig: Rig) -> None:
    with StateStore(rig.db) as store:
        dispatcher = rig.dispatcher(store, {"slack": [rig.slack_channel()], "email": [rig.email()]})
        store.queue([note("agent:001")])
        report = dispatcher.deliver_pending()
        again = dispatcher.deliver_pending(force=True)
        rows = {(e.receiver, e.channel) for e in store.recent()}
    assert (report.delivered, report.messages, again.delivered) == (2, 2, 0)
    assert len(rig.slack.messages) == 1 and len(rig.mail.received) == 1
    assert rows == {("slack", "slack"), ("email", "email")}


def test_a_fan_out_receiver_that_fails_holds_back_only_its_own_lane_and_gets_it_later(rig: Rig) -> None:
    rig.slack.set_mode("down")
    with StateStore(rig.db) as store:
        dispatcher = rig.dispatcher(store, {"slack": [rig.slack_channel()], "email": [rig.email()]})
        store.queue([note("agent:001", 1), note("agent:001", 2, NotificationKind.RECOVERY)])
        first = dispatcher.deliver_pending()
        assert (first.delivered, first.failed) == (2, 1)  # email took both; Slack's first failed, its second waits
        assert len(rig.mail.received) == 2
        rig.slack.set_mode("ok")
        second = dispatcher.deliver_pending(force=True)
    assert second.delivered == 2 and len(rig.mail.received) == 2
    # In the order they were raised: the recovery after the alert.
    assert ["RECOVERED" in str(m["text"]) for m in rig.slack.messages] == [False, True]


def test_a_fall_back_route_still_falls_back_and_sends_once(rig: Rig) -> None:
    rig.slack.set_mode("500")
    with StateStore(rig.db) as store:
        chain = "first:slack|email"
        dispatcher = rig.dispatcher(store, {chain: [rig.slack_channel(), rig.email()]})
        store.queue([note("agent:001")])
        report = dispatcher.deliver_pending()
        [entry] = store.recent()
    assert report.delivered == 1 and entry.channel == "email" and entry.receiver == chain
    assert len(rig.mail.received) == 1 and rig.slack.messages == []


# -- kill -9 between two receivers -----------------------------------------------------------------------


def test_fan_out_survives_kill_9_between_its_receivers(tmp_path: Path) -> None:
    """Email delivers (and is marked), Slack hangs, the process is killed: the next run sends Slack only."""
    now = datetime.now(UTC)
    fleet = Fleet()
    for agent_id in ("001", "002"):
        fleet.add_agent(agent_id, f"host-{agent_id}", rate_per_min=30, started=now - timedelta(hours=2))
    fleet.silence("002", since=now - timedelta(hours=1))
    mail = MailServer()
    mail.up()
    try:
        with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
            (tmp_path / "agents.csv").write_text("001,host-001,5m\n002,host-002,5m\n")
            (tmp_path / "routes.csv").write_text("route,mode,receivers\ndefault,all,email|slack\n")
            env = write_env(
                tmp_path,
                sim,
                slack,
                TOKEN,
                ROUTES_FILE="routes.csv",
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(mail.port),
                SMTP_SECURITY="none",
                SMTP_FROM="monitor@example.org",
                SMTP_TO="soc@example.org",
            )
            slack.set_mode("hang")
            victim = start_once(env)
            try:
                assert wait_for(lambda: len(mail.received) == 1 and "/api/chat.postMessage" in slack.requests)
            finally:
                victim.kill()
                victim.wait(timeout=10)
            slack.set_mode("ok")
            slack.release.set()
            clean = start_once(env)
            assert clean.wait(timeout=30) == 2
            assert len(mail.received) == 1  # not again
            assert len(slack.messages) == 1 and "host-002" in str(slack.messages[0]["text"])
    finally:
        mail.down()


def start_once(env: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "log_monitor.py"), "once", "--env-file", str(env)],
        cwd=env.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
    )


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_routes_file_parses_into_routes_or_named_problems_never_an_exception(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "routes.csv"
        path.write_text(text, encoding="utf-8")
        problems: list[str] = []
        routes = parse_routes(path, problems)
    assert all(p.startswith(f"{path}:") for p in problems)
    for route in routes.by_name.values():
        assert route.mode in ("all", "first") and route.receivers
        assert all(r.partition(":")[0] in RECEIVER_KINDS for r in route.receivers)
