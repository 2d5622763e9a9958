"""The Notifier protocol every channel implements; failures are NotifierError(message, permanent=...)."""

from __future__ import annotations

from typing import Protocol

from log_monitor.errors import NotifierError
from log_monitor.models import Notification

__all__ = ["Notifier", "NotifierError"]


class Notifier(Protocol):
    """A channel: `send` delivers one notification or raises NotifierError; it never retries by itself.

    `permanent=True` means retrying the same message on this channel cannot help (bad token, unknown
    channel, rejected recipient); `permanent=False` means it may work later (rate limit, 5xx, timeout,
    connection refused). The dispatcher tries the next channel either way and the outbox keeps what no
    channel took. Messages must never contain a secret (token, webhook URL, password).
    """

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver `notification`, or raise NotifierError."""
        ...
