"""The syslog channel: RFC 5424 messages to a collector over UDP (a datagram each) or TCP (RFC 6587 framing)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC

from log_monitor.errors import NotifierError
from log_monitor.models import Notification, NotificationKind, Severity
from log_monitor.notifiers import render

FACILITY = 16  # local0: a site's own application, as collectors expect for tools like this one
# RFC 5424 severities: 2 critical, 3 error, 4 warning, 5 notice.
_SEVERITY = {Severity.CRITICAL: 2, Severity.UNKNOWN: 3, Severity.WARNING: 4, Severity.OK: 5, Severity.MAINTENANCE: 5}
APP_NAME = "log_monitor"
SD_ID = "log_monitor@32473"  # 32473: the enterprise number RFC 5612 reserves for examples and documentation
MAX_UDP_BYTES = 2048  # RFC 5426: every receiver takes 2048 octets; a longer datagram may be cut or dropped
BOM = "\ufeff"  # RFC 5424 6.4: a UTF-8 MSG starts with the BOM


def _sd_value(text: str) -> str:
    """RFC 5424 6.3.3: `"`, `\\` and `]` escaped inside a PARAM-VALUE."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, `-` when empty."""
    cleaned = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def message(n: Notification, *, pid: int | None = None) -> bytes:
    """One RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] BOM MSG`."""
    level = Severity.OK if n.kind in (NotificationKind.RECOVERY, NotificationKind.BACKEND_RESTORED) else n.severity
    pri = FACILITY * 8 + _SEVERITY.get(level, 5)
    stamp = n.created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    params = {
        "kind": n.kind.value,
        "severity": n.severity.name,
        "condition": n.condition.value,
        "target": n.target_key,
        "id": n.id,
    }
    if n.agent_id:
        params["agent_id"] = n.agent_id
    data = " ".join(f'{name}="{_sd_value(value)}"' for name, value in params.items())
    header = " ".join(
        [
            f"<{pri}>1",
            stamp,
            _header_token(n.host, 255),
            APP_NAME,
            _header_token(str(pid if pid is not None else os.getpid()), 128),
            _header_token(n.kind.name, 32),
        ]
    )
    text = render.one_line(render.title(n)) + (f" - {render.one_line(n.detail)}" if n.detail.strip() else "")
    return f"{header} [{SD_ID} {data}] {BOM}{text}".encode()


class SyslogNotifier:
    """Sends to `scheme://host:port`; a refused or unreachable collector is transient (it may come back)."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        timeout: float = 5.0,
        connect: Callable[[tuple[str, int], float], socket.socket] = socket.create_connection,
    ) -> None:
        if scheme not in ("udp", "tcp"):
            raise ValueError("syslog goes over udp or tcp")
        self.name = f"syslog:{scheme}://{host}:{port}"
        self._scheme, self._host, self._port, self._timeout = scheme, host, port, timeout
        self._connect = connect

    def __repr__(self) -> str:
        return f"SyslogNotifier({self.name!r})"

    def send(self, notification: Notification) -> None:
        data = message(notification)
        try:
            if self._scheme == "udp":
                self._send_udp(data[:MAX_UDP_BYTES])
            else:
                # RFC 6587 3.4.1 octet counting: a message may hold any byte, the length says where it ends.
                with self._connect((self._host, self._port), self._timeout) as conn:
                    conn.sendall(str(len(data)).encode() + b" " + data)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise NotifierError(f"syslog collector {self.name} unreachable: {reason}", permanent=False) from exc

    def _send_udp(self, data: bytes) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self._timeout)
            sock.sendto(data, (self._host, self._port))
