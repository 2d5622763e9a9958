"""Delivery: drains the outbox through the channel chain (first channel that takes it wins)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from log_monitor.clock import Clock
from log_monitor.errors import NotifierError
from log_monitor.notifiers.base import Notifier
from log_monitor.state import StateStore

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one drain of the outbox achieved."""

    delivered: int = 0
    failed: int = 0
    still_queued: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Tries each queued notification on the channels in order, and marks what got through."""

    def __init__(self, store: StateStore, channels: Sequence[Notifier], clock: Clock) -> None:
        if not channels:
            raise ValueError("at least one channel is needed")
        self._store = store
        self._channels = list(channels)
        self._clock = clock

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self._channels]

    def deliver_pending(self, limit: int = 1000, *, deadline: float | None = None) -> DeliveryReport:
        """Try every queued notification once; with a monotonic `deadline`, stop starting new ones after it."""
        report = DeliveryReport()
        for entry in self._store.pending(limit):
            if deadline is not None and self._clock.monotonic() >= deadline:
                break
            note = entry.notification
            errors: list[str] = []
            for channel in self._channels:
                try:
                    channel.send(note)
                except NotifierError as exc:
                    kind = "permanent" if exc.permanent else "transient"
                    errors.append(f"{channel.name}: {exc} ({kind})")
                    log.warning("channel %s failed for %s: %s (%s)", channel.name, note.target_key, exc, kind)
                    continue
                self._store.mark_delivered(note.id, channel.name, self._clock.now())
                report.delivered += 1
                break
            else:
                # No channel took it: it stays queued and is tried again on the next drain.
                self._store.mark_failed(note.id, "; ".join(errors), self._clock.now())
                report.failed += 1
                report.errors.extend(errors)
        report.still_queued = self._store.outbox_depth()
        return report
