"""The event schema of Wazuh 4.x and 5.0: index pattern, field names, which events are logs; fields checked mapped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from log_monitor.config.keys import DEFAULTS, SCHEMA_5X_DEFAULTS
from log_monitor.errors import ResponseError

BACKEND = "Wazuh indexer"
SCHEMAS = ("auto", "4.x", "5.x")


@dataclass(frozen=True)
class Schema:
    """Where a Wazuh version's events are and what their fields are called (REALITY.md §7)."""

    name: str
    index_pattern: str
    agent_id_field: str
    timestamp_field: str
    location_field: str
    # 5.0 says which events are logs by their queue (49 log files, 102 Windows channels); 4.x by location.
    queue_field: str | None = None
    log_queues: tuple[int, ...] = ()

    def fields(self) -> list[str]:
        return [self.agent_id_field, self.timestamp_field, self.location_field]


def _preset(name: str, values: Mapping[str, Any], **logs: Any) -> Schema:
    return Schema(
        name,
        values["WAZUH_INDEX_PATTERN"],
        values["WAZUH_AGENT_ID_FIELD"],
        values["WAZUH_TIMESTAMP_FIELD"],
        values["WAZUH_LOCATION_FIELD"],
        **logs,
    )


SCHEMA_4X = _preset("4.x", DEFAULTS)
SCHEMA_5X = _preset("5.x", SCHEMA_5X_DEFAULTS, queue_field="wazuh.protocol.queue", log_queues=(49, 102))
# What 5.0 no longer has, said once where it matters.
NO_CHANNELS_5X = (
    "Wazuh 5.0 indexes no Windows channel field: channels cannot be told apart; the location is watched as all "
    "of the agent's Windows events"
)
NO_LOGCOLLECTOR_5X = "Wazuh 5.0 has no logcollector statistics endpoint: that source is off"


class UnmappedFieldsError(ResponseError):
    """The index pattern maps none of a field the query needs: every agent would look never seen."""


def unmapped(caps: Mapping[str, Any], fields: Sequence[str]) -> list[str] | None:
    """The fields a `_field_caps` answer does not map in any index; None when the pattern matched no index."""
    indices = caps.get("indices")
    if isinstance(indices, list) and not indices:
        return None  # no index: said as such by the searches (REALITY.md §4), not as unmapped fields
    known = caps.get("fields")
    known = known if isinstance(known, dict) else {}
    missing = []
    for name in fields:
        types = known.get(name)
        if not isinstance(types, dict) or not (set(types) - {"unmapped"}):
            missing.append(name)
    return missing


def unmapped_error(missing: Sequence[str], pattern: str, schema: Schema, five_x_index: bool) -> UnmappedFieldsError:
    """The words for unmapped fields: which, where, and what to set instead."""
    names = ", ".join(missing)
    text = f"the index pattern {pattern!r} maps no field {names}: every agent would look silent"
    if five_x_index and schema.name != "5.x":
        text += (
            f"; this is a Wazuh 5.0 indexer: set WAZUH_SCHEMA=5.x (pattern {SCHEMA_5X.index_pattern}, fields "
            f"{', '.join(SCHEMA_5X.fields())})"
        )
    else:
        text += " (check WAZUH_AGENT_ID_FIELD, WAZUH_TIMESTAMP_FIELD, WAZUH_LOCATION_FIELD and WAZUH_SCHEMA)"
    return UnmappedFieldsError(BACKEND, text)


def is_channel(location: str) -> bool:
    """A Windows event channel as agents.csv names it (`Security`, `Microsoft-Windows-Sysmon/Operational`).

    Not a file path (`/var/log/x`, `C:\\logs\\x.log`), nor what 4.x and 5.0 index (`EventChannel`), nor
    logcollector's other inputs (`journald`, a command's alias).
    """
    if location.startswith("/") or "\\" in location or ":" in location:
        return False
    return location not in ("EventChannel", "WinEvtLog", "journald") and not location.startswith("command")
