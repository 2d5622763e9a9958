"""The email channel: one plain-text message per notification over SMTP (STARTTLS, implicit TLS or plain)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import TypeVar

from log_monitor.errors import NotifierError, describe_network_error
from log_monitor.models import Notification, Secret
from log_monitor.notifiers.render import group_order, group_plain_text, group_title, one_line, plain_text, title

log = logging.getLogger(__name__)

T = TypeVar("T")

SECURITY_MODES = ("starttls", "ssl", "none")
# A message's whole session (greeting, EHLO, STARTTLS, login, MAIL, RCPT, DATA) ends within this many
# timeouts: the timeout is per socket read, so a server dripping its greeting a byte at a time (a tarpit)
# would otherwise hold this channel, and every channel after it, for as long as it likes.
DEADLINE_TIMEOUTS = 3


class _Watchdog:
    """Shuts the session's socket down when the deadline passes; the blocked read then fails at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.smtp: smtplib.SMTP | None = None
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        self.expired = True
        sock = getattr(self.smtp, "sock", None)
        if sock is not None:
            # socket.socket's own shutdown: an SSLSocket's would drop its TLS state under the reading thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class SmtpNotifier:
    """Sends each notification as an email; `security` is "starttls" (port 587), "ssl" (465) or "none"."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: str = "starttls",
        user: str | None = None,
        password: Secret | None = None,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        if not recipients:
            raise ValueError("SMTP needs at least one recipient")
        self._host = host
        self._port = port
        self._security = security
        self._user = user
        self._password = password
        self._sender = sender
        self._recipients = list(recipients)
        self._timeout = timeout
        self._deadline_s = DEADLINE_TIMEOUTS * timeout
        self._context = ssl_context

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self._host!r}, port={self._port}, security={self._security!r}, user={self._user!r})"

    def message(self, n: Notification) -> EmailMessage:
        """The email for a notification; its Message-ID comes from the notification id, so resends are recognisable."""
        msg = EmailMessage()
        msg["Subject"] = one_line(title(n))
        msg["From"] = self._sender
        msg["To"] = ", ".join(self._recipients)
        msg["Date"] = format_datetime(n.created_at)
        msg["Message-ID"] = _message_id(n.id, n.host)
        msg["X-Log-Monitor-Kind"] = n.kind.value
        msg["X-Log-Monitor-Severity"] = n.severity.name
        msg.set_content(plain_text(n) + "\n")
        return msg

    def group_message(self, notes: Sequence[Notification]) -> EmailMessage:
        """One email for several notifications: the list first, then each one's full text.

        Its Message-ID is derived from the members' ids, so the same group sent twice is recognisable.
        """
        ordered = group_order(notes)
        msg = EmailMessage()
        msg["Subject"] = one_line(group_title(notes))
        msg["From"] = self._sender
        msg["To"] = ", ".join(self._recipients)
        msg["Date"] = format_datetime(max(n.created_at for n in notes))
        digest = hashlib.sha256("\n".join(sorted(n.id for n in notes)).encode()).hexdigest()[:32]
        msg["Message-ID"] = _message_id(f"group-{digest}", ordered[0].host)
        msg["X-Log-Monitor-Kind"] = "group"
        msg["X-Log-Monitor-Severity"] = ordered[0].severity.name
        details = "\n\n".join(plain_text(n) for n in ordered)
        msg.set_content(f"{group_plain_text(notes)}\n\n--- details ---\n\n{details}\n")
        return msg

    def send(self, notification: Notification) -> None:
        self._deliver(self.message(notification))

    def send_group(self, notifications: Sequence[Notification]) -> None:
        self._deliver(self.group_message(notifications))

    def _deliver(self, msg: EmailMessage) -> None:

        # The envelope takes bare addresses: a display name (`Mönitor <m@example.org>`) belongs in the header only,
        # and a non-ASCII one there would make smtplib ask the server for SMTPUTF8.
        sender = parseaddr(self._sender)[1] or self._sender
        recipients = [address for _, address in getaddresses(self._recipients) if address] or self._recipients

        def deliver(smtp: smtplib.SMTP) -> None:
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
            if refused:
                # Some recipients took it: the notification is delivered; the others are a configuration problem.
                log.warning("email: %d recipient(s) refused: %s", len(refused), ", ".join(sorted(refused)))

        self._session(deliver)

    def check(self) -> str:
        """Connect, greet (EHLO), secure and log in as configured, then quit without sending anything."""
        self._session(lambda smtp: smtp.noop())
        login = f", logged in as {self._user}" if self._user else ""
        return f"connected to {self._host}:{self._port} ({self._security}){login}"

    def _connect(self, watchdog: _Watchdog) -> smtplib.SMTP:
        context = self._context or ssl.create_default_context()
        # Made unconnected, so the watchdog holds it before the greeting is read.
        if self._security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(timeout=self._timeout)
        # What SMTP(host) would have set: the name STARTTLS and implicit TLS check the certificate against.
        smtp._host = self._host  # type: ignore[attr-defined]
        watchdog.smtp = smtp
        try:
            smtp.connect(self._host, self._port)
            if self._security == "ssl":
                return smtp
            smtp.ehlo()
            if self._security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _session(self, work: Callable[[smtplib.SMTP], T]) -> T:
        """`work` in one session, ended by the deadline; a session cut by it is a transient error saying so."""
        watchdog = _Watchdog(self._deadline_s)
        try:
            with watchdog:
                return self._mapped(work, watchdog)
        except NotifierError as exc:
            if not watchdog.expired:
                raise
            raise NotifierError(
                f"SMTP server {self._host}:{self._port} too slow: the message was not through within its "
                f"{self._deadline_s:g} s deadline",
                permanent=False,
            ) from exc

    def _mapped(self, work: Callable[[smtplib.SMTP], T], watchdog: _Watchdog) -> T:
        """The one place where smtplib, socket and ssl errors become NotifierError."""
        try:
            smtp = self._connect(watchdog)
            try:
                if self._user and self._password:
                    smtp.login(self._user, self._password.reveal())
                result = work(smtp)
                # The message is already accepted; a rude goodbye changes nothing.
                with contextlib.suppress(smtplib.SMTPException):
                    smtp.quit()
                return result
            finally:
                smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong user or password: they will not become right by themselves.
            raise NotifierError(self._scrub(f"SMTP login refused ({exc.smtp_code})"), permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient was refused. 4xx refusals (mailbox busy, greylisting) may pass later; 5xx will not.
            codes = sorted({code for code, _ in exc.recipients.values()})
            permanent = any(code >= 500 for code in codes)
            raise NotifierError(
                f"SMTP server refused every recipient ({', '.join(str(c) for c in codes)})", permanent=permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx is the server's final word (unknown user, relaying denied, policy); 4xx means try again later.
            text = _server_text(exc.smtp_error)
            raise NotifierError(
                self._scrub(f"SMTP server answered {exc.smtp_code}: {text}"), permanent=exc.smtp_code >= 500
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. STARTTLS or AUTH not offered: the configured security does not match the server.
            raise NotifierError(f"SMTP server does not support this: {exc}", permanent=True) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise NotifierError("SMTP server closed the connection", permanent=False) from exc
        except smtplib.SMTPException as exc:
            raise NotifierError(f"SMTP error: {type(exc).__name__}", permanent=False) from exc
        except (TimeoutError, ssl.SSLError, OSError) as exc:
            # Connection refused or reset, DNS failure, TLS handshake, timeout: the network or server may come back.
            raise NotifierError(
                f"SMTP server {self._host}:{self._port} unreachable: {describe_network_error(exc)}", permanent=False
            ) from exc

    def _scrub(self, text: str) -> str:
        secret = self._password.reveal() if self._password else ""
        # A short password would mask ordinary words of the server's answer; our texts never hold it anyway.
        return text.replace(secret, "***") if len(secret) >= 8 else text


# RFC 5322 dot-atom text: what the left side of a Message-ID may hold without quoting.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _message_id(key: str, host: str) -> str:
    """`<key@domain>` that a strict parser accepts, the same for the same key and host (resends are recognisable).

    A key that is not dot-atom text (`channel-down:slack:2026-...+00:00`) keeps its letters and digits, with a
    digest of the whole key so two keys never meet.
    """
    left = key
    if not _DOT_ATOM.fullmatch(key) or len(key) > 64:
        readable = re.sub(r"[^A-Za-z0-9-]+", ".", key).strip(".")[:40].strip(".")
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        left = f"{readable}.{digest}" if readable else digest
    return f"<{left}@{_domain(host)}>"


def _domain(host: str) -> str:
    """The host name as a Message-ID domain: ASCII labels of letters, digits and dashes, IDNA for the others."""
    labels = []
    for raw in host.lower().split("."):
        label = "".join(c for c in raw if c.isalnum() or c == "-").strip("-")
        if not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:  # not a name IDNA can write (too long, odd characters): its ASCII part
                label = "".join(c for c in label if c.isascii())
        if label:
            labels.append(label[:63].strip("-"))
    return ".".join(label for label in labels if label) or "log-monitor.invalid"


def _server_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = one_line(text)
    return text[:200]
