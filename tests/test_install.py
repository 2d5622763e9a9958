"""Installed as a service: pip install from the checkout, and deploy/ checked with systemd's own tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "log-monitor.service"
PREFIX = "/opt/log-monitor"  # where docs/operations.md installs, and what the unit and the cron file name
EXPOSURE_THRESHOLD = 20  # tenths: `systemd-analyze security` must score the unit 2.0 or less ("OK")


def _requirement_pins(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def test_the_package_depends_on_exactly_the_pins_of_requirements_txt() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(_requirement_pins(ROOT / "requirements.txt"))
    assert project["scripts"] == {"log-monitor": "log_monitor.cli:main"}


@dataclass(frozen=True)
class Installed:
    prefix: Path
    site: Path

    @property
    def command(self) -> Path:
        return self.prefix / "bin" / "log-monitor"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The checkout pip-installed into a fresh venv; the test venv's pinned packages serve as its dependencies."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"  # a copy: a build writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "log_monitor", source / "log_monitor", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    prefix = work / "log-monitor"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
    python = prefix / "bin" / "python"
    # The build fetches setuptools from PyPI, as `make install` does; the runtime deps come from the test venv.
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, str(source)], check=True, cwd=work)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.rmtree(source)
    yield Installed(prefix, site)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}


@pytest.mark.slow  # a pip install into a fresh venv
def test_pip_install_gives_the_log_monitor_command_with_the_same_cli(installed: Installed, tmp_path: Path) -> None:
    env_file = tmp_path / "log-monitor.env"
    env_file.write_text(f"STATE_DB={tmp_path}/state.sqlite3\nAGENT_LIST_FILE=agents.csv\n")
    (tmp_path / "agents.csv").write_text("001,web\n")
    run = [str(installed.command), "check-config", "--env-file", str(env_file)]
    done = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, env=_clean_env(), check=False)
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout
    version = subprocess.run([str(installed.command), "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.strip() == "log_monitor 0.1.0"
    usage = subprocess.run([str(installed.command), "no-such-command"], capture_output=True, text=True, check=False)
    assert usage.returncode == 64


@pytest.mark.slow  # a pip install into a fresh venv
def test_the_installed_package_carries_the_simulator_and_the_dashboard(installed: Installed) -> None:
    package = installed.site / "log_monitor"
    assert (package / "dashboard.html").is_file()
    assert (package / "simulator" / "server.py").is_file()
    assert (package / "sdnotify.py").is_file()


def systemd_tool(name: str) -> str:
    """The tool's path; in CI (`CI` set) a missing tool is a failure (.ci/run installs systemd), elsewhere a skip
    that says why: a test that returned early would count as passed."""
    path = shutil.which(name)
    hint = f"{name} missing: apt-get install -y --no-install-recommends systemd"
    assert path is not None or not os.environ.get("CI"), f"{hint} (.ci/run installs it)"
    if path is None:
        pytest.skip(hint)
    return path


@pytest.mark.slow  # a pip install into a fresh venv
def test_the_service_unit_passes_systemd_analyze_verify(installed: Installed, tmp_path: Path) -> None:
    analyze = systemd_tool("systemd-analyze")
    # The unit as installed, its ExecStart pointing at this test's install instead of /opt/log-monitor.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(PREFIX, str(installed.prefix)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    # verify exits 0 on unknown keys and only warns: any word from it is a finding.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_service_unit_is_hardened_to_an_exposure_of_at_most_2(tmp_path: Path) -> None:
    analyze = systemd_tool("systemd-analyze")
    command = [analyze, "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(UNIT)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-600:] + done.stderr
    assert re.search(r"Overall exposure level for log-monitor.service: [01]\.\d OK", done.stdout), done.stdout[-300:]


def test_the_service_unit_is_a_watched_notify_service_of_its_own_user() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "Restart=always",
        "User=log-monitor",
        "DynamicUser=no",
        "StateDirectory=log-monitor",
        "LogsDirectory=log-monitor",
        "ConfigurationDirectory=log-monitor",
        f"ExecStart={PREFIX}/bin/log-monitor run --env-file /etc/log-monitor/log-monitor.env",
    ):
        assert f"\n{line}\n" in text, line
    assert re.search(r"\nWatchdogSec=\d+min\n", text)


def test_sysusers_and_tmpfiles_make_the_service_user_and_its_folders(tmp_path: Path) -> None:
    sysusers, tmpfiles = systemd_tool("systemd-sysusers"), systemd_tool("systemd-tmpfiles")
    for kind in ("sysusers.d", "tmpfiles.d"):
        (tmp_path / "usr/lib" / kind).mkdir(parents=True)
        shutil.copy(DEPLOY / kind / "log-monitor.conf", tmp_path / "usr/lib" / kind / "log-monitor.conf")
    (tmp_path / "etc").mkdir()
    for tool in ([sysusers, f"--root={tmp_path}"], [tmpfiles, f"--root={tmp_path}", "--create"]):
        done = subprocess.run(tool, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    user = next(line for line in (tmp_path / "etc/passwd").read_text().splitlines() if line.startswith("log-monitor:"))
    uid = int(user.split(":")[2])
    assert user.endswith(":/var/lib/log-monitor:/usr/sbin/nologin")
    for folder in ("var/lib/log-monitor", "var/log/log-monitor"):
        stat = (tmp_path / folder).stat()
        assert (stat.st_uid, stat.st_mode & 0o777) == (uid, 0o750), folder
    assert (tmp_path / "etc/log-monitor").stat().st_uid == 0


def test_the_cron_file_runs_one_pass_every_5_minutes_as_the_service_user_keeping_its_output() -> None:
    entries = [
        line
        for line in (DEPLOY / "log-monitor.cron").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(entries) == 1
    fields = entries[0].split(maxsplit=6)
    assert fields[:6] == ["*/5", "*", "*", "*", "*", "log-monitor"]
    command = fields[6]
    assert command.startswith(f"{PREFIX}/bin/log-monitor once --env-file /etc/log-monitor/log-monitor.env ")
    # The console notifier writes alerts to stdout: thrown away, they would be lost.
    assert ">/dev/null" not in command
    assert command.endswith(">>/var/log/log-monitor/cron.log 2>&1")
