"""The daemon: its loop (scheduler ticks over a LogCounter) and its lifecycle (signals, lock, drain, re-exec)."""

from __future__ import annotations

import enum
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from log_monitor.app import App, build
from log_monitor.config import Settings, load_settings
from log_monitor.config.environment import service_manager
from log_monitor.errors import ConfigError, LogMonitorError, StateError
from log_monitor.liveness import Liveness
from log_monitor.models import Target
from log_monitor.monitor import LogCounter, PassResult
from log_monitor.notifiers.dispatch import DeliveryReport, DeliveryWorker
from log_monitor.notifiers.render import humanize_duration
from log_monitor.routes import check_routes
from log_monitor.scheduler import Scheduler
from log_monitor.sdnotify import SdNotifier
from log_monitor.state.lock import InstanceLock
from log_monitor.status.http import start_status_server
from log_monitor.targets import load_targets

log = logging.getLogger(__name__)

STOP_DRAIN_S = 5.0  # on SIGTERM, how long to keep trying the outbox before exiting
# Before a re-exec, how long a send in flight may take to finish (a slow Slack, a failing one's retries and
# the next channel): replaced mid-send, the process would never mark it delivered and the new one resends it.
REEXEC_DRAIN_S = 60.0
_DAEMON_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Outcome(enum.Enum):
    """Why the daemon loop returned."""

    STOP = "stop"  # SIGTERM / SIGINT: exit 0
    RESTART = "restart"  # RESTART_INTERVAL reached: re-exec
    RELOAD = "reload"  # SIGHUP: re-read the configuration


@dataclass
class Signals:
    """Flags the signal handlers set; `wake` interrupts the loop's sleep at once."""

    stop: bool = False
    reload: bool = False
    wake: threading.Event = field(default_factory=threading.Event)

    def request_stop(self) -> None:
        self.stop = True
        self.wake.set()

    def request_reload(self) -> None:
        self.reload = True
        self.wake.set()


class Daemon:
    """Checks each target at its own interval (a min-heap of due times) until a signal or the restart time."""

    def __init__(
        self,
        monitor: LogCounter,
        scheduler: Scheduler | None = None,
        *,
        worker: DeliveryWorker | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.monitor = monitor
        self.scheduler = scheduler or Scheduler()
        # The service's delivery thread: then a tick only wakes it, so a slow channel never delays the checks.
        # None (tests, the demo): each tick drains the outbox itself.
        self.worker = worker
        # The service's heartbeat, systemd notifications and hourly line after each pass; None: none of them.
        self.liveness = liveness
        # Set by the service: the instance lock's check before each turn (raises when another instance took it).
        self.lock_check: Callable[[], None] | None = None

    def set_targets(self, targets: Sequence[Target]) -> None:
        """Take a new target list (a reload): new targets are due at once, vanished ones leave the schedule."""
        keep = {t.key for t in targets}
        for old in self.monitor.targets:
            if old.key not in keep:
                self.scheduler.remove(old.key)
        self.monitor.reload_targets(targets)
        now = self.monitor.clock.monotonic()
        for target in self.monitor.targets:
            if target not in self.scheduler:
                self.scheduler.schedule(target.key, now)

    def tick(self) -> PassResult | None:
        """Check every target that is due, reschedule it, and deliver what is queued."""
        mono = self.monitor.clock.monotonic()
        due = set(self.scheduler.pop_due(mono))
        if not due:
            return None
        batch = self.monitor.due_targets(due)
        try:
            result = self.monitor.check(batch, keep_rows=False)  # the loop shows no table: tallies are enough
        finally:
            # Even a failed check comes back at its interval: one bad pass must not drop a target.
            for target in self.monitor.targets:
                if target.key in due or target.key not in self.scheduler:
                    self.scheduler.schedule(target.key, mono + target.interval_s)
        result.delivery = self.deliver()
        return result

    def deliver(self) -> DeliveryReport | None:
        """Hand the outbox to the delivery worker when one runs (no report then), else drain it now."""
        if self.worker is not None and self.worker.running:
            self.worker.wake()
            return None
        return self.monitor.deliver_queued()

    def run(self, signals: Signals, *, restart_at: float) -> Outcome:
        """The loop: tick, sleep until the next due time or a signal; returns why it stopped.

        `restart_at` is the monotonic time at which the process should re-execute itself.
        """
        clock, monitor = self.monitor.clock, self.monitor
        monitor.stop_when(lambda: signals.stop)  # a SIGTERM during a long pass ends it between slices
        self.set_targets(monitor.targets)
        monitor.loop_started()
        errors_seen: set[tuple[str, str]] = set()
        while True:
            monitor.loop_turned()
            if signals.stop:
                return Outcome.STOP
            if signals.reload:
                signals.reload = False
                return Outcome.RELOAD
            if clock.monotonic() >= restart_at:
                return Outcome.RESTART
            if self.lock_check is not None:
                self.lock_check()  # InstanceLockedError ends the daemon (exit 75): the other instance goes on
            try:
                result = self.tick()
            except LogMonitorError as exc:
                # A broken pass (state DB locked, ...) is logged and retried; the daemon stays up.
                log.error("check failed: %s", exc)
                monitor.pass_failed(str(exc))
                if self.liveness is not None:
                    self.liveness.pass_failed(len(self.monitor.targets), str(exc))
            except Exception as exc:
                # A bug must not take monitoring down either: the traceback once per distinct error, then a line.
                seen = (type(exc).__name__, str(exc))
                if seen in errors_seen:
                    log.error("check failed again: %s: %s (traceback logged before)", *seen)
                else:
                    errors_seen.add(seen)
                    log.exception("check failed unexpectedly; the daemon keeps running")
                monitor.pass_failed(f"{type(exc).__name__}: {exc}")
                if self.liveness is not None:
                    self.liveness.pass_failed(len(self.monitor.targets), f"{type(exc).__name__}: {exc}")
            else:
                if result is not None and self.liveness is not None:
                    self.liveness.pass_done(len(self.monitor.targets), result.backend_errors)
                # Let the pass go now: held through the sleep and the next pass, its rows (a target, an
                # observation and two states each) would double the memory a pass needs.
                result = None
            if self.liveness is not None:
                self.liveness.turn()
            next_due = self.scheduler.next_due()
            now = clock.monotonic()
            wait = (next_due - now) if next_due is not None else restart_at - now
            wait = max(0.0, min(wait, restart_at - now))
            limit = self.liveness.max_sleep() if self.liveness is not None else None
            if limit is not None:
                wait = min(wait, limit)
            if wait > 0:
                signals.wake.wait(wait)
                signals.wake.clear()


def run_daemon(settings: Settings, targets: list[Target], env_file: Path | None, err: TextIO) -> None:
    """The `run` command: returns once stopped by a signal; a re-exec (RESTART_INTERVAL, a new configuration)
    replaces the process and never returns. Raises InstanceLockedError when another instance holds the state DB.
    """
    signals = Signals()
    signal.signal(signal.SIGTERM, lambda *_: signals.request_stop())
    signal.signal(signal.SIGINT, lambda *_: signals.request_stop())
    signal.signal(signal.SIGHUP, lambda *_: signals.request_reload())
    # A signal sent while the daemon re-executed waited, blocked across execv (the mask survives it): handled now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _DAEMON_SIGNALS)
    # Held for the process's life (the kernel drops it at exit, however the process ends) and across the re-exec.
    lock = InstanceLock(settings.state_db)
    lock.acquire()
    app = build(settings, targets)
    status_server = start_status_server(app)
    restart_at = app.monitor.clock.monotonic() + settings.restart_interval_s
    every = humanize_duration(settings.restart_interval_s)
    log.info("daemon started: %d targets, re-exec every %s", len(targets), every)
    # Delivery runs in its own thread: a hanging Slack must not hold up the checks.
    worker = DeliveryWorker(app.monitor.dispatcher)
    liveness = Liveness(
        store=app.store, clock=app.monitor.clock, heartbeat=app.heartbeat, notifier=SdNotifier(*service_manager())
    )
    daemon = Daemon(app.monitor, worker=worker, liveness=liveness)
    daemon.lock_check = lock.verify
    worker.start()
    drain_s = STOP_DRAIN_S
    try:
        outcome, keep_lock = _serve(daemon, signals, settings, env_file, restart_at)
        if outcome is Outcome.STOP:
            liveness.stopping()
            deadline = app.monitor.clock.monotonic() + STOP_DRAIN_S
            worker.stop(STOP_DRAIN_S)  # ends between two messages; a send in flight is waited for
            # One last try for what is queued, within what is left of the drain time.
            report = app.monitor.deliver_queued(deadline=deadline, force=True)
            log.info("stopped on signal; %d notification(s) still queued", report.still_queued)
            return
        drain_s = REEXEC_DRAIN_S
    finally:
        worker.stop(drain_s)
        liveness.close()
        if status_server is not None:
            status_server.close()
        save_kept(app)
        app.close()
    _reexec(signals, lock, keep_lock=keep_lock, err=err)


def _reexec(signals: Signals, lock: InstanceLock, *, keep_lock: bool, err: TextIO) -> None:
    """The same program again, with the same arguments; returns only when a stop came in meanwhile."""
    # Blocked until the new process has its handlers: a SIGTERM in between would kill it half started.
    signal.pthread_sigmask(signal.SIG_BLOCK, _DAEMON_SIGNALS)
    if signals.stop:  # sent while the outbox drained for the re-exec
        log.info("stopped on signal instead of re-executing")
        return
    log.info("re-executing (RESTART_INTERVAL or new configuration)")
    if keep_lock:
        lock.keep_across_exec()
    else:
        lock.release()
    err.flush()
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - same interpreter, same arguments


def save_kept(app: App) -> None:
    """The states' latest check times, last events and rates into the file before the daemon stops or re-execs."""
    try:
        app.store.save_kept()
    except StateError as exc:  # a full disk: the states written with their changes are all there is to lose
        log.warning("could not save the latest check times and last events: %s", exc)


def _serve(
    daemon: Daemon, signals: Signals, settings: Settings, env_file: Path | None, restart_at: float
) -> tuple[Outcome, bool]:
    """The daemon until a stop or a re-exec (RESTART_INTERVAL, a changed configuration).

    Returns the outcome and whether the state DB stays the same (then the lock is kept across the re-exec).
    """
    while True:
        outcome = daemon.run(signals, restart_at=restart_at)
        if outcome is not Outcome.RELOAD:
            return outcome, True
        try:
            fresh = load_settings(env_file)
            fresh_targets = load_targets(fresh)
            check_routes(fresh, fresh_targets)
        except ConfigError as exc:
            # A broken edit must not take monitoring down: keep running on the last good configuration.
            log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.problems))
            continue
        # Wazuh groups' policies and the routes are laid onto the targets at start: a re-exec applies them anew.
        if fresh != settings or fresh.groups_file is not None or fresh.routes_file is not None:
            log.info("configuration changed: re-executing to apply it")
            # A new STATE_DB is locked afresh by the new program.
            return Outcome.RESTART, fresh.state_db == settings.state_db
        daemon.set_targets(fresh_targets)
        log.info("reloaded: %d targets", len(fresh_targets))
