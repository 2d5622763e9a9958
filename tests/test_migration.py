"""The original tool's project layout, unchanged: env-files/log_counter.env, extra-files/, run from the project root."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "idx-Pa55word-legacy"


@dataclass
class Project:
    """A folder laid out like the original tool's checkout, pointing at a TLS simulator."""

    root: Path
    fleet: Fleet
    sim: SimulatorServer

    def write_env(self, wazuh_url: str, **extra: str) -> None:
        lines = {
            "WAZUH_URL": wazuh_url,
            "USERNAME": "admin",
            "PASSWORD": PASSWORD,
            "VERIFICATION_FILE": "extra-files/root-ca.pem",
            "AGENT_LIST_FILE": "extra-files/agents.txt",
            "DEFAULT_CHECK_INTERVAL": "10",
            "AGENT_CHECK_INTERVALS": "001:10,002:10",
            "LOGGING_LEVEL": "1",
        } | extra
        text = "".join(f"{key}={value}\n" for key, value in lines.items())
        (self.root / "env-files" / "log_counter.env").write_text(text)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`log_monitor.py ARGS` from the project root, with no --env-file: as the original tool was run."""
        return subprocess.Popen(
            [sys.executable, str(ROOT / "log_monitor.py"), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"} | {"PYTHONPATH": str(ROOT)},
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.start(*args)
        out, err = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    (tmp_path / "env-files").mkdir()
    (tmp_path / "extra-files").mkdir()
    ca.cert_pem.write_to_path(str(tmp_path / "extra-files" / "root-ca.pem"))
    (tmp_path / "extra-files" / "agents.txt").write_text("001\n002\n")
    now = datetime.now(UTC)
    fleet = Fleet()
    fleet.add_agent("001", "web-frontend", rate_per_min=12, started=now - timedelta(hours=2))
    fleet.add_agent("002", "db-primary", rate_per_min=12, started=now - timedelta(hours=2))
    fleet.silence("002", since=now - timedelta(minutes=40))
    with SimulatorServer(fleet, indexer_users={"admin": PASSWORD}, ssl_context=context) as sim:
        project = Project(tmp_path, fleet, sim)
        project.write_env(f"{sim.indexer_url}/wazuh-alerts-4.x-*/_count")
        yield project


def test_the_original_env_file_and_extra_files_work_unchanged_from_the_project_root(project: Project) -> None:
    result = project.run("once")
    assert result.returncode == 2, result.stderr
    assert "db-primary" not in result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("agent:002"))
    assert "CRITICAL" in row
    assert (project.root / "state" / "log_monitor.sqlite3").is_file()  # the default, at the project root
    assert PASSWORD not in result.stdout + result.stderr


def test_a_cron_once_pass_does_not_log_the_deprecation_warnings(project: Project) -> None:
    result = project.run("once")
    assert result.returncode == 2, result.stderr
    assert "deprecated" not in result.stderr
    assert "log_counter.env" not in result.stderr


def test_check_config_says_what_each_legacy_key_was_taken_for_and_which_file_was_read(project: Project) -> None:
    result = project.run("check-config", "--connect")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("env-files/log_counter.env: read because env-files/log_monitor.env does not exist") == 1
    assert "WAZUH_URL is deprecated: use WAZUH_INDEXER_URL" in out
    assert f"taken for the Wazuh indexer at {project.sim.indexer_url}, index pattern wazuh-alerts-4.x-*" in out
    assert "USERNAME is deprecated: use WAZUH_INDEXER_USER" in out
    assert "AGENT_CHECK_INTERVALS is deprecated" in out
    assert "Wazuh indexer: ok" in out
    assert str(project.root / "extra-files" / "agents.txt") in out


def test_a_bare_host_as_wazuh_url_is_taken_for_the_api_and_the_missing_indexer_is_named(project: Project) -> None:
    host = project.sim.api_url  # https://127.0.0.1:PORT, no /_count and not on 9200
    project.write_env(host)
    result = project.run("check-config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"taken for the Wazuh server API at {host}" in result.stdout
    assert f"Wazuh API: {host}" in result.stdout
    assert "Wazuh indexer: not configured" in result.stdout
    assert "no indexer configured: events are not counted" in result.stdout
    assert "set WAZUH_INDEXER_URL" in result.stdout
    once = project.run("once")
    assert "no indexer configured" in once.stderr  # a real gap: said on every pass, unlike a deprecation


def test_the_daemon_says_each_deprecation_once_at_start_and_reloads_the_same_file(project: Project) -> None:
    process = project.start("run")
    try:
        assert process.stderr is not None
        seen: list[str] = []
        for line in process.stderr:
            seen.append(line)
            if "daemon started" in line:
                process.send_signal(signal.SIGHUP)
            if "reloaded" in line or "re-executing" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0
    text = "".join(seen) + rest
    assert "reloaded: 2 targets" in text  # the unchanged log_counter.env is not taken for a new configuration
    assert text.count("WAZUH_URL is deprecated") == 1
    assert text.count("log_counter.env: read because") == 1


def test_the_migration_guides_commands_run_the_new_tool_from_the_old_projects_folder(project: Project) -> None:
    guide = (ROOT / "docs" / "migration.md").read_text()
    block = guide.split("```sh\n", 1)[1].split("```", 1)[0]
    assert "cd /opt/log_counter" in block
    commands = [line.split("#", 1)[0].split() for line in block.splitlines() if line.startswith("/opt/log_monitor/")]
    assert [c[2:] for c in commands] == [["check-config", "--connect"], []]
    codes = []
    for words in commands:
        argv = [word.replace("/opt/log_monitor/", f"{ROOT}/") for word in words]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONPATH")}
        done = subprocess.run(argv, cwd=project.root, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert "Traceback" not in done.stderr
        codes.append(done.returncode)
        if words[2:] == ["check-config", "--connect"]:
            assert "read because env-files/log_monitor.env does not exist" in done.stdout
    assert codes == [0, 2]  # the configuration holds; agent 002 has been silent for 40 minutes
