"""The email channel, with the stdlib client against a real aiosmtpd server on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from email.headerregistry import Address, AddressHeader
from email.message import Message
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from log_monitor.errors import NotifierError
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers.render import title
from log_monitor.notifiers.smtp import SmtpNotifier
from tests.helpers import free_port, notification
from tests.mail import Mailbox


def alert(label: str = "db-primary") -> Notification:
    return notification(
        id="a1b2c3", severity=Severity.WARNING, label=label, condition=Condition.SILENT, silent_for_s=840.0
    )


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def plain(port: int, **kwargs: Any) -> SmtpNotifier:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "monitor@example.org",
        "recipients": ["soc@example.org", "oncall@example.org"],
        "timeout": 5.0,
    }
    options.update(kwargs)
    return SmtpNotifier(**options)


def test_the_alert_arrives_with_the_title_as_subject_and_the_facts_in_the_body(
    mailbox: Mailbox, smtp_port: int
) -> None:
    plain(smtp_port).send(alert())
    [msg] = mailbox.received
    assert msg["Subject"] == "WARNING: agent 002 db-primary is SILENT for 14m"
    assert msg["From"] == "monitor@example.org"
    assert msg["Message-ID"] == "<a1b2c3@soc-monitor>"
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "Last event: 2026-11-22 09:59:30 UTC" in text
    assert "Monitor host: soc-monitor" in text
    assert mailbox.envelopes == [("monitor@example.org", ["soc@example.org", "oncall@example.org"])]


def test_a_label_with_a_newline_cannot_inject_a_header(mailbox: Mailbox, smtp_port: int) -> None:
    plain(smtp_port).send(alert(label="x\r\nBcc: victim@example.org"))
    [msg] = mailbox.received
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"])


def test_recipients_refused_with_550_are_permanent(mailbox: Mailbox, smtp_port: int) -> None:
    mailbox.rcpt_reply = "550 no such user"
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port).send(alert())
    assert caught.value.permanent
    assert "550" in str(caught.value)


def test_recipients_refused_with_450_are_transient(mailbox: Mailbox, smtp_port: int) -> None:
    mailbox.rcpt_reply = "450 mailbox busy"
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port).send(alert())
    assert not caught.value.permanent


def test_a_451_answer_to_the_message_is_transient(mailbox: Mailbox, smtp_port: int) -> None:
    mailbox.data_reply = "451 local error, try again later"
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port).send(alert())
    assert not caught.value.permanent
    assert "451" in str(caught.value)


def test_a_554_answer_to_the_message_is_permanent(mailbox: Mailbox, smtp_port: int) -> None:
    mailbox.data_reply = "554 rejected by policy"
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port).send(alert())
    assert caught.value.permanent


def test_a_closed_port_is_transient() -> None:
    with pytest.raises(NotifierError) as caught:
        plain(free_port()).send(alert())
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)


def test_starttls_against_a_server_without_it_is_permanent(smtp_port: int) -> None:
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port, security="starttls").send(alert())
    assert caught.value.permanent


def test_login_against_a_server_without_auth_fails_without_showing_the_password(smtp_port: int) -> None:
    with pytest.raises(NotifierError) as caught:
        plain(smtp_port, user="monitor", password=Secret("hunter2-secret")).send(alert())
    assert "hunter2-secret" not in str(caught.value)
    assert caught.value.permanent


def test_the_repr_shows_no_password() -> None:
    notifier = plain(25, user="monitor", password=Secret("hunter2-secret"))
    assert "hunter2-secret" not in repr(notifier)


def test_check_connects_and_quits_without_sending(mailbox: Mailbox, smtp_port: int) -> None:
    assert plain(smtp_port).check() == f"connected to 127.0.0.1:{smtp_port} (none)"
    assert mailbox.received == []


def test_an_unknown_security_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="starttls"):
        plain(25, security="tls")


def test_starttls_with_a_trusted_certificate_delivers(mailbox: Mailbox) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=server_context, require_starttls=True)
    controller.start()
    try:
        plain(port, security="starttls", ssl_context=client_context).send(alert())
        with pytest.raises(NotifierError) as caught:
            plain(port, security="starttls").send(alert())  # system CAs do not trust the test CA
    finally:
        controller.stop()
    assert len(mailbox.received) == 1
    assert not caught.value.permanent
    assert "TLS" in str(caught.value)


@pytest.fixture
def auth_port(mailbox: Mailbox) -> Iterator[int]:
    """A server that refuses mail until the client logs in (AUTH PLAIN/LOGIN)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"monitor", b"s3cret-pass")
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # loopback only; production uses starttls or ssl
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_a_server_that_requires_auth_takes_the_alert_after_login(mailbox: Mailbox, auth_port: int) -> None:
    plain(auth_port, user="monitor", password=Secret("s3cret-pass")).send(alert())
    assert len(mailbox.received) == 1


def test_a_server_that_requires_auth_refuses_a_wrong_password_without_showing_it(
    mailbox: Mailbox, auth_port: int
) -> None:
    # aiosmtpd hangs up after the failed mechanisms (a disconnect, so transient); a 535 answer is permanent.
    with pytest.raises(NotifierError) as caught:
        # One second is plenty on loopback, and the hang-up is otherwise waited out for the full timeout.
        plain(auth_port, user="monitor", password=Secret("wrong-pass-123"), timeout=1.0).send(alert())
    assert "wrong-pass-123" not in str(caught.value)
    assert mailbox.received == []


def test_a_server_that_requires_auth_refuses_mail_without_login(mailbox: Mailbox, auth_port: int) -> None:
    with pytest.raises(NotifierError):
        plain(auth_port).send(alert())
    assert mailbox.received == []


HOSTILE = "wéb-ü [Click](https://evil.example) <!channel> *bold* `x` \x1b[31m\x00 \u202e"
# Ids as the dispatcher and the app make them for CHANNEL_DOWN and STATE_RESET: colons, a plus, a space.
KIND_IDS = {
    NotificationKind.CHANNEL_DOWN: "channel-down:slack:2026-11-22T10:15:00+00:00",
    NotificationKind.STATE_RESET: "state-reset:log monitor.sqlite3.corrupt-20261122",
    NotificationKind.TEST: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


def every_kind(host: str) -> list[Notification]:
    return [
        replace(
            alert(label=HOSTILE),
            id=KIND_IDS.get(kind, f"id-{kind.value}"),
            kind=kind,
            host=host,
            agent_name="ägent\r\nBcc: victim@example.org",
            location="C:\\Logs\\wéb.log",
            related=("agent:001", HOSTILE),
            detail=HOSTILE,
        )
        for kind in NotificationKind
    ]


def strictly_parsed(raw: bytes) -> Message:
    """The message as a strict parser reads it: any defect in a header raises or is listed, and none may be."""
    msg = message_from_bytes(raw, policy=policy.strict)
    for name, value in msg.items():
        assert not value.defects, f"{name}: {value.defects}"
    assert not msg.defects
    return msg


@pytest.mark.parametrize("host", ["soc-monitor", "mönitor", "mönitor.exämple.org", "bad host_名\n", "", ".."])
def test_every_kind_of_email_and_a_group_parse_strictly_even_with_hostile_and_non_ascii_names(
    mailbox: Mailbox, smtp_port: int, host: str
) -> None:
    notes = every_kind(host)
    notifier = plain(smtp_port, sender="Mönitor <monitor@example.org>")
    for one in notes:
        notifier.send(one)
    notifier.send_group(notes)
    assert len(mailbox.raw) == len(notes) + 1
    message_ids = set()
    subjects: list[Notification | None] = [*notes, None]  # the group's subject is its headline
    for raw, note in zip(mailbox.raw, subjects, strict=True):
        headers = raw.split(b"\r\n\r\n", 1)[0]
        assert headers.isascii()  # no SMTPUTF8 needed: names are RFC 2047 encoded, the domain IDNA
        msg = strictly_parsed(raw)
        assert msg["Bcc"] is None
        sender = msg["From"]
        assert isinstance(sender, AddressHeader) and sender.addresses == (Address("Mönitor", "monitor", "example.org"),)
        [message_id] = msg["Message-ID"].split()
        left, at, right = message_id.strip("<>").partition("@")
        assert left and at and right.isascii() and right.strip(".") == right
        message_ids.add(message_id)
        if note is not None:
            assert str(msg["Subject"]) == " ".join(title(note).split())
    assert len(message_ids) == len(notes) + 1


def test_a_non_ascii_monitor_host_gives_an_idna_message_id_domain(mailbox: Mailbox, smtp_port: int) -> None:
    plain(smtp_port).send(replace(alert(), host="mönitor.exämple.org"))
    assert strictly_parsed(mailbox.raw[0])["Message-ID"] == "<a1b2c3@xn--mnitor-wxa.xn--exmple-cua.org>"


def test_resending_a_notification_gives_the_same_message_id(mailbox: Mailbox, smtp_port: int) -> None:
    down = every_kind("soc-monitor")[list(NotificationKind).index(NotificationKind.CHANNEL_DOWN)]
    plain(smtp_port).send(down)
    plain(smtp_port).send(down)
    first, second = (strictly_parsed(raw)["Message-ID"] for raw in mailbox.raw)
    assert first == second
