"""agents.csv / files.csv -> Targets, with every problem named by file and 1-based physical line.

agents.csv: `agent_id,label[,interval[,threshold[,files[,maintenance[,drop_ratio[,route]]]]]]]`
groups.csv: `group,interval,threshold,files,maintenance,drop_ratio,route` (a Wazuh agent group's policy)
files.csv:  `path,service[,threshold[,maintenance[,format[,high_margin[,low_fraction[,patterns]]]]]]]`

`#` comments and blank lines are allowed; an optional header row is recognised by its first cell
(`agent_id` or `path`). An empty optional field means the default. Each row is one physical line
(quoted cells may contain commas, not line breaks), so line numbers are the editor's.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from log_monitor.config import Settings
from log_monitor.config.values import normalize_agent_id, parse_duration, resolve_path
from log_monitor.errors import ConfigError
from log_monitor.models import MaintenanceWindow, Target, TargetKind
from log_monitor.patterns import parse_rules

AGENT_COLUMNS = ("agent_id", "label", "interval", "threshold", "files", "maintenance", "drop_ratio", "route")
GROUP_COLUMNS = ("group", "interval", "threshold", "files", "maintenance", "drop_ratio", "route")
# The DESIGN contract first; the extra columns (docs/configuration.md, "files.csv extensions") after it.
FILE_COLUMNS = ("path", "service", "threshold", "maintenance", "format", "high_margin", "low_fraction", "patterns")
LEARN_LOCATIONS = "*"  # in the files column: learn the agent's locations instead of listing them

_DAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_WINDOW = re.compile(r"^(?:(?P<days>[A-Za-z][A-Za-z,\s-]*?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


def parse_maintenance(text: str) -> tuple[MaintenanceWindow, ...]:
    """`|`-separated windows `[Mon-Fri ]HH:MM-HH:MM` (days: `Sat`, `Sat-Sun`, `Mon,Wed,Fri`); ValueError if bad.

    A window whose end is before its start crosses midnight and belongs to the day it starts on.
    """
    windows = []
    for piece in text.split("|"):
        written = " ".join(piece.split())
        if not written:
            continue
        match = _WINDOW.match(written)
        if match is None:
            raise ValueError(f"expected a window like 'Mon-Fri 22:00-06:00' or '02:00-03:00', got {written!r}")
        days = _parse_days(match.group("days")) if match.group("days") else frozenset(range(7))
        start = _minute_of_day(match.group("start"), allow_24=False)
        end = _minute_of_day(match.group("end"), allow_24=True)
        if start == end:
            raise ValueError(f"window {written!r} starts and ends at the same time")
        windows.append(MaintenanceWindow(days=days, start_minute=start, end_minute=end, text=written))
    return tuple(windows)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.strip().partition("-")
        start = _day(first)
        if not dash:
            days.add(start)
            continue
        end = _day(last)
        day = start
        days.add(day)
        while day != end:  # Fri-Mon wraps over the weekend
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def _day(text: str) -> int:
    day = _DAYS.get(text.strip().lower())
    if day is None:
        raise ValueError(f"expected a day like Mon, Tue, ... Sun, got {text.strip()!r}")
    return day


def _minute_of_day(text: str, *, allow_24: bool) -> int:
    hours, _, minutes = text.partition(":")
    hour, minute = int(hours), int(minutes)
    if allow_24 and hour == 24 and minute == 0:
        return 24 * 60
    if hour > 23 or minute > 59:
        raise ValueError(f"expected a time HH:MM between 00:00 and 23:59, got {text!r}")
    return hour * 60 + minute


@dataclass(frozen=True)
class _Row:
    line: int  # 1-based physical line
    cells: list[str]


def _rows(path: Path, header: str, problems: list[str]) -> Iterator[_Row]:
    """The data rows of a CSV file: comments, blank lines and the optional header skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {type(exc).__name__}")
        return
    first = True
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): editors count \n only
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            # strict: an unterminated quote is an error, not a cell that silently runs to the end of the line.
            cells = [cell.strip() for cell in next(csv.reader([line], skipinitialspace=True, strict=True), [])]
        except csv.Error as exc:
            problems.append(f"{path}:{number}: not a CSV row: {exc} (a quote opened and not closed?)")
            continue
        if first and cells and cells[0].lower() == header:
            first = False
            continue
        first = False
        yield _Row(number, cells)


def _split_columns(path: Path, row: _Row, names: tuple[str, ...], problems: list[str]) -> list[str] | None:
    cells = list(row.cells)
    while len(cells) > len(names) and not cells[-1]:
        cells.pop()  # trailing empty cells from spreadsheets are harmless
    if len(cells) > len(names):
        problems.append(
            f"{path}:{row.line}: too many columns ({len(cells)}); expected at most {len(names)}: {','.join(names)}"
        )
        return None
    return cells + [""] * (len(names) - len(cells))


# The same rules for every CSV file of the configuration (routes.csv, groups.csv too).
csv_rows = _rows
split_columns = _split_columns


def _duration(path: Path, line: int, column: str, text: str, default: float, problems: list[str]) -> float:
    if not text:
        return default
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        problems.append(f"{path}:{line}: {column}: {exc}")
        return default
    if seconds <= 0:
        problems.append(f"{path}:{line}: {column}: expected a duration greater than zero, got {text!r}")
        return default
    return seconds


def _maintenance(path: Path, line: int, text: str, problems: list[str]) -> tuple[MaintenanceWindow, ...]:
    try:
        return parse_maintenance(text)
    except ValueError as exc:
        problems.append(f"{path}:{line}: maintenance: {exc}")
        return ()


MANAGER_ID = "000"
# Agent 000 is the manager (4.x; REALITY.md §9): not one host whose silence means anything.
MANAGER_ROW = (
    "agent 000 is the Wazuh manager, not one host: its events mix every manager node's own logs with every "
    "syslog sender's, and its keepalive never stops, so neither its silence nor its status means anything; "
    "remove the row (a monitor on the manager host can watch its own log files in files.csv, LOCAL_FILES_LIST)"
)


def _agent_targets(settings: Settings, problems: list[str]) -> list[Target]:
    path = settings.agent_list_file
    if not path.is_file():
        if not settings.agent_discovery:
            example = path.with_name(path.name + ".example")
            start = f" (`cp {example} {path}` is a start)" if example.is_file() else ""
            problems.append(
                f"{path}: agents file not found (AGENT_LIST_FILE); create it{start}, or set AGENT_DISCOVERY=active"
            )
        return []
    targets: list[Target] = []
    seen: dict[str, int] = {}
    for row in _rows(path, AGENT_COLUMNS[0], problems):
        cells = _split_columns(path, row, AGENT_COLUMNS, problems)
        if cells is None:
            continue
        raw_id, label, interval_text, threshold_text, files_text, maintenance_text, drop_text, route = cells
        try:
            agent_id = normalize_agent_id(raw_id)
        except ValueError:
            problems.append(f"{path}:{row.line}: agent_id: expected digits like 001, got {raw_id!r}")
            continue
        if agent_id == MANAGER_ID:
            problems.append(f"{path}:{row.line}: {MANAGER_ROW}")
            continue
        if agent_id in seen:
            problems.append(
                f"{path}:{row.line}: agent {agent_id} is listed twice (lines {seen[agent_id]} and {row.line})"
            )
            continue
        seen[agent_id] = row.line
        label = label or f"agent {agent_id}"
        default_interval = settings.agent_check_intervals.get(agent_id, settings.default_check_interval_s)
        interval = _duration(path, row.line, "interval", interval_text, default_interval, problems)
        threshold = _duration(path, row.line, "threshold", threshold_text, interval, problems)
        windows = _maintenance(path, row.line, maintenance_text, problems)
        drop_ratio = _drop_ratio(path, row.line, drop_text, problems)
        origin = f"{path}:{row.line}"
        agent = Target.agent(agent_id, label, interval, threshold, maintenance=windows, origin=origin)
        # What the row sets itself: a Wazuh group's policy (groups.csv) fills only the rest, field by field.
        given = {name for name, text in zip(GROUP_COLUMNS[1:], cells[2:], strict=True) if text}
        if agent_id in settings.agent_check_intervals:
            given.add("interval")
        agent = replace(agent, drop_ratio=drop_ratio, route=route, given=frozenset(given))
        targets.append(agent)
        locations = list(dict.fromkeys(loc.strip() for loc in files_text.split("|") if loc.strip()))
        # A location is watched like its agent (its drop_ratio too); messages add the location to the label.
        targets.extend(
            replace(agent, key=Target.location_key(agent_id, location), kind=TargetKind.LOCATION, location=location)
            for location in locations
        )
    return targets


def _file_targets(settings: Settings, problems: list[str]) -> list[Target]:
    path = settings.local_files_list
    if path is None:
        return []
    if not path.is_file():
        problems.append(f"{path}: local files list not found (LOCAL_FILES_LIST)")
        return []
    targets: list[Target] = []
    seen: dict[str, int] = {}
    interval = settings.default_check_interval_s
    for row in _rows(path, FILE_COLUMNS[0], problems):
        cells = _split_columns(path, row, FILE_COLUMNS, problems)
        if cells is None:
            continue
        file_text, service, threshold_text, maintenance_text, log_format, high_text, low_text, patterns_text = cells
        if not file_text:
            problems.append(f"{path}:{row.line}: path: empty")
            continue
        file_path = str(resolve_path(path.parent, file_text))
        if file_path in seen:
            problems.append(f"{path}:{row.line}: {file_path} is listed twice (lines {seen[file_path]} and {row.line})")
            continue
        seen[file_path] = row.line
        threshold = _duration(path, row.line, "threshold", threshold_text, interval, problems)
        if log_format not in ("", "plain", "combined"):
            problems.append(f"{path}:{row.line}: format: expected plain or combined, got {log_format!r}")
        high = _fraction(path, row.line, "high_margin", high_text, 1.0, problems)
        low = _fraction(path, row.line, "low_fraction", low_text, 0.2, problems)
        patterns_file = str(resolve_path(path.parent, patterns_text)) if patterns_text else None
        if patterns_file is not None and not Path(patterns_file).is_file():
            problems.append(f"{path}:{row.line}: patterns: file not found: {patterns_file}")
        elif patterns_file is not None:
            problems.extend(_rule_problems(patterns_file))
        targets.append(
            Target(
                key=Target.file_key(file_path),
                kind=TargetKind.LOCAL_FILE,
                label=f"{service} {file_path}" if service else file_path,
                interval_s=interval,
                threshold_s=threshold,
                path=file_path,
                maintenance=_maintenance(path, row.line, maintenance_text, problems),
                origin=f"{path}:{row.line}",
                log_format="combined" if log_format == "combined" else "",
                traffic_high_margin=high,
                traffic_low_fraction=low,
                patterns_file=patterns_file,
                service=service,
            )
        )
    return targets


def _share(text: str) -> float:
    """`50%` or `0.5` as 0.5; -1.0 when it is no number, which every caller refuses."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        return -1.0


def _fraction(path: Path, line: int, column: str, text: str, default: float, problems: list[str]) -> float:
    """`50%` or `0.5`; empty means the default."""
    if not text:
        return default
    value = _share(text)
    if not value > 0 or math.isinf(value):  # "not >" also refuses NaN
        problems.append(f"{path}:{line}: {column}: expected a positive number or percentage like 50%, got {text!r}")
        return default
    return value


def _drop_ratio(path: Path, line: int, text: str, problems: list[str]) -> float | None:
    """`0.1` or `10%`, from 0 (rate-drop alerts off for this target) to 1; empty means DROP_RATIO."""
    if not text:
        return None
    value = _share(text)
    if not 0 <= value <= 1:  # also refuses NaN
        problems.append(f"{path}:{line}: drop_ratio: expected a share from 0 (off) to 1 like 0.1 or 10%, got {text!r}")
        return None
    return value


def load_targets(settings: Settings) -> list[Target]:
    """Every target listed in AGENT_LIST_FILE and LOCAL_FILES_LIST; ConfigError lists every problem at once."""
    problems: list[str] = []
    targets = _agent_targets(settings, problems) + _file_targets(settings, problems)
    _group_policies(settings, problems)  # its problems are the configuration's, found at the same time
    if problems:
        raise ConfigError(problems)
    return targets


def _rule_problems(patterns_file: str) -> list[str]:
    """A bad rule is a configuration error like any other: found at start, with its file and line."""
    try:
        text = Path(patterns_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{patterns_file}: unreadable: {getattr(exc, 'strerror', None) or type(exc).__name__}"]
    return parse_rules(text, patterns_file)[1]


@dataclass(frozen=True)
class GroupPolicy:
    """One groups.csv row: the settings an agent of this Wazuh group takes where its agents.csv row is silent."""

    group: str
    interval_s: float | None
    threshold_s: float | None
    files: tuple[str, ...]
    maintenance: tuple[MaintenanceWindow, ...] | None
    drop_ratio: float | None
    route: str
    origin: str  # "config/groups.csv:3"


@dataclass(frozen=True)
class GroupPolicies:
    """Every groups.csv row in file order; an agent takes the first that names one of its groups."""

    rows: tuple[GroupPolicy, ...] = ()

    @property
    def groups(self) -> list[str]:
        return [row.group for row in self.rows]

    def policy_for(self, groups: Iterable[str]) -> GroupPolicy | None:
        mine = set(groups)
        return next((row for row in self.rows if row.group in mine), None)

    def apply(self, targets: Sequence[Target], groups_of: Mapping[str, Sequence[str]]) -> list[Target]:
        """The targets with each agent's group policy laid under its own row; the group's files added as locations."""
        out: list[Target] = []
        for target in targets:
            policy = self.policy_for(groups_of.get(target.agent_id or "", ())) if target.agent_id else None
            if policy is None:
                out.append(target)
                continue
            shaped = with_policy(target, policy)
            out.append(shaped)
            if target.kind is TargetKind.AGENT and "files" not in target.given:
                out.extend(group_locations(shaped, policy))
        return out

    def discovered(
        self, agent_id: str, name: str, groups: Sequence[str], interval_s: float, origin: str
    ) -> list[Target]:
        """A discovered agent (and its group's files) with its group's policy."""
        agent = Target.agent(agent_id, name, interval_s, origin=origin)
        policy = self.policy_for(groups)
        if policy is None:
            return [agent]
        shaped = with_policy(agent, policy)
        return [shaped, *group_locations(shaped, policy)]


def with_policy(target: Target, policy: GroupPolicy) -> Target:
    """`target` with the policy's values wherever its own row left the field empty."""
    given = target.given
    interval = target.interval_s if "interval" in given or policy.interval_s is None else policy.interval_s
    if "threshold" in given:
        threshold = target.threshold_s
    else:
        threshold = policy.threshold_s if policy.threshold_s is not None else interval
    return replace(
        target,
        interval_s=interval,
        threshold_s=threshold,
        maintenance=target.maintenance if "maintenance" in given or policy.maintenance is None else policy.maintenance,
        drop_ratio=target.drop_ratio if "drop_ratio" in given or policy.drop_ratio is None else policy.drop_ratio,
        route=target.route if "route" in given or not policy.route else policy.route,
        origin=f"{target.origin} + {policy.origin}" if target.origin else policy.origin,
    )


def group_locations(agent: Target, policy: GroupPolicy) -> list[Target]:
    assert agent.agent_id is not None
    return [
        replace(agent, key=Target.location_key(agent.agent_id, loc), kind=TargetKind.LOCATION, location=loc)
        for loc in policy.files
    ]


def load_groups(settings: Settings) -> GroupPolicies:
    """GROUPS_FILE's policies; ConfigError lists every problem with its file and line."""
    problems: list[str] = []
    policies = _group_policies(settings, problems)
    if problems:
        raise ConfigError(problems)
    return policies


def _group_policies(settings: Settings, problems: list[str]) -> GroupPolicies:
    path = settings.groups_file
    if path is None:
        return GroupPolicies()
    if not path.is_file():
        problems.append(f"{path}: groups file not found (GROUPS_FILE)")
        return GroupPolicies()
    rows: list[GroupPolicy] = []
    seen: dict[str, int] = {}
    for row in _rows(path, GROUP_COLUMNS[0], problems):
        cells = _split_columns(path, row, GROUP_COLUMNS, problems)
        if cells is None:
            continue
        group, interval_text, threshold_text, files_text, maintenance_text, drop_text, route = cells
        if not group:
            problems.append(f"{path}:{row.line}: group: empty")
            continue
        if group in seen:
            problems.append(f"{path}:{row.line}: group {group!r} is listed twice (lines {seen[group]} and {row.line})")
            continue
        seen[group] = row.line
        interval = _duration(path, row.line, "interval", interval_text, 0.0, problems) or None
        threshold = _duration(path, row.line, "threshold", threshold_text, 0.0, problems) or None
        rows.append(
            GroupPolicy(
                group=group,
                interval_s=interval,
                threshold_s=threshold,
                files=tuple(dict.fromkeys(loc.strip() for loc in files_text.split("|") if loc.strip())),
                maintenance=_maintenance(path, row.line, maintenance_text, problems) if maintenance_text else None,
                drop_ratio=_drop_ratio(path, row.line, drop_text, problems),
                route=route,
                origin=f"{path}:{row.line}",
            )
        )
    return GroupPolicies(tuple(rows))
