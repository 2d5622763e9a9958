"""The Notifier protocol every channel implements; failures are NotifierError(message, permanent=...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from log_monitor.errors import NotifierError
from log_monitor.models import Notification

__all__ = ["Checkable", "GroupNotifier", "Notifier", "NotifierError", "transient_status"]


class Notifier(Protocol):
    """A channel: `send` delivers one notification or raises NotifierError.

    A channel may retry briefly within `send` where its client knows how (Slack: a refused connection, a short
    Retry-After); retrying with backoff across drains, and falling back to the next channel, is the dispatcher's.

    `permanent=True` means retrying the same message on this channel cannot help (bad token, unknown
    channel, rejected recipient); `permanent=False` means it may work later (rate limit, 5xx, timeout,
    connection refused). The dispatcher tries the next channel either way and the outbox keeps what no
    channel took. Messages must never contain a secret (token, webhook URL, password).
    """

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver `notification`, or raise NotifierError."""
        ...


@runtime_checkable
class GroupNotifier(Protocol):
    """Optional: a channel that can put several notifications in one message (`send_group`).

    The dispatcher groups when many notifications are queued at once (200 agents silent in one pass)
    and keeps each group small enough for the channel's limits; a channel without `send_group` gets
    each notification through `send`. One call is one message: it is delivered whole or raises.
    """

    name: str

    def send(self, notification: Notification) -> None: ...

    def send_group(self, notifications: Sequence[Notification]) -> None:
        """Deliver every notification in one message, or raise NotifierError."""
        ...


NOT_TESTED = "not tested"


@runtime_checkable
class Checkable(Protocol):
    """Optional: a channel that can test its connection without delivering anything (`check-config --connect`)."""

    name: str

    def check(self) -> str:
        """What was reached (`authenticated as SOC/log_monitor`), or raise NotifierError.

        A channel that cannot be checked without delivering returns a text starting with NOT_TESTED: it is
        reported as not tested, never as ok.
        """
        ...


def transient_status(status: int) -> bool:
    """Whether an HTTP error answer may pass with time: a rate limit (429) or the service's own trouble (5xx).

    Any other 4xx means the URL, token or payload is wrong, and sending the same request fails the same way.
    """
    return status == 429 or status >= 500
