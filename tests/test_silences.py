"""Silences, removed targets and what the commands say about them, end to end through `log_monitor.py`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from log_monitor.app import Tuning
from log_monitor.models import Condition, Severity, TargetState
from log_monitor.state import StateStore
from tests import cli_rig
from tests.cli_rig import AGENTS, Rig
from tests.conftest import REPO
from tests.helpers import free_port

rig = cli_rig.rig  # the simulator, fake Slack and env file of the one-off pass tests


def _row(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(key + " "))


def test_status_shows_a_silenced_target_as_maintenance_with_its_reason(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    assert rig.run("silence", "db-primary", "--for", "2h", "--reason", "kernel upgrade").code == 0
    assert rig.run().code == 0
    status = rig.run("status")
    assert status.code == 0, status.err
    row = _row(status.out, "agent:002")
    assert "MAINTENANCE" in row  # as `once` and the dashboard show it, not the stored CRITICAL
    assert "kernel upgrade" in row
    assert "silenced until" in row


def test_silences_lists_each_active_silence_with_until_reason_and_who_set_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUDO_USER", "carol")
    assert rig.run("silence", "2", "--for", "2h", "--reason", "kernel upgrade").code == 0
    listed = rig.run("silences")
    assert listed.code == 0, listed.err
    row = _row(listed.out, "agent:002")
    assert "db-primary" in row
    assert "carol" in row
    assert "kernel upgrade" in row
    assert "UNTIL (UTC)" in listed.out
    assert rig.run("unsilence", "agent:002").code == 0
    assert rig.run("silences").out.strip() == "no active silences"


def test_a_silence_reason_over_500_characters_is_a_usage_error_and_nothing_is_stored(rig: Rig) -> None:
    refused = rig.run("silence", "2", "--for", "2h", "--reason", "x" * 100_000)
    assert refused.code == 64
    assert "--reason: at most 500 characters, got 100000" in refused.err
    assert len(refused.err) < 300
    assert rig.run("silences").out.strip() == "no active silences"
    said = rig.run("silence", "2", "--for", "2h", "--reason", "patch\x1b[31m \u202eday")
    assert said.code == 0
    assert "\x1b" not in said.out and "\u202e" not in said.out  # shown as escapes, as the tables show it


def test_an_agent_silence_covers_its_log_files(rig: Rig) -> None:
    # A short threshold: logcollector's counters date the location's last event up to a minute back.
    (rig.folder / "agents.csv").write_text(AGENTS + "004,app-server,1m,10s,/var/log/syslog\n")
    rig.fleet.add_agent("004", "app-server", rate_per_min=12, started=rig.now - timedelta(hours=2))
    rig.fleet.silence("004", since=rig.now - timedelta(minutes=40))
    env = rig.env(INDEXING_DELAY="0s")
    silenced = rig.run("silence", "agent:004", "--for", "2h", env=env)
    assert silenced.code == 0, silenced.err
    result = rig.run(env=env)
    assert result.code == 0, result.out  # agent:004 and agent:004:/var/log/syslog both held back
    assert rig.slack.messages == []
    assert "covers its 1 log file(s)" in silenced.out
    assert "MAINTENANCE" in _row(rig.run("status", env=env).out, "agent:004:/var/log/syslog")


def test_an_ambiguous_label_lists_the_candidates_and_exits_64(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text("001,web,5m\n002,web,5m\n003,mail-relay,5m\n")
    result = rig.run("silence", "web", "--for", "1h")
    assert result.code == 64
    assert "names 2 targets" in result.err
    assert "agent:001" in result.err
    assert "agent:002" in result.err
    assert "no target matches" not in result.err


def test_a_files_csv_service_name_is_accepted_as_the_target(rig: Rig) -> None:
    (rig.folder / "app.log").write_text("started\n")
    (rig.folder / "files.csv").write_text("path,service\napp.log,billing\n")
    env = rig.env(LOCAL_FILES_LIST="files.csv")
    result = rig.run("silence", "billing", "--for", "1h", env=env)
    assert result.code == 0, result.err
    assert result.out.startswith(f"file:{rig.folder / 'app.log'}: silenced until")


def test_a_target_removed_from_agents_csv_shows_removed_and_alerts_no_more(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    assert rig.run().code == 2
    assert len(rig.slack.messages) == 1
    (rig.folder / "agents.csv").write_text("001,web-frontend,5m\n003,mail-relay,5m\n")
    assert rig.run().code == 0
    status = rig.run("status")
    row = _row(status.out, "agent:002")
    assert "REMOVED" in row
    assert "CRITICAL" not in row
    assert "forgotten after" in row
    assert "1 removed from the configuration" in status.out
    assert len(rig.slack.messages) == 1


def test_a_removed_target_is_forgotten_a_week_after_its_last_check(rig: Rig) -> None:
    now = datetime.now(UTC)
    with StateStore(rig.folder / "state.sqlite3") as store:
        store.commit(
            [
                TargetState("agent:008", Severity.CRITICAL, Condition.SILENT, last_checked=now - timedelta(days=6)),
                TargetState("agent:009", Severity.CRITICAL, Condition.SILENT, last_checked=now - timedelta(days=8)),
            ],
            [],
        )
    assert rig.run().code == 0
    status = rig.run("status").out
    assert "REMOVED" in _row(status, "agent:008")
    assert "agent:009" not in status
    assert (
        "forgot 1 target(s) removed from the configuration a week ago: agent:009"
        in (rig.folder / "monitor.log").read_text()
    )


def test_a_new_target_is_logged_as_new_not_as_a_change_from_ok(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    assert rig.run().code == 2
    log_text = (rig.folder / "monitor.log").read_text()
    assert "new target agent:002 (db-primary): CRITICAL silent" in log_text
    assert "OK -> CRITICAL" not in log_text


def test_a_failing_slack_is_logged_once_by_us_not_again_by_slack_sdk(rig: Rig) -> None:
    rig.fleet.silence("002", since=rig.now - timedelta(minutes=40))
    env = rig.env(SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/", LOGGING_LEVEL="INFO")
    result = rig.run(env=env, tuning=Tuning(channel_retry_s=0.0))  # slack_sdk still retries, without the wait
    assert result.code == 2
    log_text = (rig.folder / "monitor.log").read_text()
    assert "channel slack failed" in log_text
    assert "slack_sdk" not in log_text
    assert "Failed to send a request to Slack API server" not in log_text


def test_status_piped_into_head_ends_without_a_traceback(rig: Rig) -> None:
    # Far more than a pipe holds, so the writer is still writing when head has gone.
    at = datetime.now(UTC)
    with StateStore(rig.folder / "state.sqlite3") as store:
        store.commit([TargetState(f"agent:{n:05d}", last_checked=at) for n in range(3000)], [])
    command = f'"{sys.executable}" log_monitor.py --env-file "{rig.env()}" status | head -1; exit "${{PIPESTATUS[0]}}"'
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-c", command], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.startswith("TARGET")
    assert "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr
    assert done.returncode == 0, done.stderr
