"""Command line: argparse commands; the only module that prints for people or decides the exit code."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TextIO

from log_monitor import __version__
from log_monitor.app import App, build, build_channels
from log_monitor.config import DEFAULT_ENV_FILE, Settings, load_settings
from log_monitor.errors import BackendError, ConfigError, LogMonitorError, NotifierError, StateError
from log_monitor.logsetup import RedactingFilter, setup_logging
from log_monitor.models import Condition, Notification, NotificationKind, Severity, Target
from log_monitor.monitor import PassResult
from log_monitor.notifiers.render import humanize_duration
from log_monitor.state import StateStore
from log_monitor.targets import load_targets

EXIT_OK = 0
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
EXIT_CONFIG = 78

log = logging.getLogger("log_monitor")


class UsageError(Exception):
    """The command line itself is wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="log_monitor.py", description="Detects Wazuh agents and log files that fall silent.")
    parser.add_argument("--version", action="version", version=f"log_monitor {__version__}")
    env_help = f"env file to read (default {DEFAULT_ENV_FILE})"
    parser.add_argument("--env-file", type=Path, default=None, help=env_help)
    parser.add_argument("--daemon", action="store_true", help="same as the `run` command")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Accepted after the command too; SUPPRESS keeps the main parser's value when absent here.
        sub.add_argument("--env-file", type=Path, default=argparse.SUPPRESS, help=env_help)
        return sub

    command("once", "one pass over every target; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    check = command("check-config", "validate the configuration and report every problem")
    check.add_argument("--connect", action="store_true", help="also log in to each backend and channel")
    command("status", "the targets table from the state store")
    command("test-alert", "send a test notification through each configured channel")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"{exc}\nusage: see `log_monitor.py --help`", file=err)
        return EXIT_USAGE
    command = "run" if args.daemon else (args.command or "once")
    env_file: Path = args.env_file or DEFAULT_ENV_FILE
    try:
        settings = load_settings(env_file, os.environ)
        targets = load_targets(settings) if command in ("once", "check-config", "run") else []
    except ConfigError as exc:
        print("configuration error:", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return EXIT_CONFIG
    redactor = setup_logging(
        level=settings.logging_level,
        fmt=settings.log_format,
        file=settings.log_file_path,
        secrets=settings.secrets(),
    )
    for warning in settings.warnings:
        log.warning("%s", warning)
    try:
        if command == "once":
            return _once(settings, targets, out, err)
        if command == "check-config":
            return _check_config(settings, targets, args.connect, out, err)
        if command == "status":
            return _status(settings, out)
        if command == "test-alert":
            return _test_alert(settings, out, redactor)
        print(f"log_monitor.py: command {command!r} is not available in this version", file=err)
        return EXIT_USAGE
    except StateError as exc:
        print(f"state error: {redactor.redact(str(exc))}", file=err)
        return EXIT_UNKNOWN
    except LogMonitorError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=err)
        return EXIT_UNKNOWN


def _once(settings: Settings, targets: list[Target], out: TextIO, err: TextIO) -> int:
    with build(settings, targets) as app:
        result = app.monitor.run_once()
    _print_pass(result, out)
    for backend, error in sorted(result.backend_errors.items()):
        print(f"{backend} unreadable: {error}", file=err)
    if result.delivery and result.delivery.still_queued:
        print(
            f"{result.delivery.still_queued} notification(s) still queued: no channel took them "
            f"({'; '.join(result.delivery.errors) or 'see the log'})",
            file=err,
        )
    return result.exit_code


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "never"


def _print_pass(result: PassResult, out: TextIO) -> None:
    rows = []
    for row in sorted(result.rows, key=lambda r: (-int(r.state.severity), r.target.key)):
        obs = row.observation
        silent = ""
        if obs.last_event is not None:
            silent = humanize_duration((obs.at - obs.last_event).total_seconds())
        rows.append(
            [
                row.target.key,
                row.target.label,
                row.state.severity.name,
                row.state.condition.value,
                _when(obs.last_event),
                silent,
                "" if obs.events_in_window is None else str(obs.events_in_window),
                obs.agent_status or "",
            ]
        )
    headers = ["TARGET", "LABEL", "STATE", "CONDITION", "LAST EVENT (UTC)", "SILENT FOR", "EVENTS", "AGENT STATUS"]
    _table(headers, rows, out)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.state.severity.name] = counts.get(row.state.severity.name, 0) + 1
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    print(f"\n{len(result.rows)} targets: {summary or 'none'}; {len(result.notifications)} notification(s)", file=out)


def _check_config(settings: Settings, targets: list[Target], connect: bool, out: TextIO, err: TextIO) -> int:
    print(f"configuration OK: {settings.env_file}", file=out)
    print(f"  targets: {len(targets)} from {settings.agent_list_file}", file=out)
    for warning in settings.warnings:
        print(f"  warning: {warning}", file=out)
    if not connect:
        return EXIT_OK
    failed = 0
    with build(settings, targets) as app:
        for name, probe in _probes(app):
            try:
                detail = probe()
            except (BackendError, NotifierError) as exc:
                failed += 1
                print(f"  {name}: FAILED: {exc}", file=out)
            else:
                print(f"  {name}: ok{(' (' + detail + ')') if detail else ''}", file=out)
    if failed:
        print(f"{failed} connection check(s) failed", file=err)
        return EXIT_UNKNOWN
    return EXIT_OK


def _probes(app: App) -> list[tuple[str, Callable[[], str]]]:
    probes: list[tuple[str, Callable[[], str]]] = []
    api, indexer = app.api, app.indexer
    if api is not None:

        def probe_api() -> str:
            agents = api.list_agents(exclude_manager=True)
            return f"{len(agents)} agents"

        probes.append(("Wazuh API", probe_api))
    if indexer is not None:

        def probe_indexer() -> str:
            now = app.monitor.clock.now()
            stats = indexer.last_events(since=now - timedelta(hours=1), window_start=now, until=now)
            return f"{len(stats)} agents with events in the last hour"

        probes.append(("Wazuh indexer", probe_indexer))
    for channel in app.channels:
        check = getattr(channel, "check", None)
        if callable(check):
            probes.append((f"channel {channel.name}", lambda check=check: str(check() or "")))
    return probes


def _status(settings: Settings, out: TextIO) -> int:
    with StateStore(settings.state_db) as store:
        states = store.load_states()
        queued = store.outbox_depth()
    now = datetime.now(UTC)
    rows = []
    for key in sorted(states):
        s = states[key]
        silent = humanize_duration((now - s.since).total_seconds()) if s.since and s.severity.value else ""
        rows.append(
            [
                key,
                s.severity.name,
                s.condition.value,
                _when(s.last_event),
                silent,
                _when(s.last_checked),
                str(s.alerts_sent),
                _when(s.next_reminder_at) if s.next_reminder_at and s.alerted.value else "",
            ]
        )
    headers = ["TARGET", "STATE", "CONDITION", "LAST EVENT (UTC)", "SILENT FOR", "CHECKED", "ALERTS", "NEXT REMINDER"]
    _table(headers, rows, out)
    print(f"\n{len(states)} targets; {queued} notification(s) queued for delivery", file=out)
    return EXIT_OK


def _test_alert(settings: Settings, out: TextIO, redactor: RedactingFilter) -> int:
    note = Notification(
        id=uuid.uuid4().hex,
        created_at=datetime.now(UTC),
        kind=NotificationKind.TEST,
        severity=Severity.OK,
        target_key="test",
        label="log_monitor test alert",
        condition=Condition.OK,
        host=socket.gethostname(),
        detail="If you can read this, this channel works.",
    )
    failed = 0
    for channel in build_channels(settings):
        try:
            channel.send(note)
        except NotifierError as exc:
            failed += 1
            kind = "permanent" if exc.permanent else "transient"
            print(f"{channel.name}: FAILED ({kind}): {redactor.redact(str(exc))}", file=out)
        else:
            print(f"{channel.name}: ok", file=out)
    return 1 if failed else EXIT_OK
