"""Command line: argparse commands; the only module that prints for people or decides the exit code."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TextIO

from log_monitor import __version__, top
from log_monitor.app import App, build, build_channels
from log_monitor.config import DEFAULT_ENV_FILE, Settings, load_settings, parse_duration
from log_monitor.daemon import Daemon, Outcome, Signals
from log_monitor.demo import INTERVAL_S, THRESHOLD_S, demo_setup
from log_monitor.errors import (
    BackendError,
    ConfigError,
    InstanceLockedError,
    LogMonitorError,
    NotifierError,
    StateError,
)
from log_monitor.logsetup import RedactingFilter, setup_logging
from log_monitor.models import Condition, Notification, NotificationKind, Severity, Target
from log_monitor.monitor import PassResult
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.dispatch import DeliveryWorker
from log_monitor.notifiers.render import humanize_duration
from log_monitor.printable import printable
from log_monitor.state import InstanceLock, StateStore
from log_monitor.status_server import start_status_server
from log_monitor.targets import load_targets

EXIT_OK = 0
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
EXIT_LOCKED = 75  # EX_TEMPFAIL: another instance holds the state DB's lock
EXIT_CONFIG = 78
STOP_DRAIN_S = 5.0  # on SIGTERM, how long to keep trying the outbox before exiting
# Before a re-exec, how long a send in flight may take to finish (a slow Slack, a failing one's retries and
# the next channel): replaced mid-send, the process would never mark it delivered and the new one resends it.
REEXEC_DRAIN_S = 60.0

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
    command("run", "the daemon: check each target at its interval until SIGTERM; SIGHUP reloads")
    command("status", "the targets table from the state store")
    silence = command("silence", "hold back alerts for a target for a while (ad-hoc maintenance)")
    silence.add_argument("target", help="target key (agent:001, file:/path, ...), agent id or label")
    silence.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d")
    silence.add_argument("--reason", default="", help="why, shown in status")
    unsilence = command("unsilence", "end an ad-hoc silence")
    unsilence.add_argument("target")
    command("test-alert", "send a test notification through each configured channel")
    command("top", "live view of every target: state, events/s over 10 s and 2 min, access-log tops; q quits")
    demo = command("demo", "run the daemon against the bundled Wazuh simulator with a small scripted fleet")
    demo.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
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
    if command == "demo":
        return _demo(args.seconds, out)
    try:
        settings = load_settings(env_file)
        targets = load_targets(settings) if command in ("once", "check-config", "run", "silence", "top") else []
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
        if command == "run":
            return _run(settings, targets, env_file, err)
        if command == "status":
            return _status(settings, out)
        if command in ("silence", "unsilence"):
            return _silence(settings, args, out, err)
        if command == "test-alert":
            return _test_alert(settings, out, redactor)
        if command == "top":
            return _top(settings, targets)
        print(f"log_monitor.py: command {command!r} is not available in this version", file=err)
        return EXIT_USAGE
    except InstanceLockedError as exc:
        print(f"log_monitor.py: {exc}", file=err)
        return EXIT_LOCKED
    except StateError as exc:
        print(f"state error: {redactor.redact(str(exc))}", file=err)
        return EXIT_UNKNOWN
    except LogMonitorError as exc:
        print(f"error: {redactor.redact(str(exc))}", file=err)
        return EXIT_UNKNOWN


def _top(settings: Settings, targets: list[Target]) -> int:
    store = StateStore(settings.state_db) if settings.state_db.exists() else None
    try:
        return top.run(top.watched(targets), store)
    finally:
        if store is not None:
            store.close()


def _once(settings: Settings, targets: list[Target], out: TextIO, err: TextIO) -> int:
    # Beside a running daemon a cron `once` would send every alert a second time: refuse, so the cron line is noticed.
    with InstanceLock(settings.state_db), build(settings, targets) as app:
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
    # Labels, names and locations come from outside: a control character in one must not break the table.
    rows = [[printable(cell) for cell in row] for row in rows]
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
                obs.agent_status or obs.problem,
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
        # What the daemon saw when it last delivered: a channel may pass the probe yet refuse messages.
        for health in app.store.channel_health():
            if not health.ok and health.permanent:
                print(
                    f"  channel {health.channel}: last delivery FAILED permanently at {_when(health.last_attempt_at)} "
                    f"UTC: {health.last_error}",
                    file=out,
                )
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
            probes.append((f"channel {channel.name}", _channel_probe(check)))
    return probes


def _channel_probe(check: Callable[[], object]) -> Callable[[], str]:
    return lambda: str(check() or "")


def _status(settings: Settings, out: TextIO) -> int:
    with StateStore(settings.state_db) as store:
        states = store.load_states()
        queued = store.outbox_depth()
        channels = store.channel_health()
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
    if channels:
        print("\nchannels:", file=out)
        channel_rows = [
            [
                h.channel,
                "ok" if h.ok else ("FAILED (permanent)" if h.permanent else "failing (transient)"),
                _when(h.last_attempt_at),
                _when(h.last_ok_at),
                _when(h.failing_since) if h.failing_since else "",
                h.last_error or "",
            ]
            for h in channels
        ]
        _table(["CHANNEL", "STATE", "LAST ATTEMPT", "LAST OK", "FAILING SINCE", "LAST ERROR"], channel_rows, out)
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


def _run(settings: Settings, targets: list[Target], env_file: Path, err: TextIO) -> int:
    signals = Signals()
    signal.signal(signal.SIGTERM, lambda *_: signals.request_stop())
    signal.signal(signal.SIGINT, lambda *_: signals.request_stop())
    signal.signal(signal.SIGHUP, lambda *_: signals.request_reload())
    # Held for the process's life (the kernel drops it at exit, however the process ends) and across the re-exec.
    lock = InstanceLock(settings.state_db)
    lock.acquire()
    keep_lock = True
    app = build(settings, targets)
    status_server = start_status_server(app)
    restart_at = app.monitor.clock.monotonic() + settings.restart_interval_s
    every = humanize_duration(settings.restart_interval_s)
    log.info("daemon started: %d targets, re-exec every %s", len(targets), every)
    # Delivery runs in its own thread: a hanging Slack must not hold up the checks.
    worker = DeliveryWorker(app.monitor.dispatcher)
    daemon = Daemon(app.monitor)
    daemon.worker = worker
    worker.start()
    drain_s = STOP_DRAIN_S
    try:
        while True:
            outcome = daemon.run(signals, restart_at=restart_at)
            if outcome is Outcome.STOP:
                deadline = app.monitor.clock.monotonic() + STOP_DRAIN_S
                worker.stop(STOP_DRAIN_S)  # ends between two messages; a send in flight is waited for
                # One last try for what is queued, within what is left of the drain time.
                report = app.monitor.dispatcher.deliver_pending(deadline=deadline, force=True)
                log.info("stopped on signal; %d notification(s) still queued", report.still_queued)
                return EXIT_OK
            if outcome is Outcome.RESTART:
                drain_s = REEXEC_DRAIN_S
                break
            try:
                fresh = load_settings(env_file)
                fresh_targets = load_targets(fresh)
            except ConfigError as exc:
                # A broken edit must not take monitoring down: keep running on the last good configuration.
                log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.problems))
                continue
            if fresh != settings:
                log.info("configuration changed: re-executing to apply it")
                drain_s = REEXEC_DRAIN_S
                keep_lock = fresh.state_db == settings.state_db  # a new STATE_DB is locked afresh by the new program
                break
            daemon.set_targets(fresh_targets)
            log.info("reloaded: %d targets", len(fresh_targets))
    finally:
        worker.stop(drain_s)
        if status_server is not None:
            status_server.close()
        app.close()
    log.info("re-executing (RESTART_INTERVAL or new configuration)")
    if keep_lock:
        lock.keep_across_exec()
    else:
        lock.release()
    err.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - same interpreter, same arguments
    return EXIT_OK  # not reached


def _resolve_target(text: str, settings: Settings) -> str | None:
    """A target key from what a person types: the key itself, an agent id, or a unique label."""
    try:
        targets = load_targets(settings)
    except ConfigError:
        targets = []
    keys = {t.key for t in targets}
    if text in keys:
        return text
    if text.isdigit():
        key = Target.agent_key(text.zfill(3))
        return key if key in keys or not keys else None
    labelled = [t.key for t in targets if t.label == text]
    if len(labelled) == 1:
        return labelled[0]
    if ":" in text and not keys:
        return text
    return None


def _silence(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    key = _resolve_target(args.target, settings)
    if key is None:
        print(f"log_monitor.py: no target matches {args.target!r} (use `status` to list target keys)", file=err)
        return EXIT_USAGE
    now = datetime.now(UTC)
    with StateStore(settings.state_db) as store:
        if args.command == "unsilence":
            removed = store.remove_silence(key)
            print(f"{key}: {'silence ended' if removed else 'was not silenced'}", file=out)
            return EXIT_OK
        try:
            seconds = parse_duration(args.duration)
        except ValueError as exc:
            print(f"log_monitor.py: --for: {exc}", file=err)
            return EXIT_USAGE
        until = now + timedelta(seconds=seconds)
        store.add_silence(key, until, args.reason, now)
    print(f"{key}: silenced until {_when(until)} UTC{(' (' + args.reason + ')') if args.reason else ''}", file=out)
    return EXIT_OK


def _demo(seconds: float, out: TextIO) -> int:
    setup_logging(level=logging.WARNING)
    signals = Signals()
    signal.signal(signal.SIGINT, lambda *_: signals.request_stop())
    timer = threading.Timer(seconds, signals.request_stop)
    timer.daemon = True
    with demo_setup() as (settings, targets):
        print(
            f"demo: simulated Wazuh API at {settings.wazuh_api_url}, indexer at {settings.wazuh_indexer_url}\n"
            f"      {len(targets)} targets checked every {humanize_duration(INTERVAL_S)}; WARNING after "
            f"{humanize_duration(THRESHOLD_S)} of silence, CRITICAL after {humanize_duration(THRESHOLD_S * 2)}; "
            f"running for {humanize_duration(seconds)} (Ctrl-C stops)\n"
            "      db-primary goes silent, web-frontend's auth.log goes quiet, fw-edge disconnects, "
            "mail-relay recovers\n",
            file=out,
            flush=True,
        )
        timer.start()
        try:
            with build(settings, targets, channels=[ConsoleNotifier(out)]) as app:
                Daemon(app.monitor).run(signals, restart_at=app.monitor.clock.monotonic() + seconds + 60)
                app.monitor.dispatcher.deliver_pending()
        finally:
            timer.cancel()
        print("\ndemo finished; the state the daemon kept:\n", file=out)
        _status(settings, out)
    return EXIT_OK
