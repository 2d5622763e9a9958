"""systemd's notify protocol: READY=1, WATCHDOG=1, STATUS=... as datagrams to the socket in NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class SdNotifier:
    """Sends sd_notify messages; does nothing when not started by systemd (no NOTIFY_SOCKET).

    A failed send is logged once and never raised: the monitor must keep checking whatever systemd does.
    """

    def __init__(self, socket_path: str | None, watchdog_s: float | None = None) -> None:
        self.watchdog_s = watchdog_s if socket_path else None
        self._address: str | None = None
        if socket_path and socket_path[0] in "/@":
            # A leading @ names a socket in the abstract namespace, written with a NUL byte on the wire.
            self._address = "\0" + socket_path[1:] if socket_path[0] == "@" else socket_path
        elif socket_path:
            log.warning("NOTIFY_SOCKET %r is not an AF_UNIX path: systemd notifications are off", socket_path)
            self.watchdog_s = None
        self._socket: socket.socket | None = None
        self._warned = False

    def notify(self, *fields: str) -> bool:
        """Send one message of `KEY=value` fields; True when it went out."""
        if self._address is None:
            return False
        message = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8", "replace")
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # A socket nobody reads fills after a few datagrams: a blocking send would then stop the
                # loop (no passes, SIGTERM unheard). A full queue is a failed send, like any other.
                self._socket.setblocking(False)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd through NOTIFY_SOCKET: %s", exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
