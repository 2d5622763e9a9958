"""One Slack thread per incident: the first alert is the parent, the rest reply in its thread, the parent is edited.

slack_sdk against tests/slack_server.py, which checks `thread_ts` and chat.update as the real Web API does
(a reply's thread_ts must be a message of that channel; chat.update takes the channel's id and a real ts).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import build
from log_monitor.clock import FakeClock
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity, Target
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.state import StateStore
from tests.monitor_rig import INTERVAL, NOW, Rig, settings_for
from tests.slack_server import SlackServer

TOKEN = "xoxb-threads-secret-token"
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def step(kind: NotificationKind, minutes: int, severity: Severity, target: str = "agent:002") -> Notification:
    recovered = kind is NotificationKind.RECOVERY
    return Notification(
        id=f"{target}-{kind.value}-{minutes}",
        created_at=T0 + timedelta(minutes=minutes),
        kind=kind,
        severity=severity,
        target_key=target,
        label="dc-1",
        condition=Condition.OK if recovered else Condition.SILENT,
        host="soc-monitor",
        agent_id=target.split(":")[1],
        silent_for_s=(133 * 60.0) if recovered else (minutes + 15) * 60.0,
    )


INCIDENT = [
    step(NotificationKind.ALERT, 0, Severity.WARNING),
    step(NotificationKind.ESCALATION, 15, Severity.CRITICAL),
    step(NotificationKind.REMINDER, 45, Severity.CRITICAL),
    step(NotificationKind.REMINDER, 105, Severity.CRITICAL),
    step(NotificationKind.RECOVERY, 118, Severity.OK),
]


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(token=TOKEN, channels=("#soc", "#soc-dc")) as server:
        yield server


def channel(slack: SlackServer, *, webhook: bool = False, threads: StateStore | None = None) -> SlackNotifier:
    if webhook:
        notifier = SlackNotifier(webhook_url=Secret(slack.webhook_url), timeout=0.5)
    else:
        notifier = SlackNotifier(token=Secret(TOKEN), channel="#soc", api_url=slack.api_url, timeout=0.5)
    notifier.threads = threads
    return notifier


def deliver(store: StateStore, notifier: SlackNotifier, notes: list[Notification]) -> None:
    dispatcher = Dispatcher(store, [notifier], FakeClock(T0), sleep=lambda s: None)
    for note in notes:
        store.queue([note])
        assert dispatcher.deliver_pending(force=True).delivered == 1


def test_an_incident_is_one_thread_whose_parent_ends_recovered(slack: SlackServer, tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), INCIDENT)
        assert store.thread("slack", "agent:002") is None  # closed with the recovery
    parent, *replies = slack.messages
    assert "thread_ts" not in parent and len(replies) == 4
    assert {r["thread_ts"] for r in replies} == {parent["ts"]}
    # Only the state changes are shown in the channel too; reminders stay in the thread.
    assert [r["reply_broadcast"] for r in replies] == [True, False, False, True]
    edits = slack.updates
    assert [e["ts"] for e in edits] == [parent["ts"]] * 4
    assert edits[0]["channel"] == slack.channel_ids["#soc"]
    assert "CRITICAL (escalated at 2026-12-07 08:15:00 UTC)" in str(edits[0]["blocks"])
    assert "RECOVERED after 2h 13m" in str(edits[-1]["blocks"])


def test_the_thread_is_kept_in_the_state_across_a_re_exec(slack: SlackServer, tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), INCIDENT[:2])
    # A new process: a new store on the same file, a new client.
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), INCIDENT[2:])
    parent = slack.messages[0]
    assert [m.get("thread_ts") for m in slack.messages[1:]] == [parent["ts"]] * 4
    assert "RECOVERED after 2h 13m" in str(slack.updates[-1]["blocks"])


def test_a_new_incident_after_a_recovery_opens_a_new_thread(slack: SlackServer, tmp_path: Path) -> None:
    again = [replace(n, id=n.id + "-again", created_at=n.created_at + timedelta(hours=5)) for n in INCIDENT[:2]]
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), [*INCIDENT, *again])
    parents = [m for m in slack.messages if "thread_ts" not in m]
    assert len(parents) == 2 and slack.messages[-1]["thread_ts"] == parents[1]["ts"]


def test_incidents_of_two_targets_are_two_threads(slack: SlackServer, tmp_path: Path) -> None:
    other = [step(n.kind, 1 + i, n.severity, target="agent:007") for i, n in enumerate(INCIDENT[:2])]
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), [INCIDENT[0], other[0], INCIDENT[1], other[1]])
    first, second, reply_first, reply_second = slack.messages
    assert (reply_first["thread_ts"], reply_second["thread_ts"]) == (first["ts"], second["ts"])


def test_a_webhook_cannot_thread_so_its_messages_stay_flat(slack: SlackServer, tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, webhook=True, threads=store), INCIDENT)
    assert len(slack.messages) == 5 and not any("thread_ts" in m for m in slack.messages)
    assert slack.updates == []


def test_a_parent_that_cannot_be_edited_does_not_stop_the_replies(slack: SlackServer, tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), INCIDENT[:1])
        _, ts, opened = store.thread("slack", "agent:002") or ("", "", T0)
        store.save_thread("slack", "agent:002", "C999999999", ts, opened)  # the edit misses: channel_not_found
        deliver(store, channel(slack, threads=store), INCIDENT[1:2])
    assert slack.messages[1]["thread_ts"] == slack.messages[0]["ts"]
    assert slack.updates == [] and "/api/chat.update" in slack.requests


def test_a_reply_to_a_deleted_parent_opens_a_new_thread(slack: SlackServer, tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.db") as store:
        deliver(store, channel(slack, threads=store), INCIDENT[:1])
        slack._posted.clear()  # a person deleted the message: Slack answers thread_not_found
        deliver(store, channel(slack, threads=store), INCIDENT[1:3])
    _, escalation, reminder = slack.messages
    assert "thread_ts" not in escalation and reminder["thread_ts"] == escalation["ts"]


# -- wired up: SLACK_THREADS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [True, False])
def test_slack_threads_follow_the_setting_in_a_real_pass(
    slack: SlackServer, clock: FakeClock, tmp_path: Path, threads: bool
) -> None:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("002", "dc-1", rate_per_min=6, started=NOW - timedelta(hours=3))
    rig = Rig(clock, tmp_path, fleet)
    fleet.silence("002", since=NOW)
    with rig.sim:
        settings = settings_for(
            rig.sim,
            tmp_path,
            slack_bot_token=Secret(TOKEN),
            slack_channel="#soc",
            slack_api_url=slack.api_url,
            slack_threads=threads,
        )
        with build(settings, [Target.agent("002", "dc-1", INTERVAL)], clock=clock, sleep=clock.advance) as app:
            app.monitor.run_once()
            for _ in range(3):
                clock.advance(INTERVAL + 60)
                app.monitor.run_once()
            fleet.resume("002", at=clock.now())
            clock.advance(60)
            app.monitor.run_once()
    kinds = len(slack.messages)
    assert kinds >= 3
    replies = [m for m in slack.messages if "thread_ts" in m]
    if threads:
        assert len(replies) == kinds - 1 and {r["thread_ts"] for r in replies} == {slack.messages[0]["ts"]}
        assert "RECOVERED after" in str(slack.updates[-1]["blocks"])
    else:
        assert replies == [] and slack.updates == []
