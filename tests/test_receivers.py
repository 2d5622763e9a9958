"""The webhook, PagerDuty and syslog receivers against loopback fakes that hold the real APIs' schemas and answers."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.app import build_lanes
from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import NotifierError
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.pagerduty import PagerDutyNotifier
from log_monitor.notifiers.syslog import SyslogNotifier
from log_monitor.notifiers.syslog import message as syslog_message
from log_monitor.notifiers.webhook import SIGNATURE_HEADER, WebhookNotifier
from log_monitor.routes import Route, Routes
from log_monitor.state import StateStore
from tests.receiver_servers import PagerDutyServer, SyslogCollector, WebhookServer, closed_port

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ROUTING_KEY = "R0UT1NGKEY00000000000000000000AB"
SECRET = "hook-shared-secret"


def alert(kind: NotificationKind = NotificationKind.ALERT, severity: Severity = Severity.CRITICAL) -> Notification:
    recovered = kind is NotificationKind.RECOVERY
    return Notification(
        id=f"{kind.value}-1",
        created_at=T0 + timedelta(minutes=1 if recovered else 0),
        kind=kind,
        severity=Severity.OK if recovered else severity,
        target_key="agent:002",
        label='dc-1 "primary"]',
        condition=Condition.OK if recovered else Condition.SILENT,
        host="soc-monitor",
        agent_id="002",
        agent_name="dc-1",
        last_event=T0 - timedelta(hours=1),
        silent_for_s=3600.0,
        detail="No event since 09:00.",
    )


# -- webhook ------------------------------------------------------------------------------------------------


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


def test_the_webhook_posts_the_versioned_payload_and_its_signature_verifies(hook: WebhookServer) -> None:
    WebhookNotifier(url=Secret(hook.url), secret=Secret(SECRET)).send(alert())
    [(headers, body)] = hook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)
    document = json.loads(body)
    assert document["version"] == 1
    assert {k: document[k] for k in ("id", "kind", "severity", "condition", "target", "agent_id")} == {
        "id": "alert-1",
        "kind": "alert",
        "severity": "CRITICAL",
        "condition": "silent",
        "target": "agent:002",
        "agent_id": "002",
    }
    assert document["created_at"] == T0.isoformat() and document["silent_for_s"] == 3600.0
    # A tampered body no longer verifies.
    tampered = body.replace(b"CRITICAL", b"WARNING!")
    assert headers[SIGNATURE_HEADER.lower()] != "sha256=" + hmac.new(SECRET.encode(), tampered, "sha256").hexdigest()


def test_the_webhook_without_a_secret_sends_no_signature(hook: WebhookServer) -> None:
    WebhookNotifier(url=Secret(hook.url)).send(alert())
    assert SIGNATURE_HEADER.lower() not in hook.requests[0][0]


@pytest.mark.parametrize(("status", "permanent"), [(503, False), (429, False), (500, False), (404, True), (401, True)])
def test_webhook_errors_are_transient_on_5xx_and_429_and_permanent_otherwise(
    hook: WebhookServer, status: int, permanent: bool
) -> None:
    hook.statuses = [status]
    with pytest.raises(NotifierError) as caught:
        WebhookNotifier(url=Secret(hook.url + "?token=s3cr3t")).send(alert())
    assert caught.value.permanent is permanent
    assert "s3cr3t" not in str(caught.value) and hook.url not in str(caught.value)


def test_a_webhook_answering_503_is_retried_and_the_alert_delivered_once(hook: WebhookServer, tmp_path: Path) -> None:
    hook.statuses = [503, 429]
    with StateStore(tmp_path / "s.db") as store:
        store.queue([alert()])
        webhook = WebhookNotifier(url=Secret(hook.url), secret=Secret(SECRET))
        report = Dispatcher(store, [webhook], FakeClock(T0), sleep=lambda s: None).deliver_pending()
    assert report.delivered == 1 and len(hook.requests) == 3
    assert len({json.loads(body)["id"] for _, body in hook.requests}) == 1


# -- PagerDuty ----------------------------------------------------------------------------------------------


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    with PagerDutyServer(ROUTING_KEY) as server:
        yield server


def pagerduty(pd: PagerDutyServer, key: str = ROUTING_KEY) -> PagerDutyNotifier:
    return PagerDutyNotifier(routing_key=Secret(key), url=pd.url)


def test_pagerduty_triggers_then_resolves_one_incident_with_the_targets_dedup_key(pd: PagerDutyServer) -> None:
    channel = pagerduty(pd)
    channel.send(alert())
    channel.send(alert(NotificationKind.ESCALATION))
    channel.send(alert(NotificationKind.RECOVERY))
    assert [e["event_action"] for e in pd.events] == ["trigger", "trigger", "resolve"]
    assert {e["dedup_key"] for e in pd.events} == {"agent:002"}
    assert pd.incidents == {"agent:002": "resolved"}
    assert pd.events[0]["payload"]["severity"] == "critical" and pd.events[0]["payload"]["source"] == "dc-1"


def test_pagerduty_maps_a_warning_to_warning(pd: PagerDutyServer) -> None:
    pagerduty(pd).send(alert(severity=Severity.WARNING))
    assert pd.events[0]["payload"]["severity"] == "warning"


def test_pagerduty_400_is_permanent_and_says_what_the_api_refused(pd: PagerDutyServer) -> None:
    with pytest.raises(NotifierError) as caught:
        pagerduty(pd, key="short").send(alert())
    assert caught.value.permanent and "routing_key" in str(caught.value) and "HTTP 400" in str(caught.value)
    assert "short" not in str(caught.value).replace("routing_key", "")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_pagerduty_429_and_5xx_are_transient(pd: PagerDutyServer, status: int) -> None:
    pd.statuses = [status]
    with pytest.raises(NotifierError) as caught:
        pagerduty(pd).send(alert())
    assert not caught.value.permanent and pd.events == []


# -- syslog -------------------------------------------------------------------------------------------------

RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z) (?P<host>\S+) log_monitor (?P<pid>\d+) "
    rb"(?P<msgid>\S+) \[log_monitor@32473 (?P<sd>(?:[a-z_]+=\"(?:[^\"\\\]]|\\[\"\\\]])*\" ?)+)\] "
    rb"\xef\xbb\xbf(?P<msg>.*)$",
    re.DOTALL,
)


@pytest.mark.parametrize("scheme", ["udp", "tcp"])
def test_syslog_sends_rfc_5424_messages_with_structured_data(scheme: str) -> None:
    with SyslogCollector(scheme) as collector:
        channel = SyslogNotifier(scheme, "127.0.0.1", collector.port)
        channel.send(alert())
        channel.send(alert(NotificationKind.RECOVERY))
        assert collector.received.wait(5)
        while len(collector.messages) < 2:
            collector.received.clear()
            assert collector.received.wait(5)
    first, second = (RFC5424.match(m) for m in collector.messages)
    assert first is not None and second is not None
    assert int(first["pri"]) == 16 * 8 + 2 and int(second["pri"]) == 16 * 8 + 5  # local0.crit, local0.notice
    assert first["ts"] == b"2026-12-07T10:00:00.000Z" and first["host"] == b"soc-monitor" and first["msgid"] == b"ALERT"
    assert b'target="agent:002"' in first["sd"] and b'severity="CRITICAL"' in first["sd"]
    assert "dc-1" in first["msg"].decode()


def test_syslog_escapes_quotes_and_brackets_in_structured_data() -> None:
    with SyslogCollector("tcp") as collector:
        SyslogNotifier("tcp", "127.0.0.1", collector.port).send(replace(alert(), target_key='agent:002:C:\\"x"]'))
        assert collector.received.wait(5)
    assert b'target="agent:002:C:\\\\\\"x\\"\\]"' in collector.messages[0]
    assert RFC5424.match(collector.messages[0]) is not None


def test_an_unreachable_tcp_collector_is_a_transient_error() -> None:
    with pytest.raises(NotifierError) as caught:
        SyslogNotifier("tcp", "127.0.0.1", closed_port(), timeout=2.0).send(alert())
    assert not caught.value.permanent


# -- wiring -------------------------------------------------------------------------------------------------


def test_routes_build_each_receiver_once_with_its_destination(tmp_path: Path, pd: PagerDutyServer) -> None:
    settings = Settings(
        env_file=tmp_path / "x.env",
        base_dir=tmp_path,
        webhook_url=Secret("https://hooks.example.org/x"),
        pagerduty_routing_key=Secret(ROUTING_KEY),
        pagerduty_url=pd.url,
        syslog_addr=("udp", "127.0.0.1", 514),
    )
    routes = Routes(
        {
            "a": Route("a", "all", ("webhook", "pagerduty", "syslog"), "r:1"),
            "b": Route("b", "first", ("pagerduty", "syslog:tcp://127.0.0.1:6514", "console"), "r:2"),
        }
    )
    lanes = build_lanes(replace(settings), routes, [])
    assert [c.name for c in lanes["first:pagerduty|syslog:tcp://127.0.0.1:6514|console"]] == [
        "pagerduty",
        "syslog:tcp://127.0.0.1:6514",
        "console",
    ]
    assert lanes["pagerduty"][0] is lanes["first:pagerduty|syslog:tcp://127.0.0.1:6514|console"][0]
    assert lanes["syslog"][0].name == "syslog"


def test_test_alert_and_check_config_cover_every_receiver_the_routes_name(hook: WebhookServer, tmp_path: Path) -> None:
    (tmp_path / "routes.csv").write_text("route,mode,receivers\nsoar,all,webhook|console\n")
    (tmp_path / "agents.csv").write_text("001,web-1,,,,,,soar\n")
    env = tmp_path / "log_monitor.env"
    env.write_text(
        f"WEBHOOK_URL={hook.url}\nWEBHOOK_SECRET={SECRET}\nROUTES_FILE=routes.csv\nAGENT_LIST_FILE=agents.csv\n"
        "STATE_DB=s.db\n"
    )
    out = io.StringIO()
    assert main(["test-alert", "--env-file", str(env)], stdout=out, stderr=io.StringIO()) == 0
    assert "webhook: ok" in out.getvalue() and "console: ok" in out.getvalue()
    assert json.loads(hook.requests[0][1])["kind"] == "test"
    out = io.StringIO()
    assert main(["check-config", "--env-file", str(env)], stdout=out, stderr=io.StringIO()) == 0
    assert "route soar (all): webhook | console" in out.getvalue()
    assert hook.url not in out.getvalue()


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80))
@settings(max_examples=200, deadline=None)
def test_any_target_key_is_escaped_into_structured_data_and_reads_back_the_same(key: str) -> None:
    raw = syslog_message(replace(alert(), target_key=key))
    matched = RFC5424.match(raw)
    assert matched is not None
    value = re.search(rb'target="((?:[^"\\\]]|\\["\\\]])*)"', matched["sd"])
    assert value is not None
    assert re.sub(rb'\\(["\\\]])', rb"\1", value.group(1)).decode() == key


def test_test_alert_with_a_route_naming_an_unconfigured_receiver_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "routes.csv").write_text("soar,all,pagerduty\n")
    env = tmp_path / "log_monitor.env"
    env.write_text("ROUTES_FILE=routes.csv\nSTATE_DB=s.db\n")
    err = io.StringIO()
    assert main(["test-alert", "--env-file", str(env)], stdout=io.StringIO(), stderr=err) == 78
    assert f"{tmp_path / 'routes.csv'}:1: receiver pagerduty needs PAGERDUTY_ROUTING_KEY" in err.getvalue()
