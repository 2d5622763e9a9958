"""Control characters from names, labels and locations in text output: the text log, the console channel, JSON."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from log_monitor.logsetup import setup_logging
from log_monitor.models import Condition
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.printable import printable
from tests.helpers import notification

FORGED = "web\n2026-12-02 10:00:00,000 ERROR log_monitor: forged\r\x1b[31mred\x85\u2028\u202eevil"


def test_newlines_and_other_controls_become_visible_escapes_and_the_rest_is_kept() -> None:
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x00\x1b[31m\x7f\x85\x9f") == "\\x00\\x1b[31m\\x7f\\x85\\x9f"
    assert printable("\u2028\u2029\u202e\u2066") == "\\u2028\\u2029\\u202e\\u2066"
    assert printable("C:\\Windows\\x.log é ü 日本 ·") == "C:\\Windows\\x.log é ü 日本 ·"


def test_a_forged_line_in_an_agent_name_stays_inside_its_own_text_log_record(tmp_path: Path, root_logger: None) -> None:
    log_file = tmp_path / "monitor.log"
    setup_logging(level=logging.INFO, fmt="text", file=log_file)
    logging.getLogger("log_monitor.test").warning("agent %s is silent", FORGED)
    logging.getLogger("log_monitor.test").info("next")
    text = log_file.read_text()
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text
    lines = text.splitlines()  # splits at \r, \x85 and \u2028 too
    assert len(lines) == 2
    assert lines[0].endswith(
        "WARNING log_monitor.test: agent web\\n2026-12-02 10:00:00,000 ERROR log_monitor: forged\\r\\x1b[31mred"
        "\\x85\\u2028\\u202eevil is silent"
    )


def test_a_json_log_line_is_one_line_and_gives_the_name_back_exactly(tmp_path: Path, root_logger: None) -> None:
    log_file = tmp_path / "monitor.log"
    setup_logging(level=logging.INFO, fmt="json", file=log_file)
    logging.getLogger("log_monitor.test").warning("agent %s", FORGED, extra={"fields": {"label": FORGED}})
    text = log_file.read_text()
    assert "\x1b" not in text and "\r" not in text and "\x85" not in text and "\u2028" not in text
    [line] = text.splitlines()
    record = json.loads(line)
    assert record["event"] == f"agent {FORGED}" and record["fields"] == {"label": FORGED}


def test_the_console_channel_keeps_its_lines_and_escapes_what_a_name_brings() -> None:
    stream = io.StringIO()
    note = notification(
        target_key="agent:001",
        label="web\x1b[2J",
        condition=Condition.SILENT,
        agent_id="001",
        last_event=None,
        silent_for_s=None,
        detail="line one\nline two \x1b[31m",
    )
    ConsoleNotifier(stream).send(note)
    out = stream.getvalue()
    assert "\x1b" not in out
    assert "agent 001 web\\x1b[2J is SILENT" in out.splitlines()[0]
    assert "line one" in out.splitlines() and "line two \\x1b[31m" in out.splitlines()
