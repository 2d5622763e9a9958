"""`top` in a real terminal (tmux): it shows the rates of a growing access log, its tops, and quits on q."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from log_monitor.models import Condition, Severity, Silence, Target, TargetKind, TargetState
from log_monitor.state import StateStore
from log_monitor.top import LiveStatus, Row, TopModel, render
from tests import status_rig
from tests.conftest import REPO
from tests.helpers import wait_for
from tests.status_rig import TOKEN, Running, agent

start = status_rig.start

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _tmux(session: str, *args: str, check: bool = True) -> str:
    tmux = shutil.which("tmux")
    assert tmux, "tmux is needed for this test (.ci/run installs it)"
    # A server of its own per test (-L): one test's server shutting down cannot race the next test's start.
    done = subprocess.run([tmux, "-L", session, *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"tmux {' '.join(args[:1])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _pane(session: str) -> str:
    return _tmux(session, "capture-pane", "-p", "-t", session, check=False)


def _wait_for(session: str, needle: str, timeout: float = 8.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _pane(session)
        if needle in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen}")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (tmp_path / "t.env").write_text("AGENT_LIST_FILE=agents.csv\nLOCAL_FILES_LIST=files.csv\nSTATE_DB=state.db\n")
    (tmp_path / "agents.csv").write_text("agent_id,label\n")
    (tmp_path / "files.csv").write_text("path,service,threshold,maintenance,format\naccess.log,nginx,5m,,combined\n")
    (tmp_path / "access.log").write_bytes(b"")
    name = f"top-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} log_monitor.py --env-file {tmp_path / 't.env'} top; echo EXITED $?; sleep 60"
    _tmux(name, "new-session", "-d", "-s", name, "-x", "180", "-y", "30", "-c", str(REPO), command)
    try:
        yield name, tmp_path
    finally:
        _tmux(name, "kill-server", check=False)


@pytest.mark.parametrize("key", ["q", "C-c"])
def test_top_in_tmux_shows_the_rates_and_tops_of_a_growing_access_log_and_quits_on_q_or_ctrl_c(
    session: tuple[str, Path], key: str
) -> None:
    name, folder = session
    _wait_for(name, "ev/s 10s")
    line = '10.0.0.7 - - [{}] "GET /shop/cart/view HTTP/1.1" 200 4096 "-" "t"\n'
    with (folder / "access.log").open("a") as log:
        for _ in range(3):
            stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            log.write(line.format(stamp) * 40)
            log.flush()
            time.sleep(0.4)
    screen = _wait_for(name, "/shop/cart/ 120")
    assert "nginx" in screen and "10.0.0.7" in screen
    row = next(r for r in screen.splitlines() if "nginx" in r)
    assert any(cell.strip() not in ("0.0", "-") for cell in row.split("│")[3:5]), row
    _tmux(name, "send-keys", "-t", name, key)
    assert "EXITED 0" in _wait_for(name, "EXITED")


def test_the_model_counts_new_lines_into_ten_second_and_two_minute_rates(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    target = Target(Target.file_key(str(log)), TargetKind.LOCAL_FILE, "app", 60, 60, path=str(log))
    model = TopModel([target], None)
    model.refresh(NOW)
    log.write_bytes(b"x\n" * 50)
    rows = model.refresh(NOW + timedelta(seconds=1))
    assert (rows[0].rate_short, rows[0].rate_medium) == (5.0, 50 / 120)
    assert rows[0].state == "OK"


def test_render_names_each_target_and_its_state() -> None:
    rows = [Row("file:/a", "svc /a", "WARNING", 1.5, 0.5, NOW - timedelta(minutes=3))]
    table = render(rows, NOW)
    assert table is not None


def test_the_model_shows_a_silenced_agent_as_maintenance_and_keys_where_labels_repeat(tmp_path: Path) -> None:
    web = [Target.agent(n, "web", 60) for n in ("001", "002")]
    db = Target.agent("003", "db", 60)
    with StateStore(tmp_path / "state.db") as store:
        store.commit([TargetState(t.key, Severity.CRITICAL, Condition.SILENT) for t in (*web, db)], [])
        store.add_silence(Silence("agent:003", NOW + timedelta(hours=1), "backup", NOW, "bob"))
        rows = {row.key: row for row in TopModel([*web, db], store).refresh(NOW)}
    assert rows["agent:003"].state == "MAINTENANCE"
    assert rows["agent:003"].label == "db"
    assert rows["agent:001"].label == "web (agent:001)"
    assert rows["agent:002"].label == "web (agent:002)"


def test_top_reads_a_running_daemons_status_server_not_the_saved_state(
    start: Callable[..., Running], tmp_path: Path
) -> None:
    running = start(token=TOKEN)
    assert wait_for(lambda: running.app.store.load_states().get("agent:001", TargetState("x")).recent is not None)
    # The saved file as an hour-old save left it: the daemon knows better.
    with StateStore(tmp_path / "saved.sqlite3") as saved:
        saved.commit([TargetState("agent:001", last_event=NOW, last_checked=NOW)], [])
        host, port = running.server.address
        model = TopModel([agent("001", "web")], saved, live=LiveStatus(host, port, TOKEN))
        [row] = model.refresh(datetime.now(UTC))
    daemon = running.app.store.load_states()["agent:001"]
    assert model.source == f"live from the daemon at http://127.0.0.1:{port}"
    assert row.last_event is not None and row.last_event >= daemon.last_event - timedelta(seconds=5)  # type: ignore[operator]
    assert row.state == "OK"
    assert row.rate_medium is not None and row.rate_medium > 0  # the daemon's events in its counting window
    screen = _text(render([row], datetime.now(UTC), model.source))
    assert "live from the daemon" in screen


def test_without_a_reachable_daemon_top_says_it_shows_the_saved_state_and_how_old_it_is(tmp_path: Path) -> None:
    with StateStore(tmp_path / "saved.sqlite3") as saved:
        saved.commit([TargetState("agent:001", last_event=NOW - timedelta(minutes=2), last_checked=NOW)], [])
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()  # nothing listens there
        model = TopModel([Target.agent("001", "web", 60.0)], saved, live=LiveStatus("127.0.0.1", port))
        [row] = model.refresh(NOW + timedelta(minutes=42))
    assert row.last_event == NOW - timedelta(minutes=2)
    assert model.source.startswith("the last saved state, 42m old")
    assert f"no daemon status server at http://127.0.0.1:{port}" in model.source
    unset = TopModel([Target.agent("001", "web", 60.0)], None)
    unset.refresh(NOW)
    assert "STATUS_ADDR not set" in unset.source


def _text(group: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(group)
    return console.export_text()
