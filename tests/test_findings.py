"""FINDINGS_LOG and deploy/wazuh/: each state change is one JSON line, and the Wazuh rules read only fields it has."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from log_monitor.clock import FakeClock
from log_monitor.findings import finding
from log_monitor.judge import Judged
from log_monitor.models import Condition, Observation, Severity, Target, TargetState
from log_monitor.simulator.fleet import Fleet
from tests.monitor_rig import INTERVAL, NOW, Rig, agent

RULES = Path(__file__).resolve().parent.parent / "deploy" / "wazuh" / "log_monitor_rules.xml"


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The JSON decoder's dynamic fields: nested keys joined with dots."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def rules() -> list[ET.Element]:
    # A Wazuh rules file is a list of <group> elements, not one XML document: wrapped to be parsed.
    text = RULES.read_text()
    root = ET.fromstring(f"<rules>{re.sub(r'<!--.*?-->', '', text, flags=re.DOTALL)}</rules>")  # noqa: S314 - our file
    return root.findall("./group/rule")


def matching(fields: dict[str, Any]) -> list[str]:
    """The rule ids an event with these fields fires, parent before child (if_sid), as analysisd walks them."""
    fired: list[str] = []
    for rule in rules():
        parent = rule.findtext("if_sid")
        if parent is not None and parent not in fired:
            continue
        if rule.findtext("decoded_as") not in (None, "json"):
            continue
        conditions = rule.findall("field")
        if all(re.search(str(c.text), str(fields.get(c.get("name", ""), ""))) for c in conditions):
            fired.append(str(rule.get("id")))
    return fired


def judged(severity: Severity, condition: Condition = Condition.SILENT, before: Severity = Severity.OK) -> Judged:
    target = Target.agent("002", "dc-1", 300.0)
    since = NOW - timedelta(hours=1) if severity is not Severity.OK else None
    state = TargetState("agent:002", severity=severity, condition=condition, since=since, agent_name="dc-1")
    return Judged(target, Observation("agent:002", NOW), state, TargetState("agent:002", severity=before))


def test_every_field_the_rules_match_or_show_is_in_a_finding() -> None:
    fields = flatten(finding(judged(Severity.CRITICAL), "soc-monitor", NOW))
    for rule in rules():
        for condition in rule.findall("field"):
            assert condition.get("name") in fields, (rule.get("id"), condition.get("name"))
        for name in re.findall(r"\$\(([^)]+)\)", rule.findtext("description") or ""):
            assert name in fields, (rule.get("id"), name)


def test_the_rules_are_local_rule_ids_and_levels_follow_severity() -> None:
    ids = [int(str(rule.get("id"))) for rule in rules()]
    assert len(ids) == len(set(ids)) and all(100000 <= i <= 120000 for i in ids)
    level = {str(rule.get("id")): int(str(rule.get("level"))) for rule in rules()}

    def deepest(severity: Severity, condition: Condition = Condition.SILENT) -> int:
        before = Severity.CRITICAL if severity is Severity.OK else Severity.OK
        fired = matching(flatten(finding(judged(severity, condition, before), "soc-monitor", NOW)))
        assert fired[0] == "100500"
        return level[fired[-1]]

    assert deepest(Severity.OK) < deepest(Severity.WARNING) < deepest(Severity.UNKNOWN) < deepest(Severity.CRITICAL)
    assert deepest(Severity.CRITICAL, Condition.DISCONNECTED) > deepest(Severity.CRITICAL)


@pytest.fixture
def rig(clock: FakeClock, tmp_path: Path) -> Iterator[Rig]:
    fleet = Fleet(now=clock.now)
    fleet.add_agent("002", "dc-1", rate_per_min=6, started=NOW - timedelta(hours=3))
    made = Rig(clock, tmp_path, fleet)
    with made.sim:
        yield made


def test_a_pass_writes_one_finding_per_state_change_that_a_wazuh_rule_fires_on(rig: Rig) -> None:
    path = rig.folder / "logs" / "findings.json"
    rig.fleet.silence("002", since=NOW)
    with rig.app([agent("002", "dc-1")], findings_log=path) as app:
        app.monitor.run_once()  # a new target that is OK: not news
        for _ in range(3):
            rig.clock.advance(INTERVAL + 60)
            app.monitor.run_once()
        rig.fleet.resume("002", at=rig.clock.now())
        rig.clock.advance(60)
        app.monitor.run_once()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(f["log_monitor"]["from"], f["log_monitor"]["to"]) for f in lines] == [
        ("OK", "WARNING"),
        ("WARNING", "CRITICAL"),
        ("CRITICAL", "OK"),
    ]
    assert lines[0]["log_monitor"]["target"] == "agent:002" and lines[0]["log_monitor"]["condition"] == "silent"
    assert [matching(flatten(f))[-1] for f in lines] == ["100502", "100503", "100501"]


def test_a_findings_log_that_cannot_be_written_is_logged_and_the_pass_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = rig.folder / "not-a-folder"
    blocker.write_text("")
    rig.fleet.silence("002", since=NOW)
    with rig.app([agent("002", "dc-1")], findings_log=blocker / "findings.json") as app:
        app.monitor.run_once()
        rig.clock.advance(INTERVAL + 60)
        result = app.monitor.run_once()
    assert result.exit_code == 1 and len(result.notifications) == 1
    assert "FINDINGS_LOG" in caplog.text and "cannot write" in caplog.text
