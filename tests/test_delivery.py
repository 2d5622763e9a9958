"""Delivery end to end: the outbox, the Slack -> email chain, grouping, channel health and the worker.

Real clients against loopback servers: slack_sdk against tests/slack_server.py, smtplib against aiosmtpd.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from log_monitor.app import Tuning, build
from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.daemon import Daemon
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity, Target
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.dispatch import DeliveryWorker, Dispatcher, Pacing
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from tests.helpers import notification
from tests.mail import MailServer
from tests.slack_server import SlackServer

TOKEN = "xoxb-delivery-secret-token"
SMTP_PASSWORD = "smtp-Pa55word-secret"
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass
class Rig:
    slack: SlackServer
    mail: MailServer
    db: Path
    clock: FakeClock
    sleeps: list[float]

    def channels(self, token: str = TOKEN) -> list[Notifier]:
        slack = SlackNotifier(
            token=Secret(token),
            channel="#soc",
            api_url=self.slack.api_url,
            timeout=0.5,
            connect_retry_s=0.01,
            sleep=self.sleeps.append,
        )
        email = SmtpNotifier(
            host="127.0.0.1",
            port=self.mail.port,
            security="none",
            sender="monitor@example.org",
            recipients=["soc@example.org"],
            timeout=2.0,
        )
        return [slack, email]

    def dispatcher(self, store: StateStore, token: str = TOKEN) -> Dispatcher:
        return Dispatcher(store, self.channels(token), self.clock, sleep=self.sleeps.append, host="soc-monitor")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    mail = MailServer()
    mail.up()
    try:
        with SlackServer(token=TOKEN, channels=("#soc",)) as slack:
            yield Rig(slack, mail, tmp_path / "state.sqlite3", FakeClock(T0), [])
    finally:
        mail.down()


def alert(number: int, label: str = "", agent_name: str | None = None) -> Notification:
    agent = f"{number:03d}"
    return Notification(
        id=f"alert-{number}",
        created_at=T0 + timedelta(seconds=number),
        kind=NotificationKind.ALERT,
        severity=Severity.CRITICAL if number % 2 else Severity.WARNING,
        target_key=f"agent:{agent}",
        label=label or f"host-{agent}",
        condition=Condition.SILENT,
        host="soc-monitor",
        agent_id=agent,
        agent_name=agent_name,
        last_event=T0 - timedelta(hours=1),
        silent_for_s=3600.0,
    )


def body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


# -- the fallback chain ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["500", "down"])
def test_when_slack_fails_or_is_down_the_alert_arrives_by_email(rig: Rig, mode: str) -> None:
    rig.slack.set_mode(mode)
    with StateStore(rig.db) as store:
        store.queue([alert(1)])
        report = rig.dispatcher(store).deliver_pending()
        assert store.outbox_depth() == 0
        [entry] = store.recent()
    assert report.delivered == 1
    assert entry.channel == "email"
    [msg] = rig.mail.received
    assert "agent 001 host-001" in str(msg["Subject"])
    assert rig.slack.messages == []


def test_a_transient_slack_error_is_retried_with_backoff_and_slack_delivers(rig: Rig) -> None:
    rig.slack.set_mode("500", failures=2)
    with StateStore(rig.db) as store:
        store.queue([alert(1)])
        rig.dispatcher(store).deliver_pending()
        [entry] = store.recent()
    assert entry.channel == "slack"
    assert len(rig.slack.messages) == 1
    assert rig.sleeps == [0.5, 1.0]  # tenacity's capped exponential backoff, through the injected sleep
    assert rig.mail.received == []


def test_with_both_channels_down_the_alert_waits_and_goes_out_once_when_they_return(rig: Rig) -> None:
    rig.slack.set_mode("down")
    rig.mail.down()
    with StateStore(rig.db) as store:
        dispatcher = rig.dispatcher(store)
        store.queue([alert(1)])
        first = dispatcher.deliver_pending()
        assert (first.delivered, first.failed, first.still_queued) == (0, 1, 1)
        [queued] = store.pending()
        assert queued.attempts == 1
        assert "slack" in (queued.last_error or "") and "email" in (queued.last_error or "")
        rig.slack.set_mode("ok")
        rig.mail.up()
        # Not due yet: the backoff holds it, so a flapping channel is not hammered.
        assert dispatcher.deliver_pending().delivered == 0
        rig.clock.advance(61)
        assert dispatcher.deliver_pending().delivered == 1
        rig.clock.advance(3600)
        assert dispatcher.deliver_pending().delivered == 0
    [message] = rig.slack.messages
    assert "Delayed: first raised at 2026-11-22 10:00:01 UTC" in message["text"]
    assert rig.mail.received == []


def test_an_alert_queued_while_both_channels_were_down_goes_out_once_after_a_restart(rig: Rig) -> None:
    rig.slack.set_mode("down")
    rig.mail.down()
    with StateStore(rig.db) as store:
        store.queue([alert(1), alert(2)])
        assert rig.dispatcher(store).deliver_pending().failed == 2
    # The process is gone; both channels come back; a new process opens the same state file.
    rig.slack.set_mode("ok")
    rig.mail.up()
    rig.clock.advance(120)
    with StateStore(rig.db) as store:
        report = rig.dispatcher(store).deliver_pending()
        assert report.delivered == 2
        assert store.outbox_depth() == 0
    with StateStore(rig.db) as store:
        assert rig.dispatcher(store).deliver_pending(force=True).delivered == 0
    assert len(rig.slack.messages) == 2
    assert all("Delayed" in m["text"] for m in rig.slack.messages)


def test_a_hanging_slack_costs_one_timeout_per_drain_and_email_carries_every_alert(rig: Rig) -> None:
    rig.slack.set_mode("hang")
    with StateStore(rig.db) as store:
        store.queue([alert(1), alert(2), alert(3)])
        dispatcher = Dispatcher(store, rig.channels(), rig.clock, sleep=rig.sleeps.append, attempts=1)
        report = dispatcher.deliver_pending()
    assert report.delivered == 3
    assert len(rig.mail.received) == 3
    assert rig.sleeps == []  # no backoff wait: one timeout, then Slack is skipped for the rest of the drain
    assert rig.slack.requests == ["/api/chat.postMessage"]


# -- channel health ---------------------------------------------------------------------------------


def test_invalid_auth_is_permanent_recorded_and_raises_one_alert_by_email_while_email_carries_the_alerts(
    rig: Rig,
) -> None:
    with StateStore(rig.db) as store:
        dispatcher = rig.dispatcher(store, token="xoxb-wrong-secret")
        store.queue([alert(1)])
        report = dispatcher.deliver_pending()
        store.queue([alert(2)])
        dispatcher.deliver_pending()
        [health] = [h for h in store.channel_health() if h.channel == "slack"]
        [email] = [h for h in store.channel_health() if h.channel == "email"]
    assert report.channel_errors["slack"].endswith("(permanent)")
    assert not health.ok and health.permanent
    assert "invalid_auth" in (health.last_error or "")
    assert health.failures == 2
    assert email.ok
    subjects = [str(m["Subject"]) for m in rig.mail.received]
    assert len(subjects) == 3  # two alerts, and one "channel failed" alert for the whole episode
    channel_down = [s for s in subjects if "notification channel slack failed permanently" in s]
    assert len(channel_down) == 1
    assert rig.slack.messages == []


def test_a_channel_that_works_again_ends_its_failure_episode(rig: Rig) -> None:
    with StateStore(rig.db) as store:
        store.queue([alert(1)])
        rig.dispatcher(store, token="xoxb-wrong-secret").deliver_pending()
        store.queue([alert(2)])
        rig.dispatcher(store).deliver_pending()
        [health] = [h for h in store.channel_health() if h.channel == "slack"]
    assert health.ok
    assert health.failing_since is None and health.alerted_at is None
    assert health.last_ok_at == T0


def test_status_and_check_config_show_a_permanently_failed_channel_and_test_alert_exits_1(
    rig: Rig, tmp_path: Path
) -> None:
    env = tmp_path / "log_monitor.env"
    values = {
        # Any loopback HTTP server will do: the Wazuh probe fails fast (404), only the channels matter here.
        "WAZUH_API_URL": rig.slack.base_url,
        "WAZUH_API_USER": "wazuh",
        "WAZUH_API_PASSWORD": "wazuh-pass",
        "AGENT_LIST_FILE": "agents.csv",
        "STATE_DB": str(rig.db),
        "SLACK_BOT_TOKEN": "xoxb-wrong-secret",
        "SLACK_CHANNEL": "#soc",
        "SLACK_API_URL": rig.slack.api_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(rig.mail.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "monitor@example.org",
        "SMTP_TO": "soc@example.org",
        "SMTP_USER": "",
        "LOG_FILE_PATH": "monitor.log",
        "LOGGING_LEVEL": "DEBUG",
    }
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items() if v))
    (tmp_path / "agents.csv").write_text("agent_id,label\n001,web\n")
    with StateStore(rig.db) as store:
        store.queue([alert(1)])
        rig.dispatcher(store, token="xoxb-wrong-secret").deliver_pending()

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["--env-file", str(env), *args], stdout=out, stderr=err)
        return code, out.getvalue(), err.getvalue()

    code, out, _ = run("status")
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("slack ")]
    assert "FAILED (permanent)" in line and "invalid_auth" in line
    assert "email" in out

    _, out, _ = run("check-config", "--connect")
    assert "channel slack: last delivery FAILED permanently" in out

    code, out, _ = run("test-alert")
    assert code == 1
    assert "slack: FAILED (permanent): Slack API error: invalid_auth" in out
    assert "email: ok" in out
    assert "TEST: log_monitor test alert" in str(rig.mail.received[-1]["Subject"])

    rig.slack.set_mode("500")
    env.write_text(env.read_text().replace("xoxb-wrong-secret", TOKEN))
    code, out, _ = run("test-alert")
    assert code == 1
    assert "slack: FAILED (transient)" in out

    rig.slack.set_mode("ok")
    code, out, _ = run("test-alert")
    assert (code, out.splitlines()) == (0, ["slack: ok", "email: ok"])
    log_text = (tmp_path / "monitor.log").read_text()
    assert "xoxb-wrong-secret" not in log_text and TOKEN not in log_text


# -- grouping ---------------------------------------------------------------------------------------


def test_two_hundred_agents_silent_in_one_pass_make_a_handful_of_slack_messages_within_slack_limits(
    rig: Rig,
) -> None:
    notes = [alert(n) for n in range(1, 201)]
    with StateStore(rig.db) as store:
        store.queue(notes)
        report = rig.dispatcher(store).deliver_pending()
        assert store.outbox_depth() == 0
        assert {e.channel for e in store.recent(500)} == {"slack"}
    assert report.delivered == 200
    assert 1 <= len(rig.slack.messages) <= 6
    listed = ""
    for message in rig.slack.messages:
        blocks = message["blocks"]
        assert len(blocks) <= 50
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) < 3000
        assert len(message["text"]) <= 4000
        listed += json.dumps(blocks)
    for n in notes:
        assert f"agent {n.agent_id} host-{n.agent_id}" in listed  # every agent is named somewhere
    assert "CRITICAL" in rig.slack.messages[0]["text"]


def test_a_grouped_message_escapes_a_label_that_would_ping_the_channel(rig: Rig) -> None:
    notes = [alert(n) for n in range(1, 6)] + [alert(6, label="<!channel> <https://evil.example|click>")]
    with StateStore(rig.db) as store:
        store.queue(notes)
        rig.dispatcher(store).deliver_pending()
    [message] = rig.slack.messages
    everything = message["text"] + json.dumps(message["blocks"])
    assert "<!channel>" not in everything
    assert "<https://evil" not in everything
    assert "&lt;!channel&gt;" in everything


def test_an_agent_name_with_cr_lf_cannot_inject_an_email_header_alone_or_in_a_group(rig: Rig) -> None:
    rig.slack.set_mode("down")
    evil = "web\r\nBcc: victim@example.org\r\nX-Injected: yes"
    with StateStore(rig.db) as store:
        store.queue([alert(1, label=evil, agent_name=evil)])
        rig.dispatcher(store).deliver_pending()
        store.queue([alert(n, label=evil) for n in range(2, 8)])
        rig.dispatcher(store).deliver_pending()
    assert len(rig.mail.received) == 2  # one alone, one group of six
    for msg in rig.mail.received:
        assert msg["Bcc"] is None
        assert msg["X-Injected"] is None
        # A long subject is folded (a newline followed by a space, RFC 5322); unfolded it is one line.
        subject = re.sub(r"\r?\n[ \t]", " ", str(msg["Subject"]))
        assert "\n" not in subject and "\r" not in subject
    single = re.sub(r"\r?\n[ \t]", " ", str(rig.mail.received[0]["Subject"]))
    assert "web Bcc: victim@example.org X-Injected: yes" in single
    assert "web Bcc: victim@example.org X-Injected: yes" in body(rig.mail.received[1])
    assert rig.mail.mailbox.envelopes[-1][1] == ["soc@example.org"]


def test_a_group_on_email_lists_every_notification_and_has_a_stable_message_id(rig: Rig) -> None:
    rig.slack.set_mode("500")
    with StateStore(rig.db) as store:
        store.queue([alert(n) for n in range(1, 6)])
        rig.dispatcher(store).deliver_pending()
    [msg] = rig.mail.received
    assert str(msg["Subject"]) == "5 notifications at once: 3 CRITICAL, 2 WARNING"
    assert str(msg["Message-ID"]).startswith("<group-")
    text = body(msg)
    for n in range(1, 6):
        assert f"agent {n:03d} host-{n:03d}" in text


# -- secrets ----------------------------------------------------------------------------------------


def test_no_secret_appears_in_any_message_log_line_or_stored_error(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.slack.set_mode("invalid_auth")
    rig.mail.down()
    login = SmtpNotifier(
        host="127.0.0.1",
        port=rig.mail.port,
        security="none",
        user="monitor",
        password=Secret(SMTP_PASSWORD),
        sender="monitor@example.org",
        recipients=["soc@example.org"],
        timeout=1.0,
    )
    slack = SlackNotifier(
        token=Secret(TOKEN), channel="#soc", api_url=rig.slack.api_url, timeout=0.5, sleep=rig.sleeps.append
    )
    with caplog.at_level(logging.DEBUG), StateStore(rig.db) as store:
        store.queue([alert(1)])
        report = Dispatcher(store, [slack, login], rig.clock, sleep=rig.sleeps.append).deliver_pending()
        rig.mail.up()  # up, but without AUTH: the login is refused
        rig.clock.advance(3600)
        report2 = Dispatcher(store, [slack, login], rig.clock, sleep=rig.sleeps.append).deliver_pending()
        stored = [e.last_error or "" for e in store.recent()] + [h.last_error or "" for h in store.channel_health()]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("log_monitor")]
    everything = " ".join(
        [*report.errors, *report2.errors, *stored, *ours, *(str(m) for m in rig.slack.messages)]
        + [m.as_string() for m in rig.mail.received]
    )
    assert "invalid_auth" in everything  # the errors are there ...
    for secret in (TOKEN, SMTP_PASSWORD):
        assert secret not in everything  # ... the secrets are not


# -- the worker -------------------------------------------------------------------------------------


class Gate:
    """A channel in front of another that holds each send until opened: whoever waits on delivery is stuck."""

    def __init__(self, inner: Notifier) -> None:
        self.name = inner.name
        self._inner = inner
        self.entered = threading.Event()  # a send is being held
        self.opened = threading.Event()
        self.held_too_long = False  # the test never opened it: someone waited on delivery instead

    def send(self, notification: Notification) -> None:
        self.entered.set()
        if not self.opened.wait(10):
            self.held_too_long = True
        self._inner.send(notification)


def test_the_worker_drains_the_outbox_while_the_checking_loop_keeps_going(rig: Rig) -> None:
    rig.slack.set_mode("hang")
    slack, email = rig.channels()
    gate = Gate(slack)
    with StateStore(rig.db) as store:
        dispatcher = Dispatcher(store, [gate, email], rig.clock, sleep=rig.sleeps.append, attempts=1)
        worker = DeliveryWorker(dispatcher, idle_s=5.0, min_wait_s=0.01)
        worker.start()
        try:
            passes = 0
            # The "checking loop": every pass queues an alert and wakes the worker; none may wait for Slack.
            for n in range(1, 11):
                store.queue([alert(n)])
                worker.wake()
                passes += 1
                time.sleep(0.02)
            loop_finished_while_held = gate.entered.wait(10) and not gate.held_too_long
            gate.opened.set()
            deadline = time.monotonic() + 10
            while store.outbox_depth() and time.monotonic() < deadline:
                time.sleep(0.02)
            depth = store.outbox_depth()
        finally:
            assert worker.stop(timeout=5)
    assert passes == 10
    assert loop_finished_while_held  # the worker was held inside Slack: the loop never waited on delivery
    assert depth == 0
    delivered_ids = "".join(m.as_string() for m in rig.mail.received)
    for n in range(1, 11):
        assert f"agent {n:03d}" in delivered_ids
    assert not worker.running


def test_a_synchronous_drain_waits_for_the_worker_so_no_notification_is_sent_twice(rig: Rig) -> None:
    with StateStore(rig.db) as store:
        store.queue([alert(n) for n in range(1, 4)])
        dispatcher = rig.dispatcher(store)
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(dispatcher.deliver_pending().delivered)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert sum(results) == 3
    assert len(rig.slack.messages) == 3


def test_a_daemon_tick_only_wakes_the_worker_so_a_hanging_slack_never_delays_the_checks(
    rig: Rig, tmp_path: Path
) -> None:
    rig.slack.set_mode("hang")
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=12, started=T0 - timedelta(hours=2))
    fleet.silence("001", since=T0 - timedelta(minutes=40))
    target = Target.agent("001", "web", 300)
    with SimulatorServer(fleet, clock=rig.clock) as sim:
        settings = Settings(
            env_file=tmp_path / "test.env",
            base_dir=tmp_path,
            wazuh_indexer_url=sim.indexer_url,
            wazuh_indexer_user="admin",
            wazuh_indexer_password=Secret("admin"),
            state_db=rig.db,
        )
        slack, email = rig.channels()
        gate = Gate(slack)
        # One try per channel: this test is about the tick not waiting, not about the retries.
        once = Tuning(delivery_attempts=1)
        with build(settings, [target], clock=rig.clock, channels=[gate, email], host="soc-monitor", tuning=once) as app:
            worker = DeliveryWorker(app.monitor.dispatcher, idle_s=5.0, min_wait_s=0.01)
            daemon = Daemon(app.monitor, worker=worker)
            worker.start()
            try:
                daemon.set_targets([target])
                result = daemon.tick()
                tick_finished_while_held = gate.entered.wait(10) and not gate.held_too_long
                gate.opened.set()
                deadline = time.monotonic() + 10
                while app.store.outbox_depth() and time.monotonic() < deadline:
                    time.sleep(0.02)
            finally:
                assert worker.stop(timeout=5)
    assert result is not None
    assert result.notifications and result.delivery is None  # handed to the worker, not delivered inline
    assert tick_finished_while_held  # the worker was held inside Slack: the check did not wait for it
    [msg] = rig.mail.received
    assert "agent 001 web" in str(msg["Subject"])


def test_after_one_timeout_past_the_retry_budget_the_next_channel_gets_the_alert_at_once(rig: Rig) -> None:
    rig.slack.set_mode("hang")
    with StateStore(rig.db) as store:
        store.queue([alert(1)])
        # Three tries allowed, but a hang spends the time budget on the first one.
        dispatcher = Dispatcher(
            store, rig.channels(), rig.clock, sleep=rig.sleeps.append, pacing=Pacing(retry_budget_s=0.2)
        )
        dispatcher.deliver_pending()
    assert rig.slack.requests == ["/api/chat.postMessage"]
    assert rig.sleeps == []
    assert len(rig.mail.received) == 1


# -- order per target and Slack's Retry-After -------------------------------------------------------


def recovery(number: int, at: datetime) -> Notification:
    agent = f"{number:03d}"
    return notification(
        id=f"recovery-{number}",
        created_at=at,
        kind=NotificationKind.RECOVERY,
        severity=Severity.OK,
        target_key=f"agent:{agent}",
        label=f"host-{agent}",
        condition=Condition.OK,
        agent_id=agent,
        last_event=None,
        silent_for_s=None,
    )


def slack_only(rig: Rig, store: StateStore) -> Dispatcher:
    slack = rig.channels()[0]
    return Dispatcher(store, [slack], rig.clock, sleep=rig.sleeps.append, attempts=1, group_min=100)


def test_a_recovery_never_overtakes_its_alert_in_backoff_while_other_targets_go_on(rig: Rig) -> None:
    rig.slack.set_mode("500", failures=1)  # Slack fails the first attempt only
    with StateStore(rig.db) as store:
        dispatcher = slack_only(rig, store)
        store.queue([alert(1)])
        assert dispatcher.deliver_pending().failed == 1  # the alert waits 60 s in backoff
        rig.clock.advance(10)
        store.queue([recovery(1, rig.clock.now()), alert(2)])
        worker_drain = dispatcher.deliver_pending()
        assert worker_drain.delivered == 1  # agent 002's alert: another target is not held up
        assert dispatcher.seconds_until_due() == 50.0  # the worker sleeps until the alert's retry, not 0
        rig.clock.advance(51)
        assert dispatcher.deliver_pending().delivered == 2
        assert store.outbox_depth() == 0
    texts = [m["text"] for m in rig.slack.messages]
    assert [("002" in t, "001" in t) for t in texts] == [(True, False), (False, True), (False, True)]
    assert "CRITICAL" in texts[1] and "Delayed" in texts[1]
    assert "CRITICAL" not in texts[2]  # the channel's last word on agent 001 is its recovery


def test_a_recovery_queued_with_its_failing_alert_in_one_drain_waits_for_it(rig: Rig) -> None:
    rig.slack.set_mode("500", failures=1)
    with StateStore(rig.db) as store:
        dispatcher = slack_only(rig, store)
        store.queue([alert(1), recovery(1, T0 + timedelta(seconds=5))])
        report = dispatcher.deliver_pending(force=True)  # `once` tries everything queued
        assert (report.delivered, report.failed) == (0, 1)
        rig.clock.advance(61)
        assert dispatcher.deliver_pending().delivered == 2
    first, second = (m["text"] for m in rig.slack.messages)
    assert "CRITICAL" in first and "CRITICAL" not in second


@pytest.mark.parametrize(("retry_after", "deferred_s"), [(120, 120), (7200, 900)])
def test_a_long_slack_retry_after_defers_the_notification_that_long_without_blocking_the_worker(
    rig: Rig, retry_after: int, deferred_s: int
) -> None:
    rig.slack.set_mode("429", failures=1)
    rig.slack.retry_after = retry_after
    with StateStore(rig.db) as store:
        dispatcher = Dispatcher(store, rig.channels()[:1], rig.clock, sleep=rig.sleeps.append)  # 3 tries allowed
        store.queue([alert(1)])
        assert dispatcher.deliver_pending().failed == 1
        assert rig.sleeps == []  # neither slack_sdk nor tenacity waited: the worker thread is free
        assert rig.slack.requests == ["/api/chat.postMessage"]  # and Slack was not asked again in the drain
        assert dispatcher.seconds_until_due() == deferred_s  # Retry-After (capped at 15 min), not the 60 s backoff
        rig.clock.advance(61)
        store.queue([alert(3)])  # a new alert meanwhile: Slack is resting, it is not called before its time
        assert dispatcher.deliver_pending().delivered == 0
        assert rig.slack.requests == ["/api/chat.postMessage"]
        rig.clock.advance(deferred_s - 60)
        assert dispatcher.deliver_pending().delivered == 2
    assert len(rig.slack.messages) == 2
