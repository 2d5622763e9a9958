"""The daemon's signs of life after each pass: heartbeat ping, systemd READY/WATCHDOG/STATUS, an hourly log line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from log_monitor.clock import Clock
from log_monitor.errors import StateError
from log_monitor.heartbeat import Heartbeat
from log_monitor.models import Severity
from log_monitor.sdnotify import SdNotifier
from log_monitor.state import StateStore
from log_monitor.view import silence_for

log = logging.getLogger(__name__)

SUMMARY_EVERY_S = 3600.0
# Passes that raise (state DB unusable, ...) this many times in a row stop the watchdog pings, so systemd
# restarts the daemon; a backend that is down is not such a failure: a restart would not bring it back.
FAILED_PASSES_BEFORE_RESTART = 3


class Liveness:
    """Called by the loop after each pass and at each turn; tells systemd, the heartbeat URL and the log."""

    def __init__(
        self,
        *,
        store: StateStore,
        clock: Clock,
        heartbeat: Heartbeat | None = None,
        notifier: SdNotifier | None = None,
        summary_every_s: float = SUMMARY_EVERY_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._heartbeat = heartbeat
        self._notifier = notifier or SdNotifier(None)
        self._summary_every_s = summary_every_s
        self._next_summary: float | None = None  # monotonic; None: after the first pass
        self._ready = False
        self._failures = 0  # passes in a row that raised
        self._targets = 0
        self.last_good_pass_at: datetime | None = None

    @property
    def healthy(self) -> bool:
        return self._failures < FAILED_PASSES_BEFORE_RESTART

    def pass_done(self, targets: int, backend_errors: Mapping[str, str]) -> None:
        """A pass ran to its end; `backend_errors` names the backends it could not read."""
        self._failures = 0
        self._targets = targets
        if not backend_errors:
            self.last_good_pass_at = self._clock.now()
        if self._heartbeat is not None:
            self._heartbeat.ping(not backend_errors, ", ".join(sorted(backend_errors)) + " unreadable")
        self._after(f"{len(backend_errors)} backend(s) unreadable" if backend_errors else "")

    def pass_failed(self, targets: int, error: str) -> None:
        """A pass raised: nothing was judged."""
        self._failures += 1
        self._targets = targets
        if self._heartbeat is not None:
            self._heartbeat.ping(False, "pass failed")
        self._after(f"pass failed ({self._failures} in a row): {error}")

    def turn(self) -> None:
        """Each turn of the loop, pass or not: feed the watchdog while passes succeed, log the hourly line."""
        if self._notifier.watchdog_s is not None and self._ready and self.healthy:
            self._notifier.watchdog()
        if self._next_summary is not None and self._clock.monotonic() >= self._next_summary:
            self._log_summary()

    def max_sleep(self) -> float | None:
        """How long the loop may sleep before it must turn again (the watchdog wants two pings per period)."""
        waits = []
        if self._notifier.watchdog_s is not None:
            waits.append(self._notifier.watchdog_s / 2)
        if self._next_summary is not None:
            waits.append(max(0.0, self._next_summary - self._clock.monotonic()))
        return min(waits) if waits else None

    def stopping(self) -> None:
        self._notifier.stopping()

    def close(self) -> None:
        self._notifier.close()

    def _after(self, problem: str) -> None:
        text = self._status_text(problem)
        if not self._ready:
            self._ready = True
            self._notifier.ready(text)
            self._log_summary()
        else:
            self._notifier.status(text)

    def _status_text(self, problem: str) -> str:
        try:
            states = self._store.load_states()
            silences = self._store.silences(self._clock.now())
            # A silenced target's alerts are held back: it shows MAINTENANCE everywhere else, so it is not counted.
            alerting = str(
                sum(
                    1
                    for key, s in states.items()
                    if s.severity in (Severity.WARNING, Severity.CRITICAL) and silence_for(key, None, silences) is None
                )
            )
            queued = str(self._store.outbox_depth())
        except StateError:
            alerting = queued = "?"  # the pass that failed says why; a status line must not fail too
        text = f"{self._targets} targets, {alerting} alerting, last good pass {_when(self.last_good_pass_at)}"
        text += f", {queued} notification(s) queued"
        return f"{text}; {problem}" if problem else text

    def _log_summary(self) -> None:
        self._next_summary = self._clock.monotonic() + self._summary_every_s
        log.info("alive: %s", self._status_text(""))


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "never"
