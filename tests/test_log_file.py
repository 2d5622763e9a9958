"""LOG_FILE_PATH in a folder not there yet: made, or a configuration error naming the key; never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from log_monitor.cli import main

# `main` points the root logger at the log file; later tests must not write into this test's folder.
pytestmark = pytest.mark.usefixtures("root_logger")


def check_config(folder: Path, log_file: str) -> tuple[int, str]:
    env = folder / "log_monitor.env"
    env.write_text(f"AGENT_LIST_FILE=agents.csv\nSTATE_DB=state.sqlite3\nLOG_FILE_PATH={log_file}\n")
    (folder / "agents.csv").write_text("001,web\n")
    err = io.StringIO()
    code = main(["check-config", "--env-file", str(env)], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def test_a_missing_log_folder_is_created(tmp_path: Path) -> None:
    code, err = check_config(tmp_path, "logs/deeper/monitor.log")
    assert (code, err) == (0, "")
    assert (tmp_path / "logs" / "deeper" / "monitor.log").is_file()


def test_a_log_folder_that_cannot_be_made_is_a_configuration_error_naming_the_key_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the folder should be\n")
    code, err = check_config(tmp_path, "not-a-folder/dir/x.log")
    assert code == 78
    assert "LOG_FILE_PATH" in err
    assert str(tmp_path / "not-a-folder" / "dir" / "x.log") in err
    assert "Traceback" not in err
