"""Command line: parses the arguments, dispatches each command (some bodies in reports, checkconfig), exits."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from log_monitor import __version__
from log_monitor.app import Tuning, build, every_receiver
from log_monitor.checkconfig import check_config
from log_monitor.config import Settings, load_settings
from log_monitor.config.environment import invoking_user
from log_monitor.config.load import DEFAULT_ENV_FILE, LEGACY_ENV_FILE
from log_monitor.config.values import parse_duration
from log_monitor.daemon import Daemon, Signals, run_daemon, save_kept
from log_monitor.errors import (
    ConfigError,
    InstanceLockedError,
    LogMonitorError,
    NotifierError,
    StateError,
)
from log_monitor.exitcodes import EXIT_CONFIG, EXIT_LOCKED, EXIT_OK, EXIT_UNKNOWN, EXIT_USAGE
from log_monitor.hostcheck import unwritable_file
from log_monitor.logsetup import RedactingFilter, setup_logging
from log_monitor.models import (
    Condition,
    Notification,
    NotificationKind,
    Severity,
    Silence,
    Target,
    TargetKind,
)
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.render import humanize_duration
from log_monitor.printable import printable
from log_monitor.reports import print_pass, silences, status, when, zone
from log_monitor.routes import check_routes, load_routes
from log_monitor.state import StateStore
from log_monitor.state.lock import InstanceLock
from log_monitor.targets import load_targets
from log_monitor.view import learned

if TYPE_CHECKING:  # the simulator is imported by `demo` and `simulate` alone
    from log_monitor.simulator.server import SimulatorServer

MAX_REASON_CHARS = 500  # a silence's reason: a sentence for the table and the page, not a document

log = logging.getLogger("log_monitor")


DEMO_MAX_S = 86400.0  # a day: longer is a typo, and far beyond what threading.Timer is good for
SIM_MAX_AGENTS = 10_000


class UsageError(Exception):
    """The command line itself is wrong; the message ends with the usage of the command concerned."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


_PROGRAM = ["log_monitor.py"]  # the name in usages and messages; main() sets it from the command line it reads


def program() -> str:
    """The name this command was run as (`log-monitor` installed, `log_monitor.py` from a checkout), for messages."""
    return _PROGRAM[0]


def _program_from(argv0: str) -> str:
    name = Path(argv0).name
    return name if name and name not in ("__main__.py", "-c", "-m") else "log_monitor.py"


def _bounded(kind: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: `kind` of the text, finite and within [low, high], else a usage error naming the range."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return convert


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and each command's own (for a usage error that shows the command's usage)."""
    parser = _Parser(prog=program(), description="Detects Wazuh agents and log files that fall silent.")
    parser.add_argument("--version", action="version", version=f"log_monitor {__version__}")
    env_help = f"env file to read (default {DEFAULT_ENV_FILE}, else the original tool's {LEGACY_ENV_FILE})"
    parser.add_argument("--env-file", type=Path, default=None, help=env_help)
    parser.add_argument("--daemon", action="store_true", help="same as the `run` command")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    subparsers: dict[str, argparse.ArgumentParser] = {}

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # Accepted after the command too; SUPPRESS keeps the main parser's value when absent here.
        sub.add_argument("--env-file", type=Path, default=argparse.SUPPRESS, help=env_help)
        subparsers[name] = sub
        return sub

    command("once", "one pass over every target; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    check = command("check-config", "validate the configuration and report every problem")
    check.add_argument("--connect", action="store_true", help="also log in to each backend and channel")
    command("run", "the daemon: check each target at its interval until SIGTERM; SIGHUP reloads")
    command("status", "the targets table from the state store")
    silence = command("silence", "hold back alerts for a target for a while (ad-hoc maintenance)")
    target_help = "target key (agent:001, file:/path, ...), agent id, label or files.csv service"
    silence.add_argument("target", help=target_help + "; an agent's silence covers its log files")
    silence.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d")
    silence.add_argument("--reason", default="", help="why, shown in status, silences and the dashboard")
    unsilence = command("unsilence", "end an ad-hoc silence")
    unsilence.add_argument("target", help=target_help)
    command("silences", "the active silences: target, until, reason, who set it")
    command("test-alert", "send a test notification through each configured channel")
    command("top", "live view of every target: state, events/s over 10 s and 2 min, access-log tops; q quits")
    demo = command("demo", "run the daemon against the bundled Wazuh simulator with a small scripted fleet")
    demo.add_argument(
        "--seconds",
        type=_bounded(float, 1.0, DEMO_MAX_S, f"a number of seconds from 1 to {DEMO_MAX_S:.0f}"),
        default=60.0,
        help="how long to run (default 60)",
    )
    simulate = command(
        "simulate", "run the bundled Wazuh simulator on its own and print the env file lines to point at it"
    )
    count = _bounded(int, 0, SIM_MAX_AGENTS, f"a whole number from 0 to {SIM_MAX_AGENTS}")
    port = _bounded(int, 0, 65535, "a port number from 0 (any free port) to 65535")
    simulate.add_argument("--agents", type=count, default=5, help="how many agents (default 5)")
    simulate.add_argument("--silent", type=count, default=1, help="how many of them have gone silent (default 1)")
    simulate.add_argument("--api-port", type=port, default=55000, help="server API port (default 55000; 0: any)")
    simulate.add_argument("--indexer-port", type=port, default=9200, help="indexer port (default 9200; 0: any)")
    simulate.add_argument(
        "--schema", choices=("4.x", "5.x"), default="4.x", help="the Wazuh version simulated (default 4.x; 5.x: 5.0)"
    )
    return parser, subparsers


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser, subparsers = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # An unknown word after a command belongs to that command: show its usage, not the top-level one.
        owner = subparsers.get(args.command or "", parser)
        owner.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command == "simulate" and args.silent > args.agents:
        subparsers["simulate"].error(f"--silent {args.silent} is more than --agents {args.agents}")
    return args


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    tuning: Tuning | None = None,
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    # Called with the process's own command line: named as it was run; called with arguments (tests): the shim's name.
    _PROGRAM[0] = _program_from(sys.argv[0]) if argv is None and sys.argv else "log_monitor.py"
    try:
        args = _parse(argv)
    except UsageError as exc:
        return _fail(err, exc, EXIT_USAGE)
    command = "run" if args.daemon else (args.command or "once")
    if command == "demo":
        return _demo(args.seconds, out)
    if command == "simulate":
        return _simulate(args, out, err)
    try:
        settings, targets = _configuration(command, args.env_file)
    except ConfigError as exc:
        print("configuration error:", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return EXIT_CONFIG
    try:
        redactor = setup_logging(
            level=settings.logging_level,
            fmt=settings.log_format,
            file=settings.log_file_path,
            secrets=settings.secrets(),
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        print("configuration error:", file=err)
        return _fail(
            err, f"  {settings.env_file}: LOG_FILE_PATH: cannot open {settings.log_file_path}: {reason}", EXIT_CONFIG
        )
    _log_warnings(settings, command)
    try:
        code = _command(command, args, settings, targets, args.env_file, out, err, redactor, tuning or Tuning())
        out.flush()  # here, not at exit: a reader gone away (`status | head -1`) is then caught below
        return code
    except BrokenPipeError:
        _drop_output(out)
        return EXIT_OK
    except InstanceLockedError as exc:
        return _fail(err, f"{program()}: {exc}", EXIT_LOCKED)
    except StateError as exc:
        return _fail(err, f"state error: {redactor.redact(str(exc))}", EXIT_UNKNOWN)
    except ConfigError as exc:  # found once a backend could be asked: fields the index pattern does not map
        print("configuration error:", file=err)
        return _fail(err, "\n".join(f"  {redactor.redact(p)}" for p in exc.problems), EXIT_CONFIG)
    except LogMonitorError as exc:
        return _fail(err, f"error: {redactor.redact(str(exc))}", EXIT_UNKNOWN)


def _configuration(command: str, env_file: Path | None) -> tuple[Settings, list[Target]]:
    """The settings and, for the commands that need them, the targets, each file checked (ConfigError)."""
    settings = load_settings(env_file)
    needs_targets = ("once", "check-config", "run", "silence", "top", "status", "silences")
    targets = load_targets(settings) if command in needs_targets else []
    if command == "check-config":
        _check_host(settings)
    if command in needs_targets:
        check_routes(settings, targets)
    elif command == "test-alert":
        load_routes(settings)  # its receivers are tried too: a bad routes.csv is the configuration's error
    return settings, targets


def _check_host(settings: Settings) -> None:
    """The folders the monitor writes, as this user: found now, not as an exit 3 on the first pass (ConfigError)."""
    problems = []
    for key, path in (("STATE_DB", settings.state_db), ("LOG_FILE_PATH", settings.log_file_path)):
        why = unwritable_file(path) if path is not None else None
        if why is not None:
            problems.append(f"{settings.env_file}: {key}: cannot write {path}: {why}")
    if problems:
        raise ConfigError(problems)


def _fail(err: TextIO, message: object, code: int) -> int:
    """Says why on stderr and gives the exit code that goes with it."""
    print(message, file=err)
    return code


def _log_warnings(settings: Settings, command: str) -> None:
    """Each warning once per start; the original tool's keys are not worth a line in every cron pass."""
    if command == "check-config":
        return  # printed in its report
    deprecations = set(settings.deprecations)
    for warning in settings.warnings:
        quiet = warning in deprecations and command != "run"
        log.log(logging.DEBUG if quiet else logging.WARNING, "%s", warning)


def _command(
    command: str,
    args: argparse.Namespace,
    settings: Settings,
    targets: list[Target],
    env_file: Path | None,
    out: TextIO,
    err: TextIO,
    redactor: RedactingFilter,
    tuning: Tuning,
) -> int:
    if command == "once":
        return _once(settings, targets, out, err, tuning)
    if command == "check-config":
        return check_config(settings, targets, args.connect, out, err)
    if command == "run":
        # The argument, not settings.env_file: a reload must choose the default file the same way.
        run_daemon(settings, targets, env_file, err)  # returns on a stop; a re-exec never returns
        return EXIT_OK
    if command == "status":
        return status(settings, targets, out)
    if command == "silences":
        return silences(settings, targets, out)
    if command in ("silence", "unsilence"):
        return _silence(settings, args, out, err)
    if command == "test-alert":
        return _test_alert(settings, out, redactor)
    if command == "top":
        return _top(settings, targets)
    return _fail(err, f"{program()}: command {command!r} is not available in this version", EXIT_USAGE)


def _drop_output(out: TextIO) -> None:
    """The reader closed the pipe: what it did not read is not an error (the Python docs' BrokenPipeError recipe).

    Standard output is pointed at /dev/null, so the interpreter's final flush of what is still buffered
    does not fail a second time with "Exception ignored ... BrokenPipeError".
    """
    if out is sys.stdout or out is sys.__stdout__:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _top(settings: Settings, targets: list[Target]) -> int:
    # rich is for `top` alone: the daemon and cron's `once` start without it.
    from log_monitor import top  # noqa: PLC0415

    store = StateStore(settings.state_db) if settings.state_db.exists() else None
    live = None
    if settings.status_addr is not None:
        token = settings.status_token.reveal() if settings.status_token is not None else None
        live = top.LiveStatus(*settings.status_addr, token)
    try:
        return top.run(top.watched(targets), store, zone=zone(settings), live=live)
    finally:
        if store is not None:
            store.close()


def _once(settings: Settings, targets: list[Target], out: TextIO, err: TextIO, tuning: Tuning) -> int:
    # Beside a running daemon a cron `once` would send every alert a second time: refuse, so the cron line is noticed.
    with InstanceLock(settings.state_db), build(settings, targets, tuning=tuning) as app:
        try:
            result = app.monitor.run_once()
        except LogMonitorError:
            if app.heartbeat is not None:
                app.heartbeat.ping(False, "pass failed")
            raise
        # The next run reads on from what this one read (each event once): its marks and counts, written whole.
        save_kept(app)
        if app.heartbeat is not None:
            app.heartbeat.ping(not result.backend_errors, ", ".join(sorted(result.backend_errors)) + " unreadable")
    try:
        print_pass(result, out)
        out.flush()
    except BrokenPipeError:
        _drop_output(out)  # the pass is done and its exit code stands, read or not
    for backend, error in sorted(result.backend_errors.items()):
        print(f"{backend} unreadable: {error}", file=err)
    if result.delivery and result.delivery.still_queued:
        print(
            f"{result.delivery.still_queued} notification(s) still queued: no channel took them "
            f"({'; '.join(result.delivery.errors) or 'see the log'})",
            file=err,
        )
    return result.exit_code


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
    for channel in every_receiver(settings):
        try:
            channel.send(note)
        except NotifierError as exc:
            failed += 1
            kind = "permanent" if exc.permanent else "transient"
            print(f"{channel.name}: FAILED ({kind}): {redactor.redact(str(exc))}", file=out)
        else:
            print(f"{channel.name}: ok", file=out)
    return 1 if failed else EXIT_OK


def _resolve_target(text: str, targets: list[Target], known: set[str]) -> tuple[str | None, list[Target]]:
    """The target key a person means: a key, an agent id, a label or a files.csv service.

    Returns (key, []) for one match, (None, candidates) when a label or service names several targets,
    (None, []) for none. `known` are keys the store holds (a removed target can still be unsilenced).
    """
    keys = {t.key for t in targets}
    if text in keys or text in known:
        return text, []
    if text.isdigit():
        key = Target.agent_key(text.zfill(3))
        return (key, []) if key in keys or not keys else (None, [])
    # A location carries its agent's label: the agent (whose silence covers its locations) is the one meant.
    named = [
        t
        for t in targets
        if t.kind in (TargetKind.AGENT, TargetKind.LOCAL_FILE) and text in (t.label, t.service or None)
    ]
    if len(named) == 1:
        return named[0].key, []
    if named:
        return None, named
    if ":" in text and not keys:
        return text, []
    return None, []


def _silence(settings: Settings, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        targets = load_targets(settings)
    except ConfigError:
        targets = []  # a broken list must not stop anyone ending a silence: keys still work
    now = datetime.now(UTC)
    with StateStore(settings.state_db) as store:
        targets = learned(targets, store.load_states(), discovery=settings.agent_discovery)
        known = set(store.silences(now)) if args.command == "unsilence" else set()
        key, candidates = _resolve_target(args.target, targets, known)
        if candidates:
            print(f"{program()}: {args.target!r} names {len(candidates)} targets; give one of their keys:", file=err)
            for target in candidates:
                print(f"  {target.key}  ({target.label}, {target.origin or 'configured'})", file=err)
            return EXIT_USAGE
        if key is None:
            return _fail(
                err, f"{program()}: no target matches {args.target!r} (use `status` to list target keys)", EXIT_USAGE
            )
        if args.command == "unsilence":
            removed = store.remove_silence(key)
            print(f"{key}: {'silence ended' if removed else 'was not silenced'}", file=out)
            return EXIT_OK
        try:
            seconds = parse_duration(args.duration)
        except ValueError as exc:
            return _fail(err, f"{program()}: --for: {exc}", EXIT_USAGE)
        if seconds <= 0:  # a silence that ends as it starts holds nothing back: surely not what was meant
            return _fail(err, f"{program()}: --for: expected a duration above 0, got {args.duration!r}", EXIT_USAGE)
        if len(args.reason) > MAX_REASON_CHARS:
            return _fail(
                err,
                f"{program()}: --reason: at most {MAX_REASON_CHARS} characters, got {len(args.reason)}",
                EXIT_USAGE,
            )
        until = now + timedelta(seconds=seconds)
        store.add_silence(Silence(key, until, args.reason, now, invoking_user()))
    covered = [t for t in targets if t.kind is TargetKind.LOCATION and t.key.startswith(key + ":")]
    also = f"; covers its {len(covered)} log file(s)" if covered else ""
    why = f" ({printable(args.reason)})" if args.reason else ""
    print(f"{key}: silenced until {when(until)} UTC{why}{also}", file=out)
    return EXIT_OK


def _demo(seconds: float, out: TextIO) -> int:
    # The simulator is for `demo` and `simulate` alone: the daemon and cron's `once` start without it.
    from log_monitor.demo import INTERVAL_S, THRESHOLD_S, demo_setup  # noqa: PLC0415

    setup_logging(level=logging.WARNING)
    signals = Signals()
    signal.signal(signal.SIGINT, lambda *_: signals.request_stop())
    timer = threading.Timer(seconds, signals.request_stop)
    timer.daemon = True
    with demo_setup(show=lambda line: print(line, file=out, flush=True)) as (settings, targets):
        print(
            f"demo: simulated Wazuh API at {settings.wazuh_api_url}, indexer at {settings.wazuh_indexer_url}\n"
            f"      {len(targets)} targets checked every {humanize_duration(INTERVAL_S)}; WARNING after "
            f"{humanize_duration(THRESHOLD_S)} of silence, CRITICAL after {humanize_duration(THRESHOLD_S * 2)}; "
            f"running for {humanize_duration(seconds)} (Ctrl-C stops)\n"
            "      db-primary's logs stop while its FIM and SCA alerts go on, web-frontend's auth.log goes quiet,\n"
            "      dc-01's Security channel stops while System goes on and comes back, fw-edge disconnects,\n"
            "      mail-relay (UTC+8) recovers\n"
            "      two teams: the linux-servers group (web-frontend, mail-relay) alerts Slack #soc-linux; the dc\n"
            "      group (dc-01) alerts Slack #soc-identity and email, one Slack thread per incident; the rest\n"
            "      goes to the console\n",
            file=out,
            flush=True,
        )
        timer.start()
        try:
            with build(settings, targets, channels=[ConsoleNotifier(out)]) as app:
                Daemon(app.monitor).run(signals, restart_at=app.monitor.clock.monotonic() + seconds + 60)
                app.monitor.deliver_queued()
        finally:
            timer.cancel()
        print("\ndemo finished; the state the daemon kept:\n", file=out)
        status(settings, targets, out)
    return EXIT_OK


def _simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from log_monitor.demo import simulated_fleet  # noqa: PLC0415 - as in _demo
    from log_monitor.simulator.server import SimulatorServer  # noqa: PLC0415

    setup_logging(level=logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fleet = simulated_fleet(args.agents, args.silent, datetime.now(UTC))
    sim = SimulatorServer(fleet, ports=(args.api_port, args.indexer_port), schema=args.schema)
    try:
        sim.start()
    except OSError as exc:
        print(
            f"{program()} simulate: cannot listen on 127.0.0.1 port {args.api_port} or {args.indexer_port}: "
            f"{exc.strerror or exc}; choose others with --api-port/--indexer-port (0 picks a free one)",
            file=err,
        )
        return EXIT_USAGE
    try:
        try:
            print(_simulator_banner(sim, args), file=out, flush=True)
        except BrokenPipeError:
            _drop_output(out)  # `simulate | head`: the reader has what it wanted; the simulator serves on
        stop.wait()
    finally:
        sim.stop()
    try:
        print("simulator stopped", file=out, flush=True)
    except BrokenPipeError:
        _drop_output(out)
    return EXIT_OK


def _simulator_banner(sim: SimulatorServer, args: argparse.Namespace) -> str:
    """What `simulate` prints: where it listens, and the env file and agents file lines to point the monitor at it."""
    (api_user, api_password), (indexer_user, indexer_password) = (
        next(iter(sim.api_users.items())),
        next(iter(sim.indexer_users.items())),
    )
    agents = [f"{n:03d},sim-{n:03d}" for n in range(1, args.agents + 1)]
    return (
        f"Wazuh simulator: server API at {sim.api_url}, indexer at {sim.indexer_url}; "
        f"{args.agents} agent(s), {args.silent} of them silent for 40 minutes.\n"
        "Put these lines in your env file (e.g. env-files/log_monitor.env):\n\n"
        f"WAZUH_API_URL={sim.api_url}\n"
        f"WAZUH_API_USER={api_user}\n"
        f"WAZUH_API_PASSWORD={api_password}\n"
        f"WAZUH_INDEXER_URL={sim.indexer_url}\n"
        f"WAZUH_INDEXER_USER={indexer_user}\n"
        f"WAZUH_INDEXER_PASSWORD={indexer_password}\n"
        f"{'WAZUH_SCHEMA=5.x' + chr(10) if getattr(args, 'schema', '4.x') == '5.x' else ''}"
        "# plain HTTP on loopback: no VERIFICATION_FILE or VERIFY_TLS needed\n"
        "# for a first run: a check every 30 s (the default is 15m), and the status page and `top`'s live view\n"
        "DEFAULT_CHECK_INTERVAL=30s\n"
        "STATUS_ADDR=127.0.0.1:9108\n\n"
        "and these in your agents file (e.g. config/agents.csv):\n\n"
        "agent_id,label\n" + "\n".join(agents) + "\n\n"
        "Running until Ctrl-C or SIGTERM."
    )
