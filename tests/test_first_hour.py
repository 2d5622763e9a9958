"""A new user's first hour: the traps `check-config`, `status` and the small commands must not leave open."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.cli import main
from log_monitor.clock import FakeClock
from log_monitor.config.keys import nearest_key
from log_monitor.liveness import Liveness
from log_monitor.models import Severity, Silence, TargetState
from log_monitor.state import StateStore
from tests import cli_rig
from tests.cli_rig import Rig

rig = cli_rig.rig
ROOT = Path(__file__).resolve().parent.parent


def test_a_key_misspelt_by_one_letter_fails_check_config_naming_the_key_it_meant(rig: Rig) -> None:
    env = rig.env(SLACK_BOT_TOKEN="", SLACK_CHANNEL="", SLACK_WEBHOK_URL="https://hooks.slack.com/services/T/B/x")
    result = rig.run("check-config", env=env)
    assert result.code == 78, result.out + result.err
    assert "SLACK_WEBHOK_URL: unknown key; did you mean SLACK_WEBHOOK_URL?" in result.err
    assert "configuration OK" not in result.out
    assert "hooks.slack.com" not in result.out + result.err  # the value may be a secret


def test_an_unknown_key_far_from_every_known_one_stays_a_warning(rig: Rig) -> None:
    result = rig.run("check-config", env=rig.env(MY_OWN_NOTE="x"))
    assert result.code == 0, result.err
    assert "MY_OWN_NOTE: unknown key, ignored" in result.out


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("SLACK_WEBHOK_URL", "SLACK_WEBHOOK_URL"),
        ("SMTP_HOTS", "SMTP_HOST"),
        ("slack_channel", "SLACK_CHANNEL"),
        ("WAZUH_API_PASWORD_FILE", "WAZUH_API_PASSWORD_FILE"),
        ("MY_OWN_NOTE", None),
        ("EDITOR", None),
    ],
)
def test_the_key_meant_is_the_nearest_within_two_edits(typed: str, meant: str | None) -> None:
    assert nearest_key(typed) == meant


def test_an_untested_slack_webhook_reads_not_tested_never_ok(rig: Rig) -> None:
    env = rig.env(SLACK_BOT_TOKEN="", SLACK_CHANNEL="", SLACK_WEBHOOK_URL="https://hooks.slack.invalid/services/T/B/x")
    result = rig.run("check-config", "--connect", env=env)
    assert result.code == 0, result.out + result.err
    line = next(line for line in result.out.splitlines() if "channel slack" in line)
    assert line.strip().startswith("channel slack: not tested")
    assert ": ok" not in line


def _other_user() -> list[str]:
    """A prefix that runs a command as a user without root's rights (the tests may run as root, who writes anywhere)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to drop root's rights for this test"
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="log-monitor-first-hour-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _check_config_as_other_user(folder: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    command = [
        *_other_user(),
        sys.executable,
        str(ROOT / "log_monitor.py"),
        "check-config",
        "--env-file",
        str(env_file),
    ]
    return subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=60, check=False)


def test_a_state_folder_this_user_cannot_write_fails_check_config_with_78(open_folder: Path) -> None:
    state = open_folder / "state"
    state.mkdir()
    state.chmod(0o555)  # root's, and read-only for everyone else
    (open_folder / "agents.csv").write_text("agent_id,label\n001,web\n")
    env_file = open_folder / "monitor.env"
    env_file.write_text("WAZUH_INDEXER_URL=http://127.0.0.1:9\nWAZUH_INDEXER_USER=a\nWAZUH_INDEXER_PASSWORD=b\n")
    env_file.write_text(env_file.read_text() + "AGENT_LIST_FILE=agents.csv\nSTATE_DB=state/monitor.sqlite3\n")
    env_file.chmod(0o644)
    result = _check_config_as_other_user(open_folder, env_file)
    assert result.returncode == 78, result.stdout + result.stderr
    assert "STATE_DB" in result.stderr
    assert f"cannot create files in {state}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (state / "monitor.sqlite3").exists()


def test_an_env_file_this_user_cannot_read_says_which_permission_is_missing(open_folder: Path) -> None:
    env_file = open_folder / "monitor.env"
    env_file.write_text("WAZUH_INDEXER_URL=http://127.0.0.1:9\n")
    env_file.chmod(0o600 if os.geteuid() == 0 else 0o000)
    result = _check_config_as_other_user(open_folder, env_file)
    assert result.returncode == 78, result.stdout + result.stderr
    assert "lacks read (r) permission" in result.stderr
    assert "mode 0600" in result.stderr or "mode 0000" in result.stderr


def test_status_before_the_first_pass_lists_the_configured_targets_as_pending_and_creates_nothing(rig: Rig) -> None:
    result = rig.run("status")
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if line.startswith("agent:")]
    assert len(rows) == 3
    assert all("PENDING" in row for row in rows)
    assert "3 targets (3 PENDING" in result.out
    assert "no pass has run yet" in result.out
    assert not (rig.folder / "state.sqlite3").exists()
    assert not list(rig.folder.glob("state.sqlite3*"))


def test_state_files_are_private_to_the_monitor_user_whatever_the_umask(rig: Rig) -> None:
    (rig.folder / "state.sqlite3").unlink(missing_ok=True)
    old = os.umask(0o022)
    try:
        result = rig.run(env=rig.env(STATE_DB="private/state.sqlite3"))
    finally:
        os.umask(old)
    assert result.code == 0, result.err
    folder = rig.folder / "private"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    assert [f.name for f in files if f.name.endswith((".sqlite3", ".lock"))] == ["state.sqlite3", "state.sqlite3.lock"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_installed_command_names_itself_as_it_was_run_in_usages_and_errors(tmp_path: Path) -> None:
    command = tmp_path / "log-monitor"
    command.symlink_to(ROOT / "log_monitor.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)}
    argv = [sys.executable, str(command), "silence", "web"]
    run = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 64
    assert "usage: log-monitor silence" in run.stderr
    assert "log_monitor.py" not in run.stderr


def test_a_silence_of_no_time_at_all_is_a_usage_error(rig: Rig) -> None:
    result = rig.run("silence", "web-frontend", "--for", "0")
    assert result.code == 64
    assert "--for" in result.err and "above 0" in result.err
    assert "silenced" not in result.out


def test_an_unterminated_quote_in_agents_csv_is_an_error_naming_the_line(rig: Rig) -> None:
    (rig.folder / "agents.csv").write_text('agent_id,label\n001,web\n002,"db primary,5m\n')
    result = rig.run("check-config")
    assert result.code == 78, result.out + result.err
    assert "agents.csv:3: not a CSV row" in result.err
    assert "quote" in result.err


def test_the_daemons_alive_line_does_not_count_a_silenced_target_as_alerting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    with StateStore(tmp_path / "state.sqlite3") as store:
        store.commit(
            [
                TargetState("agent:001", severity=Severity.CRITICAL),
                TargetState("agent:002", severity=Severity.WARNING),
                TargetState("agent:003", severity=Severity.OK),
            ],
            [],
        )
        store.add_silence(Silence("agent:002", now + timedelta(hours=2), "patching", now, "alice"))
        liveness = Liveness(store=store, clock=FakeClock(now))
        with caplog.at_level(logging.INFO, logger="log_monitor.liveness"):
            liveness.pass_done(3, {})
    assert [r.getMessage() for r in caplog.records] == [
        "alive: 3 targets, 1 alerting, last good pass 2026-11-22 10:00:00 UTC, 0 notification(s) queued"
    ]


def test_simulate_piped_into_head_ends_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "log_monitor.py"), "simulate", "--api-port", "0", "--indexer-port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("Wazuh simulator:")
        process.stdout.close()  # what `head -1` does once it has its line
        process.send_signal(signal.SIGTERM)
        err = process.stderr.read()
        assert process.wait(timeout=30) == 0, err
        assert "Traceback" not in err and "BrokenPipe" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_the_agents_file_is_the_users_own_and_the_shipped_example_passes_check_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "config/agents.csv" in ignored  # a `git pull` never overwrites the user's list, nor getting-started it
    assert (ROOT / "config" / "agents.csv.example").is_file()
    monkeypatch.setenv("AGENT_LIST_FILE", "config/agents.csv.example")  # as .ci/run checks it
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["check-config", "--env-file", str(ROOT / "env-files" / "log_monitor.env.example")], stdout=out, stderr=err
    )
    assert code == 0, err.getvalue()
    assert "agents.csv.example" in out.getvalue()


def test_a_missing_agents_file_says_how_to_start_one_from_the_example(tmp_path: Path) -> None:
    (tmp_path / "env-files").mkdir()
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "agents.csv.example", tmp_path / "config")
    env_file = tmp_path / "env-files" / "log_monitor.env"
    env_file.write_text("WAZUH_INDEXER_URL=http://127.0.0.1:9\nWAZUH_INDEXER_USER=a\nWAZUH_INDEXER_PASSWORD=b\n")
    out, err = io.StringIO(), io.StringIO()
    assert main(["check-config", "--env-file", str(env_file)], stdout=out, stderr=err) == 78
    expected = f"cp {tmp_path}/config/agents.csv.example {tmp_path}/config/agents.csv"
    assert expected in err.getvalue()
