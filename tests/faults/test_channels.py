"""Slack and SMTP outages seen from the one-off pass: the alert stays queued and goes out exactly once later.

The CLI end to end (env file, simulator, fake Slack, aiosmtpd). Dispatcher-level detail (backoff, the
hanging channel, grouping) is in tests/test_delivery.py; this is the whole product across runs.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from log_monitor.app import Tuning
from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.models import Secret
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.notifiers.teams import TeamsNotifier
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from tests.envfile import write_env
from tests.faults.common import three_hosts_one_silent
from tests.helpers import notification
from tests.mail import MailServer
from tests.monitor_rig import NOW
from tests.slack_server import SlackServer
from tests.test_teams import Hook

TOKEN = "xoxb-channel-fault-token"
# Production backoff waits seconds between attempts; the outcome is the same without the waiting.
QUICK_DELIVERY = Tuning(delivery_attempts=1, channel_timeout_s=2.0, channel_retry_s=0.0)


@dataclass
class Rig:
    folder: Path
    slack: SlackServer
    mail: MailServer

    def run(self) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        env_file = str(self.folder / "log_monitor.env")
        code = main(["--env-file", env_file, "once"], stdout=out, stderr=err, tuning=QUICK_DELIVERY)
        return code, err.getvalue()

    def deliveries(self) -> int:
        """Messages naming the silent agent, on either channel."""
        slack = sum("agent 002 " in str(m) for m in self.slack.messages)
        return slack + sum("agent 002 " in str(m) for m in self.mail.received)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    fleet = three_hosts_one_silent(tmp_path)
    mail = MailServer()
    mail.up()
    try:
        with SimulatorServer(fleet) as sim, SlackServer(token=TOKEN, channels=("#soc",)) as slack:
            smtp = {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(mail.port),
                "SMTP_SECURITY": "none",
                "SMTP_FROM": "monitor@example.org",
                "SMTP_TO": "soc@example.org",
            }
            write_env(tmp_path, sim, slack, TOKEN, **smtp)
            yield Rig(tmp_path, slack, mail)
    finally:
        mail.down()


@pytest.mark.parametrize("slack_mode", ["down", "500", "429", "invalid_auth"])
def test_with_slack_failing_and_smtp_down_the_alert_waits_and_is_sent_once_when_a_channel_returns(
    rig: Rig, slack_mode: str
) -> None:
    rig.slack.set_mode(slack_mode)
    rig.mail.down()
    code, err = rig.run()
    assert code == 2  # the exit code is about the targets, not the delivery
    assert "still queued" in err
    assert rig.deliveries() == 0
    assert rig.run()[0] == 2  # a second run while both are down: still queued, no crash
    assert rig.deliveries() == 0
    rig.mail.up()
    assert rig.run()[0] == 2
    assert rig.deliveries() == 1
    rig.slack.set_mode("ok")
    assert rig.run()[0] == 2
    assert rig.deliveries() == 1


def test_with_slack_failing_the_alert_goes_by_email_at_once_and_only_once(rig: Rig) -> None:
    rig.slack.set_mode("500")
    assert rig.run()[0] == 2
    assert [("agent 002 " in str(m["Subject"])) for m in rig.mail.received] == [True]
    rig.slack.set_mode("ok")
    assert rig.run()[0] == 2
    assert rig.deliveries() == 1


class Tarpit:
    """An SMTP server that drips a never-ending multi-line greeting, a byte every 50 ms, for up to 15 s.

    `cut_short` says whether the client hung up before the greeting's end (it gave up on the server).
    """

    GREETING = b"220-tarpit.example.org slow down\r\n" * 8 + b"220 ready\r\n"

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_short: bool | None = None
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            try:
                for offset in range(len(self.GREETING)):
                    conn.sendall(self.GREETING[offset : offset + 1])
                    time.sleep(0.05)
                self.cut_short = False
            except OSError:
                self.cut_short = True
        self.finished.set()

    def __enter__(self) -> Tarpit:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


def test_a_tarpitting_smtp_server_gives_up_at_its_deadline_and_teams_after_it_gets_the_alert(tmp_path: Path) -> None:
    sleeps: list[float] = []
    hook = Hook()
    hook.thread.start()
    with SlackServer(token=TOKEN, channels=("#soc",)) as slack, Tarpit() as tarpit:
        slack.set_mode("500")
        channels: list[Notifier] = [
            SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=slack.api_url, timeout=0.5, sleep=sleeps.append),
            SmtpNotifier(
                host="127.0.0.1",
                port=tarpit.port,
                security="none",
                sender="monitor@example.org",
                recipients=["soc@example.org"],
                timeout=0.5,  # each byte comes well within it: only the 1.5 s deadline ends the session
            ),
            TeamsNotifier(webhook_url=Secret(hook.url), timeout=2.0),
        ]
        with StateStore(tmp_path / "state.sqlite3") as store:
            store.queue([notification()])
            report = Dispatcher(store, channels, FakeClock(NOW), sleep=sleeps.append, attempts=1).deliver_pending()
        assert tarpit.finished.wait(30)
    hook.server.shutdown()
    hook.server.server_close()
    assert report.delivered == 1
    assert len(hook.bodies) == 1
    assert "too slow" in report.channel_errors["email"] and "1.5 s deadline" in report.channel_errors["email"]
    assert tarpit.cut_short is True  # the monitor hung up mid-greeting, it did not wait for the server
