"""docs/getting-started.md followed command by command from a fresh clone's layout: simulator, env lines, once,
the daemon, `status`, `top` in tmux and the page in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import chromium_tab
from tests.helpers import free_port, wait_for
from tests.test_top import _pane, _tmux, _wait_for

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "getting-started.md"


def _blocks() -> list[list[str]]:
    """The guide's shell blocks, each as its lines."""
    return [block.rstrip("\n").splitlines() for block in re.findall(r"```sh\n(.*?)```", GUIDE.read_text(), re.DOTALL)]


def _command(line: str) -> str:
    return line.split("  #", 1)[0].strip()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """What `git clone` and `make setup` leave: the tracked files, and a .venv (this suite's, already set up)."""
    folder = tmp_path / "log_monitor"
    git = shutil.which("git")
    assert git is not None
    tracked = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    (folder / ".venv").symlink_to(ROOT / ".venv")
    assert not (folder / "config" / "agents.csv").exists()  # the user's own: not in a clone
    return folder


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONPATH")}
    bash = shutil.which("bash")
    assert bash is not None  # no -e: as a user's shell runs it, `once; echo "exit $?"` reaches the echo
    return subprocess.run(
        [bash, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def simulator(clone: Path) -> Iterator[tuple[list[str], list[str]]]:
    """Step 2 as written, on free ports (`0`, as the guide's options say): the env and agents lines it prints."""
    [line] = _blocks()[1]
    command = _command(line)
    assert command == ".venv/bin/python log_monitor.py simulate --agents 5 --silent 1"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONPATH")}
    process = subprocess.Popen(
        [*command.split(), "--api-port", "0", "--indexer-port", "0"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = []
        for text in process.stdout:
            if text.startswith("Running until"):
                break
            printed.append(text.rstrip("\n"))
        env_lines = [t for t in printed if re.match(r"[A-Z_]+=", t)]
        agents = [t for t in printed if t == "agent_id,label" or re.match(r"\d{3},sim-", t)]
        yield env_lines, agents
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_the_getting_started_guide_works_word_for_word_from_a_fresh_clone(
    clone: Path, simulator: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    blocks = _blocks()
    assert [_command(line) for line in blocks[0]] == [
        "git clone <this repo> log_monitor && cd log_monitor",
        "make setup",
    ]
    env_lines, agents = simulator
    # Step 3: the guide's heredoc holds the lines `simulate` printed (its default ports); the printed ones are used.
    script = "\n".join(blocks[2])
    heredoc = re.search(r"<<'EOF'\n(.*?)\nEOF\n", script, re.DOTALL)
    assert heredoc is not None
    assert [line.split("=")[0] for line in heredoc.group(1).splitlines()] == [line.split("=")[0] for line in env_lines]
    status_port = free_port()  # 9108 may be taken on a shared machine: the one change to what was printed
    lines = [f"STATUS_ADDR=127.0.0.1:{status_port}" if line.startswith("STATUS_ADDR=") else line for line in env_lines]
    done = _bash(script.replace(heredoc.group(1), "\n".join(lines)), clone)
    assert done.returncode == 0, done.stderr
    assert (clone / "config" / "agents.csv").read_text().splitlines() == agents
    assert oct((clone / "env-files" / "log_monitor.env").stat().st_mode & 0o777) == "0o600"
    # Step 4: check-config --connect.
    [check] = blocks[3]
    done = _bash(check, clone)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "configuration OK: env-files/log_monitor.env" in done.stdout
    assert "Wazuh API: ok (5 agents)" in done.stdout
    # Step 5: one pass, agent 005 CRITICAL, exit 2.
    [once] = blocks[4]
    done = _bash(once, clone)
    assert "exit 2" in done.stdout, done.stdout + done.stderr
    assert "CRITICAL" in next(line for line in done.stdout.splitlines() if line.startswith("agent:005"))
    _the_daemon_status_top_and_page(clone, blocks[5], status_port, tmp_path)


def _the_daemon_status_top_and_page(clone: Path, block: list[str], port: int, tmp_path: Path) -> None:
    run, status, top = (_command(line) for line in block)
    assert run.endswith("log_monitor.py run") and status.endswith("status") and top.endswith("top")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSTARTUP", "PYTHONPATH")}
    daemon = subprocess.Popen(
        run.split(), cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    session = f"guide-{uuid.uuid4().hex[:8]}"
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _healthy(url), timeout=30), "the daemon's status server never answered"
        done = _bash(status, clone)
        assert done.returncode == 0, done.stderr
        assert "agent:005" in done.stdout and "CRITICAL" in done.stdout
        # The tmux server takes this environment: not the COLUMNS=80/LINES=24 the test process has, which rich
        # would obey over the real (200 x 60) terminal.
        terminal = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        tmux = shutil.which("tmux")
        assert tmux, "tmux is needed for this test (.ci/run installs it)"
        new = [tmux, "-L", session, "new-session", "-d", "-s", session, "-x", "200", "-y", "60", "-c", str(clone), top]
        subprocess.run(new, env=terminal, check=True, capture_output=True)
        _wait_for(session, "live from the daemon", timeout=20)
        # A capture may catch the terminal mid-redraw: wait for the silent agent's row as well.
        assert wait_for(lambda: re.search(r"sim-005 .*CRITICAL", _pane(session)) is not None), _pane(session)
        with chromium_tab(tmp_path) as (page, problems):
            page.goto(url + "/")
            row = page.locator('#targets tr[data-key="agent:005"]')
            expect(row).to_contain_text("CRITICAL", timeout=10_000)
            expect(page.locator('#charts figure[data-key="agent:001"] svg circle.point').first).to_be_attached()
        assert problems == []
    finally:
        _tmux(session, "kill-server", check=False)
        daemon.send_signal(signal.SIGTERM)  # what Ctrl-C does
        code = daemon.wait(timeout=30)
    assert code == 0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
