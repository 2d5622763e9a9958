"""Slack and SMTP outages seen from the one-off pass: the alert stays queued and goes out exactly once later.

The CLI end to end (env file, simulator, fake Slack, aiosmtpd). Dispatcher-level detail (backoff, the
hanging channel, grouping) is in tests/test_delivery.py; this is the whole product across runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from log_monitor.app import Tuning
from log_monitor.cli import main
from log_monitor.simulator.server import SimulatorServer
from tests.envfile import write_env
from tests.faults.common import three_hosts_one_silent
from tests.mail import MailServer
from tests.slack_server import SlackServer

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
