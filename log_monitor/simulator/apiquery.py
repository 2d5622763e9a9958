"""The Wazuh API's query language: its parameters, agent items, select, sort and q, and its 400 answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from log_monitor.simulator.fleet import MANAGER_ID, WAZUH_VERSION, SimAgent
from log_monitor.simulator.httpd import JSON, HttpError


def wazuh_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def offset_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


AGENTS_PARAMS = frozenset(
    {
        "pretty",
        "wait_for_complete",
        "agents_list",
        "offset",
        "limit",
        "select",
        "sort",
        "search",
        "status",
        "q",
        "older_than",
        "os.platform",
        "os.version",
        "os.name",
        "manager",
        "version",
        "group",
        "node_name",
        "name",
        "ip",
        "registerIP",
        "group_config_status",
        "distinct",
    }
)
FIELD_FILTERS = ("os.platform", "os.version", "os.name", "manager", "version", "node_name", "name", "ip", "registerIP")
ID_AFTER = re.compile(r"id>(\d+)")
_Q_CONDITION = re.compile(r"^([\w.]+)(!=|=|<|>|~)(.*)$")
_OS_DETAILS = {
    "Ubuntu": {
        "arch": "x86_64",
        "codename": "Jammy Jellyfish",
        "major": "22",
        "minor": "04",
        "name": "Ubuntu",
        "platform": "ubuntu",
        "version": "22.04.4 LTS",
    },
    "CentOS Stream": {
        "arch": "x86_64",
        "major": "9",
        "name": "CentOS Stream",
        "platform": "centos",
        "version": "9",
    },
    "Microsoft Windows Server 2022 Datacenter": {
        "arch": "x86_64",
        "major": "10",
        "minor": "0",
        "name": "Microsoft Windows Server 2022 Datacenter",
        "platform": "windows",
        "version": "10.0.20348.2113",
    },
}


def bad_request(detail: str, code: int | None = None) -> HttpError:
    body: JSON = {"title": "Bad Request", "detail": detail}
    if code is not None:
        body["error"] = code
    return HttpError(400, body)


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise bad_request(f"'{params[name]}' is not of type 'integer'") from None
    if value < low:
        raise bad_request(f"{value} is less than the minimum of {low}")
    if high is not None and value > high:
        raise bad_request(f"{value} is greater than the maximum of {high}")
    return value


def agent_item(agent: SimAgent) -> JSON:
    os_details = dict(_OS_DETAILS.get(agent.os, {"arch": "x86_64", "name": agent.os, "platform": agent.os.lower()}))
    if os_details.get("platform") not in ("windows",):
        os_details["uname"] = f"Linux |{agent.name} |6.8.0-45-generic |#45-Ubuntu SMP x86_64 |x86_64"
    is_manager = agent.id == MANAGER_ID
    item: JSON = {
        "os": os_details,
        "id": agent.id,
        "dateAdd": wazuh_time(agent.date_add),
        "group": list(agent.group),
        "registerIP": agent.ip if is_manager else "any",
        "ip": agent.ip,
        "name": agent.name,
        "status": agent.status,
        "version": agent.version if agent.status != "never_connected" else None,
        "manager": agent.manager,
        "node_name": agent.node_name,
        "status_code": agent.status_code,
    }
    if agent.last_keepalive is not None:
        # The real API shows the manager's keepalive as the far future: it never stops talking to itself.
        # Written with an explicit +00:00 offset, not Z (REALITY.md §6).
        item["lastKeepAlive"] = "9999-12-31T23:59:59+00:00" if is_manager else offset_time(agent.last_keepalive)
    if not is_manager and agent.status != "never_connected":
        item["configSum"] = "ab73af41699f13fdd81903b5f23d8d00"
        item["mergedSum"] = "9a016508cea1e997ab8569f5cfab30f5"
        item["group_config_status"] = "synced"
    if agent.disconnection_time is not None:
        item["disconnection_time"] = wazuh_time(agent.disconnection_time)
    if item["version"] is None:
        del item["version"]
    if is_manager:
        item["version"] = WAZUH_VERSION
    return item


def lookup(item: Mapping[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


_KNOWN_FIELDS = frozenset(
    {
        "id",
        "name",
        "ip",
        "status",
        "status_code",
        "os",
        "version",
        "manager",
        "node_name",
        "dateAdd",
        "lastKeepAlive",
        "group",
        "registerIP",
        "configSum",
        "mergedSum",
        "group_config_status",
        "disconnection_time",
    }
)


def _known_field(dotted: str) -> bool:
    top, _, rest = dotted.partition(".")
    if top == "os":
        return rest in ("", "arch", "codename", "major", "minor", "name", "platform", "uname", "version")
    return not rest and top in _KNOWN_FIELDS


def select_fields(item: Mapping[str, Any], fields: list[str]) -> JSON:
    bad = [f for f in fields if not _known_field(f)]
    if bad:
        raise bad_request(f"Select field(s) {bad} not valid for this request", 1724)
    selected: JSON = {"id": item["id"]}
    for dotted in fields:
        value = lookup(item, dotted)
        if value is None:
            continue
        parts = dotted.split(".")
        target = selected
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return selected


def _sort_value(item: Mapping[str, Any], dotted: str) -> tuple[int, Any]:
    value = lookup(item, dotted)
    if dotted == "id" and isinstance(value, str) and value.isdigit():
        return (0, int(value))
    return (0 if value is not None else 1, "" if value is None else str(value).lower())


def _sort_key(dotted: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda item: _sort_value(item, dotted)


def sort_items(items: list[JSON], spec: str) -> list[JSON]:
    keys = [part.strip() for part in spec.split(",") if part.strip()]
    for key in reversed(keys):
        descending = key.startswith("-")
        name = key.lstrip("+-")
        if not _known_field(name):
            raise bad_request(f"Sort field(s) ['{name}'] not valid for this request", 1403)
        items = sorted(items, key=_sort_key(name), reverse=descending)
    return items


def parse_q(query: str) -> Callable[[Mapping[str, Any]], bool]:
    """Wazuh's q: conditions joined by ';' (AND, binding tighter) and ',' (OR); no parentheses here."""
    if "(" in query or ")" in query:
        raise bad_request("Parenthesised queries are not supported by the simulator", 1407)
    groups: list[list[Callable[[Mapping[str, Any]], bool]]] = []
    for group in query.split(","):
        conditions: list[Callable[[Mapping[str, Any]], bool]] = []
        for text in group.split(";"):
            match = _Q_CONDITION.match(text.strip())
            if match is None or not _known_field(match.group(1)):
                raise bad_request(f"Query not valid: '{text}'", 1407)
            conditions.append(_condition(match.group(1), match.group(2), match.group(3)))
        groups.append(conditions)
    return lambda item: any(all(cond(item) for cond in conds) for conds in groups)


def _condition(name: str, operator: str, expected: str) -> Callable[[Mapping[str, Any]], bool]:
    def compare(item: Mapping[str, Any]) -> bool:
        value = lookup(item, name)
        if value is None:
            return operator == "!="
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        if operator == "=":
            return text == expected
        if operator == "!=":
            return text != expected
        if operator == "~":
            return expected.lower() in text.lower()
        left: Any = text
        right: Any = expected
        if text.isdigit() and expected.isdigit():
            left, right = int(text), int(expected)
        return bool(left < right) if operator == "<" else bool(left > right)

    return compare
