"""Delivery: drains the outbox lane by lane (a lane: one receiver, or a chain where the first that takes it wins).

At-least-once: a notification is marked delivered right after a channel accepted it, so a crash between
the two sends it again on the next start. Each message carries the notification's stable id where the
channel can use it (email Message-ID); Slack and Teams cannot deduplicate (see docs/notifiers.md).
Per target and lane, notifications go out in the order they were raised: one in backoff holds the later ones
of its lane only, so a route fanning out to Slack and email never waits on the slower of the two.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from log_monitor.clock import Clock
from log_monitor.errors import NotifierError
from log_monitor.models import Condition, Notification, NotificationKind, Severity
from log_monitor.notifiers.base import GroupNotifier, Notifier
from log_monitor.notifiers.render import mark_delayed
from log_monitor.state import StateStore
from log_monitor.state.outbox import OutboxEntry

log = logging.getLogger(__name__)

GROUP_MIN = 4  # this many due at once are sent as grouped messages, not one message each
GROUP_SIZE = 40  # notifications per grouped message: keeps a Slack message within 50 blocks / 3000 chars a section
MAX_RETRY_AFTER_S = 900.0  # a channel's Retry-After is honoured up to this; a longer one is not believed


@dataclass
class DeliveryReport:
    """What one drain of the outbox achieved."""

    delivered: int = 0
    failed: int = 0
    still_queued: int = 0
    messages: int = 0  # messages sent (a group is one)
    errors: list[str] = field(default_factory=list)
    channel_errors: dict[str, str] = field(default_factory=dict)  # channel -> its latest error in this drain


def _transient(exc: BaseException) -> bool:
    # A rate limit that named its wait is not retried within the drain: the message is deferred that long.
    return isinstance(exc, NotifierError) and not exc.permanent and exc.retry_after_s is None


@dataclass(frozen=True)
class Pacing:
    """How long delivery waits: between attempts in one drain, before a failed notification's next drain."""

    backoff_s: float = 0.5  # the first wait between attempts in one drain, doubling up to backoff_max_s
    backoff_max_s: float = 5.0
    retry_budget_s: float = 15.0  # all attempts at one notification in one drain
    retry_base_s: float = 60.0  # a failed notification's next drain, doubling per failure up to retry_max_s
    retry_max_s: float = 1800.0
    max_retry_after_s: float = MAX_RETRY_AFTER_S  # the longest Retry-After a channel is left to rest for


class Dispatcher:
    """Tries each queued notification (or group of them) on the channels in order, and marks what got through.

    Within one drain a transient failure is retried with tenacity (capped exponential backoff, `sleep`
    injectable); a channel still failing after that is skipped for the rest of the drain, so a hanging
    Slack costs one timeout per drain, not one per notification. What no channel took stays queued
    until `next_attempt_at` (backoff from `retry_base_s` up to `retry_max_s`, or longer when a channel
    answered 429 with a Retry-After, honoured up to `max_retry_after_s`: that channel then rests that
    long) and is then marked as delayed in its message. A target whose notification failed waits: its
    later notifications are not sent before it (the outbox query holds them across drains, `held` within
    one). Drains never overlap (a lock), so the worker and a synchronous caller cannot send the same
    notification twice.
    """

    def __init__(
        self,
        store: StateStore,
        channels: Sequence[Notifier],
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 3,
        pacing: Pacing = Pacing(),
        group_min: int = GROUP_MIN,
        group_size: int = GROUP_SIZE,
        host: str | None = None,
        lanes: Mapping[str, Sequence[Notifier]] | None = None,
    ) -> None:
        if not channels:
            raise ValueError("at least one channel is needed")
        self._store = store
        self._channels = list(channels)
        # Lane text (routes.py) -> the receivers it tries in order; '' (today's chain) is `channels`.
        self._lanes: dict[str, list[Notifier]] = {lane: list(c) for lane, c in (lanes or {}).items() if c}
        self._lanes[""] = self._channels
        self._clock = clock
        self._sleep = sleep
        self._attempts = max(1, attempts)
        self._pacing = pacing
        self._resting: dict[str, datetime] = {}  # channel -> the time its Retry-After ends
        self._group_min = max(2, group_min)
        self._group_size = max(1, group_size)
        self._host = host or socket.gethostname()
        self._lock = threading.Lock()
        self.failures: dict[str, int] = {}  # channel -> failed attempts since start (for the metrics)

    @property
    def channel_names(self) -> list[str]:
        """Every receiver, today's chain first."""
        return list(dict.fromkeys(c.name for lane in self._lanes.values() for c in lane))

    def _lane(self, lane: str) -> list[Notifier]:
        found = self._lanes.get(lane)
        if found is None:
            # A row queued for a route since removed from routes.csv: today's chain, rather than never.
            log.warning("outbox lane %r is no longer configured: delivering through the default chain", lane)
            return self._channels
        return found

    def seconds_until_due(self) -> float | None:
        """How long until a queued notification is due again (0: now; None: nothing queued)."""
        due = self._store.next_attempt_at()
        if due is None:
            return None
        return max(0.0, (due - self._clock.now()).total_seconds())

    def deliver_pending(
        self,
        limit: int = 1000,
        *,
        deadline: float | None = None,
        cancelled: Callable[[], bool] | None = None,
        force: bool = False,
    ) -> DeliveryReport:
        """Try every due notification once (all queued ones with `force`).

        With a monotonic `deadline`, stop starting new messages after it (and wait for a drain running
        in another thread only until then); `cancelled` is asked between messages.
        """
        report = DeliveryReport()
        wait = -1.0 if deadline is None else max(0.0, deadline - self._clock.monotonic())
        if not self._lock.acquire(timeout=wait):
            report.still_queued = self._store.outbox_depth()
            return report
        try:
            down: set[str] = set()  # channels that failed transiently in this drain: skipped until the next
            held: set[tuple[str, str]] = set()  # (target, lane) whose notification failed: the rest waits for it
            raised: list[Notification] = []
            entries = self._store.pending(limit, due=None if force else self._clock.now())
            for batch in self._batches(entries):
                if (deadline is not None and self._clock.monotonic() >= deadline) or (cancelled and cancelled()):
                    break
                ready = [e for e in batch if (e.notification.target_key, e.receiver) not in held]
                if ready and not self._deliver(ready, report, down, raised):
                    held.update((e.notification.target_key, e.receiver) for e in ready)
            # A channel that failed permanently in this drain raised one alert: send it now, through the others.
            for note in raised:
                for lane in self._store.lanes_of(note):
                    self._deliver([OutboxEntry(note, 0, None, None, None, lane)], report, down, [])
        finally:
            self._lock.release()
        report.still_queued = self._store.outbox_depth()
        return report

    def _batches(self, entries: Sequence[OutboxEntry]) -> list[list[OutboxEntry]]:
        """One entry per message, or per lane groups of up to group_size when many are due at once (oldest first)."""
        singles = [e for e in entries if e.notification.kind is NotificationKind.CHANNEL_DOWN]
        by_lane: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            if entry.notification.kind is not NotificationKind.CHANNEL_DOWN:
                by_lane.setdefault(entry.receiver, []).append(entry)
        batches = [[e] for e in singles]
        for rest in by_lane.values():
            if len(rest) < self._group_min:
                batches += [[e] for e in rest]
            else:
                batches += [rest[i : i + self._group_size] for i in range(0, len(rest), self._group_size)]
        return batches

    def _deliver(
        self, batch: list[OutboxEntry], report: DeliveryReport, down: set[str], raised: list[Notification]
    ) -> bool:
        """One message through the first channel of its lane that takes it; False (the batch deferred) when none did."""
        # Something a previous drain could not deliver says so: the reader must know the alert is late.
        notes = [mark_delayed(e.notification) if e.attempts > 0 else e.notification for e in batch]
        ids = [n.id for n in notes]
        lane = batch[0].receiver  # _batches keeps one lane per batch
        errors: list[str] = []
        not_before: datetime | None = None  # the latest Retry-After among the channels that refused
        for channel in self._lane(lane):
            resting = self._resting.get(channel.name)
            if resting is not None and resting > self._clock.now():
                errors.append(f"{channel.name}: skipped (rate limited until {resting:%H:%M:%S} UTC)")
                not_before = max(not_before or resting, resting)
                continue
            if channel.name in down:
                errors.append(f"{channel.name}: skipped (failed earlier in this drain)")
                continue
            if len(notes) == 1 and notes[0].kind is NotificationKind.CHANNEL_DOWN and notes[0].label == channel.name:
                continue  # the alert about a broken channel goes through the others
            try:
                self._send(channel, notes)
            except NotifierError as exc:
                kind = "permanent" if exc.permanent else "transient"
                errors.append(f"{channel.name}: {exc} ({kind})")
                report.channel_errors[channel.name] = f"{exc} ({kind})"
                log.warning("channel %s failed for %d notification(s): %s (%s)", channel.name, len(notes), exc, kind)
                self.failures[channel.name] = self.failures.get(channel.name, 0) + 1
                if not exc.permanent:
                    down.add(channel.name)
                now = self._clock.now()
                if exc.retry_after_s is not None and not exc.permanent:
                    # Slack's 429 says when to come back: calling before that only earns more 429s.
                    until = now + timedelta(seconds=min(max(exc.retry_after_s, 0.0), self._pacing.max_retry_after_s))
                    self._resting[channel.name] = until
                    not_before = max(not_before or until, until)
                if self._store.record_channel_attempt(channel.name, now, error=str(exc), permanent=exc.permanent):
                    raised.append(self._channel_down(channel.name, str(exc)))
                continue
            now = self._clock.now()
            # Marked the moment the channel said yes: a crash can resend only what is in this short window.
            self._store.mark_all_delivered(ids, channel.name, now, receiver=lane)
            self._store.record_channel_attempt(channel.name, now)
            report.delivered += len(ids)
            report.messages += 1
            return True
        # No channel took it: it stays queued, and comes back after a backoff that grows with its attempts.
        now = self._clock.now()
        attempts = max(e.attempts for e in batch)
        retry_at = now + timedelta(seconds=min(self._pacing.retry_max_s, self._pacing.retry_base_s * 2**attempts))
        if not_before is not None and not_before > retry_at:
            retry_at = not_before
        error = "; ".join(errors) or "no channel could take it"
        self._store.mark_all_failed(ids, error, now, retry_at=retry_at, receiver=lane)
        report.failed += len(ids)
        report.errors.extend(e for e in errors if e not in report.errors)
        return False

    def _send(self, channel: Notifier, notes: list[Notification]) -> None:
        """One message on one channel; transient errors retried with capped exponential backoff."""
        retrying = Retrying(
            # Tries, or time spent on this channel: after one 10 s timeout of a hanging Slack, the next
            # channel should get the alert, not two more timeouts.
            stop=stop_after_attempt(self._attempts) | stop_after_delay(self._pacing.retry_budget_s),
            wait=wait_exponential(multiplier=self._pacing.backoff_s, max=self._pacing.backoff_max_s),
            retry=retry_if_exception(_transient),
            sleep=self._sleep,
            reraise=True,
        )
        retrying(_send_once, channel, notes)

    def _channel_down(self, name: str, error: str) -> Notification:
        now = self._clock.now()
        return _queued(
            self._store,
            Notification(
                id=f"channel-down:{name}:{now.isoformat()}",
                created_at=now,
                kind=NotificationKind.CHANNEL_DOWN,
                severity=Severity.CRITICAL,
                target_key=f"channel:{name}",
                label=name,
                condition=Condition.UNKNOWN,
                host=self._host,
                detail=f"Error: {error}. Fix the channel's configuration; `status` shows its state.",
            ),
        )


def _queued(store: StateStore, note: Notification) -> Notification:
    # Written to the outbox first, like every notification: if this drain cannot send it, a later one will.
    store.queue([note])
    return note


def _send_once(channel: Notifier, notes: list[Notification]) -> None:
    try:
        if len(notes) == 1:
            channel.send(notes[0])
        elif isinstance(channel, GroupNotifier):
            channel.send_group(notes)
        else:
            # A channel that cannot group gets them one by one; a failure midway resends the first ones
            # on the next channel (at-least-once).
            for note in notes:
                channel.send(note)
    except NotifierError:
        raise
    except Exception as exc:
        # A bug in a channel must not stop delivery on the others; its text may hold a secret, so only the type.
        log.error("channel %s raised %s", channel.name, type(exc).__name__)
        raise NotifierError(f"unexpected {type(exc).__name__} in the {channel.name} channel", permanent=False) from exc


class DeliveryWorker:
    """A thread that drains the outbox, so a slow or hanging channel never delays the checks.

    `wake()` after queueing; it also wakes by itself when a queued notification's retry time comes,
    and at least every `idle_s`. `stop(timeout)` ends it between two messages (a send in flight is
    waited for, up to the timeout).
    """

    def __init__(self, dispatcher: Dispatcher, *, idle_s: float = 60.0, min_wait_s: float = 0.2) -> None:
        self._dispatcher = dispatcher
        self._idle_s = idle_s
        self._min_wait_s = min_wait_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_report: DeliveryReport | None = None
        self.drains = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the delivery worker was already started")
        self._thread = threading.Thread(target=self._loop, name="log_monitor-delivery", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to end and wait up to `timeout`; True when it has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.last_report = self._dispatcher.deliver_pending(cancelled=self._stopping.is_set)
            except Exception as exc:  # the state DB locked or gone for a moment: try again, never die
                log.error("delivery failed: %s: %s", type(exc).__name__, exc)
            self.drains += 1
            due = None
            try:
                due = self._dispatcher.seconds_until_due()
            except Exception as exc:
                log.error("delivery: cannot read the outbox: %s", type(exc).__name__)
            wait = self._idle_s if due is None else min(self._idle_s, max(self._min_wait_s, due))
            self._wake.wait(wait)
