"""routes.csv -> Routes, and the Router that says which outbox lanes (receivers) a notification is queued on.

`route,mode,receivers`: `receivers` is `|`-separated `kind[:destination]`; `mode` is `all` (every receiver,
each delivered once, durably: one outbox row per receiver) or `first` (the first that accepts, in order: one
outbox row for the whole chain). A *lane* is what one outbox row is delivered through, written as text so a
queued row still means the same after a restart: a receiver (`slack:#soc-linux`), a fallback chain
(`first:slack:#soc|email`), or `` for today's chain (Slack, else email, else Teams, else the console), which
is `default` when routes.csv has no `default` row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from log_monitor.config import Settings
from log_monitor.config.values import parse_syslog_addr
from log_monitor.errors import ConfigError
from log_monitor.models import Notification, NotificationKind, Target, TargetKind
from log_monitor.targets import csv_rows, load_groups, split_columns

ROUTE_COLUMNS = ("route", "mode", "receivers")
RECEIVER_KINDS = ("slack", "email", "teams", "webhook", "pagerduty", "syslog", "console")
# The kinds whose destination routes.csv may name; the others have one endpoint each, set in the env file.
WITH_DESTINATION = frozenset({"slack", "email", "syslog"})
DEFAULT_ROUTE = "default"
DEFAULT_LANE = ""  # today's chain: the outbox rows written before routes existed are on it too
FIRST_PREFIX = "first:"


@dataclass(frozen=True)
class Route:
    """One routes.csv row."""

    name: str
    mode: str  # all, first
    receivers: tuple[str, ...]  # `kind[:destination]`, normalised (kind lower case, spaces trimmed)
    origin: str  # "config/routes.csv:3"

    def lanes(self) -> tuple[str, ...]:
        if self.mode == "all" or len(self.receivers) == 1:
            return self.receivers
        return (FIRST_PREFIX + "|".join(self.receivers),)


@dataclass(frozen=True)
class Routes:
    """Every route by name; an empty one routes everything to today's chain."""

    by_name: Mapping[str, Route]

    def lanes(self, route: str) -> tuple[str, ...]:
        """The lanes of a route; an empty or unknown name is `default` (config refuses unknown ones at start)."""
        found = self.by_name.get(route or DEFAULT_ROUTE) or self.by_name.get(DEFAULT_ROUTE)
        return found.lanes() if found is not None else (DEFAULT_LANE,)

    def all_lanes(self) -> list[str]:
        """Every lane some route can use, today's chain first (channel alerts and unrouted targets take `default`)."""
        lanes = [*self.lanes(DEFAULT_ROUTE)]
        for route in self.by_name.values():
            lanes.extend(route.lanes())
        return list(dict.fromkeys(lanes))


def lane_receivers(lane: str) -> tuple[str, ...]:
    """The receivers a lane tries in order (one, except a `first:` chain); () for today's chain."""
    if lane == DEFAULT_LANE:
        return ()
    if lane.startswith(FIRST_PREFIX):
        return tuple(lane.removeprefix(FIRST_PREFIX).split("|"))
    return (lane,)


def split_receiver(spec: str) -> tuple[str, str]:
    """`slack:#soc` -> (`slack`, `#soc`); `teams` -> (`teams`, ``)."""
    kind, _, destination = spec.partition(":")
    return kind, destination


def _receiver(path: Path, line: int, text: str, problems: list[str]) -> str | None:
    kind, colon, destination = (part.strip() for part in text.partition(":"))
    kind = kind.lower()
    if kind not in RECEIVER_KINDS:
        problems.append(f"{path}:{line}: receivers: unknown kind {kind!r}; expected one of {', '.join(RECEIVER_KINDS)}")
        return None
    if colon and not destination:
        problems.append(f"{path}:{line}: receivers: {kind}: empty destination after ':'")
        return None
    if destination and kind not in WITH_DESTINATION:
        problems.append(
            f"{path}:{line}: receivers: {kind} takes no destination (its endpoint is set in the env file), "
            f"got {kind}:{destination}"
        )
        return None
    if kind == "syslog" and destination:
        try:
            parse_syslog_addr(destination)
        except ValueError:
            problems.append(f"{path}:{line}: receivers: syslog: expected udp://HOST:PORT or tcp://HOST:PORT")
            return None
    if kind == "email" and destination:
        destination = ";".join(a.strip() for a in destination.split(";") if a.strip())
    return f"{kind}:{destination}" if destination else kind


def parse_routes(path: Path, problems: list[str]) -> Routes:
    """The routes of one routes.csv, each problem added to `problems` with its file and line."""
    found: dict[str, Route] = {}
    for row in csv_rows(path, ROUTE_COLUMNS[0], problems):
        cells = split_columns(path, row, ROUTE_COLUMNS, problems)
        if cells is None:
            continue
        name, mode, receivers_text = cells
        if not name:
            problems.append(f"{path}:{row.line}: route: empty")
            continue
        if name in found:
            problems.append(f"{path}:{row.line}: route {name!r} is defined twice (first at {found[name].origin})")
            continue
        mode = (mode or "first").lower()
        if mode not in ("all", "first"):
            problems.append(f"{path}:{row.line}: mode: expected all or first, got {mode!r}")
            continue
        pieces = [piece for piece in receivers_text.split("|") if piece.strip()]
        if not pieces:
            problems.append(f"{path}:{row.line}: receivers: empty; name at least one, like slack|email")
            continue
        receivers = [_receiver(path, row.line, piece, problems) for piece in pieces]
        if None in receivers:
            continue
        unique = tuple(dict.fromkeys(r for r in receivers if r is not None))
        found[name] = Route(name, mode, unique, f"{path}:{row.line}")
    return Routes(found)


def load_routes(settings: Settings) -> Routes:
    """ROUTES_FILE's routes, checked against the receivers the env file configures; ConfigError lists every problem."""
    path = settings.routes_file
    if path is None:
        return Routes({})
    problems: list[str] = []
    if not path.is_file():
        raise ConfigError([f"{path}: routes file not found (ROUTES_FILE)"])
    routes = parse_routes(path, problems)
    for route in routes.by_name.values():
        problems.extend(f"{route.origin}: {p}" for r in route.receivers if (p := receiver_problem(r, settings)))
    if problems:
        raise ConfigError(problems)
    return routes


def check_routes(settings: Settings, targets: Sequence[Target]) -> Routes:
    """ROUTES_FILE, and every route agents.csv and groups.csv name found in it; ConfigError lists every problem."""
    problems: list[str] = []
    try:
        routes = load_routes(settings)
    except ConfigError as exc:
        problems.extend(exc.problems)
        routes = Routes({})
    named: dict[str, str] = {}  # route -> where it is first named
    for target in targets:
        if target.route and target.kind is TargetKind.AGENT:
            named.setdefault(target.route, target.origin)
    for policy in load_groups(settings).rows:
        if policy.route:
            named.setdefault(policy.route, policy.origin)
    where = settings.routes_file or "ROUTES_FILE (not set, and config/routes.csv does not exist)"
    for route, origin in named.items():
        if route != DEFAULT_ROUTE and route not in routes.by_name:
            problems.append(f"{origin}: route: {route!r} is not defined in {where}")
    if problems:
        raise ConfigError(problems)
    return routes


def receiver_problem(spec: str, settings: Settings) -> str | None:
    """Why the env file cannot deliver to this receiver (a key missing), or None."""
    kind, destination = split_receiver(spec)
    slack_any = (settings.slack_bot_token and settings.slack_channel) or settings.slack_webhook_url
    needs: dict[str, tuple[bool, str]] = {
        "slack": (
            bool(settings.slack_bot_token) if destination else bool(slack_any),
            "SLACK_BOT_TOKEN (a channel is chosen with the token only)"
            if destination
            else "SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL",
        ),
        "email": (
            bool(settings.smtp_host and settings.smtp_from and (destination or settings.smtp_to)),
            "SMTP_HOST and SMTP_FROM" + ("" if destination else " and SMTP_TO"),
        ),
        "teams": (bool(settings.teams_webhook_url), "TEAMS_WEBHOOK_URL"),
        "webhook": (bool(settings.webhook_url), "WEBHOOK_URL"),
        "pagerduty": (bool(settings.pagerduty_routing_key), "PAGERDUTY_ROUTING_KEY"),
        "syslog": (bool(destination or settings.syslog_addr), "SYSLOG_ADDR"),
        "console": (True, ""),
    }
    ok, keys = needs[kind]
    return None if ok else f"receiver {spec} needs {keys} in the env file"


class Router:
    """Which lanes a notification is queued on: its target's route, or for a grouped one each covered target's.

    `targets` is read again when a key is not known yet (the daemon discovers agents as it runs). A location
    without a route of its own takes its agent's.
    """

    def __init__(self, routes: Routes, targets: Callable[[], Sequence[Target]]) -> None:
        self.routes = routes
        self._targets = targets
        self._route_of: dict[str, str] = {}
        self._known = -1

    def lanes_of(self, note: Notification) -> tuple[str, ...]:
        keys: Iterable[str] = note.related or (note.target_key,)
        # Once per lane: a pipeline alert covering two teams' agents goes to each team once.
        lanes = tuple(dict.fromkeys(lane for key in keys for lane in self.routes.lanes(self.route(key))))
        if note.kind is NotificationKind.CHANNEL_DOWN:
            # The alert about a broken receiver never waits on a lane of that receiver alone (it would never go).
            lanes = tuple(lane for lane in lanes if lane != note.label) or (DEFAULT_LANE,)
        return lanes

    def route(self, key: str) -> str:
        found = self._route_of.get(key)
        if found is None:
            targets = self._targets()
            if len(targets) != self._known:
                self._route_of = {t.key: t.route for t in targets}
                self._known = len(targets)
                found = self._route_of.get(key)
        if found is None and key.startswith("agent:") and key.count(":") >= 2:
            found = self._route_of.get(":".join(key.split(":", 2)[:2]))
        return found or DEFAULT_ROUTE
