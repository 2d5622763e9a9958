"""FINDINGS_LOG: one JSON line per state change, for a Wazuh agent's `<localfile>` (rules in deploy/wazuh/)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from log_monitor.judge import Judged

log = logging.getLogger(__name__)

FINDINGS_VERSION = 1  # docs/notifiers.md, "Back into Wazuh"; deploy/wazuh/log_monitor_rules.xml matches these fields


def changed(row: Judged) -> bool:
    """A change of the severity shown, as the judge found it (a new target that is OK is not news)."""
    return row.changed


def finding(row: Judged, host: str, now: datetime) -> dict[str, Any]:
    """One state change as the rules read it: every field under `log_monitor`, so no Wazuh static field is hit."""
    target, state = row.target, row.state
    silent_for = (now - state.since).total_seconds() if state.since is not None else None
    return {
        "log_monitor": {
            "version": FINDINGS_VERSION,
            "event": "state_change",
            "at": now.isoformat(),
            "host": host,
            "target": target.key,
            "kind": target.kind.value,
            "label": target.label,
            "agent_id": target.agent_id or "",
            "agent_name": state.agent_name or "",
            "location": target.location or target.path or "",
            "route": target.route or "default",
            "from": row.previous.severity.name if row.previous is not None else "NEW",
            "to": state.severity.name,
            "condition": state.condition.value,
            "silent_for_s": round(silent_for, 1) if silent_for is not None else None,
            "last_event": state.last_event.isoformat() if state.last_event else None,
        }
    }


class FindingsLog:
    """Appends findings to a file (opened per batch: logrotate's copytruncate or a move both work)."""

    def __init__(self, path: Path, host: str) -> None:
        self.path = path
        self._host = host

    def write(self, rows: Iterable[Judged], now: datetime) -> int:
        """The changed rows' findings; a file that cannot be written is logged, never a failed pass."""
        lines = [json.dumps(finding(row, self._host, now), ensure_ascii=False) + "\n" for row in rows if changed(row)]
        if not lines:
            return 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.writelines(lines)
        except OSError as exc:
            log.error("FINDINGS_LOG %s: cannot write: %s", self.path, exc.strerror or type(exc).__name__)
            return 0
        return len(lines)
