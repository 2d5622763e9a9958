"""check-config: the configuration's report and, with --connect, each backend and channel reached."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

from log_monitor import reenrol
from log_monitor.app import App, build, build_channels
from log_monitor.config import Settings
from log_monitor.config.settings import describe
from log_monitor.errors import AuthError, BackendError, NotifierError
from log_monitor.exitcodes import EXIT_OK, EXIT_UNKNOWN
from log_monitor.models import Target, TargetState
from log_monitor.notifiers.base import NOT_TESTED, Checkable
from log_monitor.reports import when
from log_monitor.routes import load_routes
from log_monitor.targets import load_groups


def check_config(settings: Settings, targets: list[Target], connect: bool, out: TextIO, err: TextIO) -> int:
    print(f"configuration OK: {settings.env_file}", file=out)
    api = _public_url(settings.wazuh_api_url) if settings.wazuh_api_url else "not configured"
    print(f"  Wazuh API: {api}", file=out)
    indexer = "not configured"
    if settings.wazuh_indexer_url:
        indexer = f"{_public_url(settings.wazuh_indexer_url)} (index pattern {settings.wazuh_index_pattern})"
    print(f"  Wazuh indexer: {indexer}", file=out)
    if settings.wazuh_indexer_url and not settings.wazuh_api_url:
        # OpenSearch sends no Date header: only the API can tell the manager's time (REALITY.md §5).
        print("  clock: not checked against the manager's (needs WAZUH_API_URL; the indexer sends no Date)", file=out)
    print(f"  targets: {len(targets)} from {settings.agent_list_file}", file=out)
    _print_channels(settings, out)
    for line in describe(settings):
        print(f"  setting: {line}", file=out)
    for warning in settings.warnings:
        print(f"  warning: {warning}", file=out)
    return _check_connections(settings, targets, out, err) if connect else EXIT_OK


def _check_connections(settings: Settings, targets: list[Target], out: TextIO, err: TextIO) -> int:
    """`check-config --connect`: each backend and channel reached (or said not to be testable), unknown agent ids."""
    failed = 0
    known_agents: list[dict[str, str]] = []  # id -> name, filled by the API probe when it succeeds
    states: Mapping[str, TargetState] = {}
    with build(settings, targets) as app:
        for name, probe in _probes(app, known_agents):
            try:
                detail = probe()
            except (BackendError, NotifierError) as exc:
                failed += 1
                print(f"  {name}: FAILED: {exc}", file=out)
            else:
                if detail.startswith(NOT_TESTED):
                    print(f"  {name}: {detail}", file=out)  # configured, but nothing was reached: never "ok"
                else:
                    print(f"  {name}: ok{(' (' + detail + ')') if detail else ''}", file=out)
        failed += _unknown_groups(settings, app, out)
        # What the daemon saw when it last delivered: a channel may pass the probe yet refuse messages.
        for health in app.store.channel_health():
            if not health.ok and health.permanent:
                print(
                    f"  channel {health.channel}: last delivery FAILED permanently at {when(health.last_attempt_at)} "
                    f"UTC: {health.last_error}",
                    file=out,
                )
        states = app.store.load_states() if known_agents else {}
    if known_agents:
        failed += _check_agent_ids(targets, known_agents[0], states, out)
    if failed:
        print(f"{failed} connection check(s) failed", file=err)
        return EXIT_UNKNOWN
    return EXIT_OK


def _unknown_groups(settings: Settings, app: App, out: TextIO) -> int:
    """Groups that groups.csv or AGENT_DISCOVERY names but the manager does not have (a typo matches no agent)."""
    named = {p.group: p.origin for p in load_groups(settings).rows}
    named.update({g: "AGENT_DISCOVERY" for g in settings.discovery_groups if g not in named})
    if app.api is None or not named:
        return 0
    try:
        known = set(app.api.group_names())
    except BackendError as exc:
        print(f"  Wazuh agent groups: FAILED: {exc}", file=out)
        return 1
    unknown = [f"{group} ({origin})" for group, origin in named.items() if group not in known]
    if not unknown:
        print(f"  Wazuh agent groups: ok ({len(named)} named, all known to the manager)", file=out)
        return 0
    print(f"  warning: agent group(s) the Wazuh manager does not have (a typo?): {', '.join(unknown)}", file=out)
    return 1


def _print_channels(settings: Settings, out: TextIO) -> None:
    """Today's chain in order, then each route's receivers."""
    channels = build_channels(settings)
    print(f"  alerts go to: {' -> '.join(_describe_channel(c.name, settings) for c in channels)}", file=out)
    if [c.name for c in channels] == ["console"]:
        print(
            "  warning: the console is the only alert channel: alerts are printed on stdout and recorded as "
            "delivered, but under cron (stdout to /dev/null, or a log nobody reads) or systemd nobody sees them; "
            "set SLACK_BOT_TOKEN and SLACK_CHANNEL, SLACK_WEBHOOK_URL, SMTP_HOST or TEAMS_WEBHOOK_URL",
            file=out,
        )
    for route in load_routes(settings).by_name.values():
        print(f"  route {route.name} ({route.mode}): {' | '.join(route.receivers)}", file=out)


def _public_url(url: str) -> str:
    """A URL fit for printing: without any `user:password@`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _describe_channel(name: str, settings: Settings) -> str:
    """A channel of the fallback chain as an operator recognises it; never a secret (tokens, webhook URLs)."""
    if name == "slack":
        if settings.slack_bot_token and settings.slack_channel:
            return f"slack (bot, channel {settings.slack_channel})"
        return "slack (incoming webhook)"
    if name == "email":
        return f"email (SMTP {settings.smtp_host}:{settings.smtp_port}, to {', '.join(settings.smtp_to)})"
    if name == "teams":
        return "teams (Workflows webhook)"
    if name == "console":
        return "console (stdout)"
    return name


def _check_agent_ids(
    targets: Sequence[Target], listed: Mapping[str, str], states: Mapping[str, TargetState], out: TextIO
) -> int:
    """The agents file's ids against the API's listing: re-enrolled hosts and unknown ids; 1 when any, else 0."""
    # A re-enrolled host (same name, new id): the row is followed, but its id should be updated.
    moves = {move.old_id: move for move in reenrol.find(targets, listed, states)}
    for move in moves.values():
        print(f"  warning: {_reenrolled_row(targets, move)}", file=out)
    # A typo in agents.csv would otherwise be a "never seen, silent for 7d" alert.
    unknown: dict[str, str] = {}
    for target in targets:
        agent_id = target.agent_id
        if agent_id is not None and agent_id not in listed and agent_id not in moves:
            unknown.setdefault(agent_id, target.origin or target.label)
    if unknown:
        shown = ", ".join(f"{agent_id} ({origin})" for agent_id, origin in unknown.items())
        print(f"  warning: agent id(s) not known to the Wazuh API (a typo?): {shown}", file=out)
    return 1 if moves or unknown else 0


def _reenrolled_row(targets: Sequence[Target], move: reenrol.Reenrolment) -> str:
    """ "config/agents.csv:4: agent 009 (web-1) re-enrolled as 014 (009 removed): update its id"."""
    origin = next((t.origin for t in targets if t.agent_id == move.old_id and t.location is None and t.origin), "")
    where = f"{origin.split(' ')[0]}: " if origin else ""
    return (
        f"{where}agent {move.old_id} ({move.name}) re-enrolled as {move.new_id} ({move.old_id} removed): "
        f"update its id to {move.new_id} (it is followed until then)"
    )


def _probes(app: App, known_agents: list[dict[str, str]]) -> list[tuple[str, Callable[[], str]]]:
    probes: list[tuple[str, Callable[[], str]]] = []
    api, indexer = app.api, app.indexer
    if api is not None:

        def probe_api() -> str:
            agents = api.list_agents(exclude_manager=True)
            known_agents.append({a.id: a.name for a in agents})
            return f"{len(agents)} agents"

        probes.append(("Wazuh API", probe_api))
    if indexer is not None:

        def probe_indexer() -> str:
            now = app.monitor.clock.now()
            stats = indexer.last_events(since=now - timedelta(hours=1), window_start=now, until=now)
            return f"{len(stats)} agents with events in the last hour"

        nodes = [host.url for host in indexer.hosts()]
        if len(nodes) > 1:
            # Each node of the list on its own: a dead one would otherwise hide behind the round robin.
            probes += [(f"Wazuh indexer node {url}", partial(indexer.node_info, url)) for url in nodes]
        probes.append(("Wazuh indexer", probe_indexer))

        def probe_permissions() -> str:
            lacking = indexer.unsearchable_indices()
            if lacking is None:
                return "not checked: the user may not list the indices (_cat/indices)"
            if lacking:
                raise AuthError(
                    "Wazuh indexer",
                    f"user {app.settings.wazuh_indexer_user!r} cannot search {len(lacking)} index(es) that "
                    f"{app.settings.wazuh_index_pattern!r} matches ({', '.join(lacking[:3])}): with the security "
                    "plugin's do_not_fail_on_forbidden they are left out of every search silently; grant "
                    f"indices:data/read/search on {app.settings.wazuh_index_pattern}",
                )
            return "every index of the pattern is searchable"

        probes.append(("Wazuh indexer permissions", probe_permissions))
    probes += [(f"channel {channel.name}", channel.check) for channel in app.channels if isinstance(channel, Checkable)]
    return probes
