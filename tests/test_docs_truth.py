"""The docs say what ships: the cron line, the sources they cite, what `make test` needs, deploy/'s files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.prerequisites import SPEC_HINT, missing

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


def _cron_output() -> str:
    entry = next(
        line for line in (ROOT / "deploy" / "log-monitor.cron").read_text().splitlines() if line.startswith("*/")
    )
    found = re.search(r">>(\S+) 2>&1$", entry)
    assert found is not None, entry
    return found.group(1)


def test_no_doc_says_the_shipped_cron_line_throws_its_output_away() -> None:
    assert _cron_output() == "/var/log/log-monitor/cron.log"
    for doc in DOCS:
        text = " ".join(doc.read_text().split())
        assert "cron line sends stdout to `/dev/null`" not in text, doc.name
        assert "cron line above sends stdout to `/dev/null`" not in text, doc.name


def test_the_docs_cite_no_file_that_is_not_in_the_repository() -> None:
    for doc in DOCS:
        assert "REALITY.md" not in doc.read_text(), doc.name


def test_the_readme_says_what_make_test_needs_beyond_python_and_make() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "need only Python" not in readme
    for word in ("../shared/wazuh", "WAZUH_SPEC_DIR", "chromium", "tmux", "systemd-analyze"):
        assert word in readme, word


def test_make_test_names_what_to_install_in_one_line_when_pieces_are_missing(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "WAZUH_SPEC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "tests.prerequisites"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert "apt-get install -y --no-install-recommends chromium tmux" in lines[0]
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(PY) -m tests.prerequisites\n\t$(PY) -m pytest" in makefile


def test_a_missing_wazuh_spec_says_where_to_put_it(tmp_path: Path) -> None:
    needed, _ = missing({"WAZUH_SPEC_DIR": str(tmp_path)}, lambda name: f"/usr/bin/{name}", repo=tmp_path / "repo")
    assert needed == [SPEC_HINT]
    assert "../shared/wazuh" in SPEC_HINT and "WAZUH_SPEC_DIR" in SPEC_HINT


def test_in_ci_a_missing_systemd_tool_is_needed_and_elsewhere_only_skips_its_tests() -> None:
    def without_systemd(name: str) -> str | None:
        return None if name.startswith("systemd") else f"/usr/bin/{name}"

    spec = {"WAZUH_SPEC_DIR": str(ROOT.parent / "shared" / "wazuh")}
    needed, optional = missing(spec | {"CI": "true"}, without_systemd)
    assert any("systemd-analyze" in word for word in needed)
    needed, optional = missing(spec, without_systemd)
    assert not any("systemd" in word for word in needed)
    assert any("systemd-analyze" in word for word in optional)


def test_outside_ci_the_systemd_checks_are_skipped_with_a_reason_not_passed(tmp_path: Path) -> None:
    python_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONSTARTUP")}
    env["PATH"] = python_bin  # no systemd-analyze on it
    test = "tests/test_install.py::test_the_service_unit_is_hardened_to_an_exposure_of_at_most_2"
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist", test]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert "SKIPPED [1] tests/test_install.py" in run.stdout, run.stdout[-800:]
    assert "systemd-analyze missing" in run.stdout
    assert " passed" not in run.stdout


def test_deploy_has_a_logrotate_file_for_the_log_and_the_cron_output() -> None:
    text = (ROOT / "deploy" / "logrotate.d" / "log-monitor").read_text()
    header = next(line for line in text.splitlines() if line.startswith("/"))
    assert _cron_output() in header.split()
    assert "/var/log/log-monitor/log_monitor.log" in header.split()
    assert "copytruncate" in text  # the daemon keeps its log open
    assert "su log-monitor log-monitor" in text  # the folder is the service user's
    assert "deploy/logrotate.d/log-monitor" in (ROOT / "docs" / "operations.md").read_text()
