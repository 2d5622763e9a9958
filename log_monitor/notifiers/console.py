"""The console channel: writes each notification as plain text to a stream (stdout by default)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from log_monitor.models import Notification
from log_monitor.notifiers.render import group_plain_text, plain_text
from log_monitor.printable import printable


class ConsoleNotifier:
    """Prints notifications; the channel used when nothing else is configured, and by the demo."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, notification: Notification) -> None:
        self._write(plain_text(notification))

    def send_group(self, notifications: Sequence[Notification]) -> None:
        self._write(group_plain_text(notifications))

    def _write(self, text: str) -> None:
        # sys.stdout is looked up now, not at construction, so a redirected or captured stdout is honoured.
        stream = self._stream if self._stream is not None else sys.stdout
        # The message's own lines stay lines; a control character from a name or detail is shown escaped.
        stream.write("\n".join(printable(line) for line in text.split("\n")) + "\n\n")
        stream.flush()

    def __repr__(self) -> str:
        return "ConsoleNotifier()"
