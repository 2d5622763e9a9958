"""The daemon loop: scheduler ticks over a LogCounter, signal flags, and when to stop, reload or re-execute."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from log_monitor.errors import LogMonitorError
from log_monitor.liveness import Liveness
from log_monitor.models import Target
from log_monitor.monitor import LogCounter, PassResult
from log_monitor.notifiers.dispatch import DeliveryReport, DeliveryWorker
from log_monitor.scheduler import Scheduler

log = logging.getLogger(__name__)


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

    def __init__(self, monitor: LogCounter, scheduler: Scheduler | None = None) -> None:
        self.monitor = monitor
        self.scheduler = scheduler or Scheduler()
        # Set by the daemon: then a tick only wakes it, so a slow channel never delays the checks.
        self.worker: DeliveryWorker | None = None
        # Set by the daemon: heartbeat, systemd notifications and the hourly line after each pass.
        self.liveness: Liveness | None = None
        # Set by the daemon: the instance lock's check before each turn (raises when another instance took it).
        self.lock_check: Callable[[], None] | None = None

    def set_targets(self, targets: Sequence[Target]) -> None:
        """Take a new target list (a reload): new targets are due at once, vanished ones leave the schedule."""
        keep = {t.key for t in targets}
        for old in self.monitor.targets:
            if old.key not in keep:
                self.scheduler.remove(old.key)
        self.monitor.targets = list(targets)
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
        batch = [t for t in self.monitor.targets if t.key in due]
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
        return self.monitor.dispatcher.deliver_pending()

    def run(self, signals: Signals, *, restart_at: float) -> Outcome:
        """The loop: tick, sleep until the next due time or a signal; returns why it stopped.

        `restart_at` is the monotonic time at which the process should re-execute itself.
        """
        clock, health = self.monitor.clock, self.monitor.health
        self.monitor.stopping = lambda: signals.stop  # a SIGTERM during a long pass ends it between slices
        self.set_targets(self.monitor.targets)
        health.started_mono = clock.monotonic()
        errors_seen: set[tuple[str, str]] = set()
        while True:
            health.last_tick_mono = clock.monotonic()
            health.last_tick_at = clock.now()
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
                health.last_failure = str(exc)
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
                health.last_failure = f"{type(exc).__name__}: {exc}"
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
