"""The Slack channel: a bot token and channel (chat.postMessage), or an incoming webhook, via slack_sdk."""

from __future__ import annotations

import http.client
import json
import logging
import re
import ssl
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from http.client import HTTPMessage
from typing import Any, Protocol, TypeVar, cast
from urllib.request import Request

import httpx
import tenacity
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient, WebhookResponse

from log_monitor.errors import NotifierError, describe_network_error
from log_monitor.httpboundary import deadline_bound
from log_monitor.models import Notification, NotificationKind, Secret
from log_monitor.notifiers.base import NOT_TESTED, transient_status
from log_monitor.notifiers.http import RESENDABLE, ExchangeError, UnbuildableError, urlopen_bounded
from log_monitor.notifiers.render import (
    body_lines,
    fields,
    format_utc,
    group_line,
    group_order,
    group_title,
    humanize_duration,
    one_line,
    severity_emoji,
    slack_escape,
    title,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


# Slack errors that say "not now": its own overload, rate limits, timeouts on its side.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "service_unavailable",
        "fatal_error",
        "internal_error",
        "request_timeout",
        "team_added_to_org",
    }
)

_ERROR_CODE = re.compile(r"^[a-z0-9_.]{1,64}$")
_MAX_SECTION = 2900  # Slack allows 3000 characters in a section's text
_MAX_FIELD = 1900  # and 2000 in a field
_MAX_FALLBACK = 3500
_MAX_BLOCKS = 50  # Slack refuses a message with more blocks than this
_MAX_GROUP_LINE = 600  # one notification's line in a grouped message; several fit in a section
# chat.postMessage answers with the message it posted (up to 50 blocks of 3,000 characters, escaped): room for it.
_MAX_ANSWER_BYTES = 4 * 1024 * 1024


def _is_permanent(code: str, status: int | None) -> bool:
    """The channel's hook: which answers no resend can fix.

    Rate limits, Slack's own trouble (5xx) and its transient codes pass with time. Any other error Slack
    answered plainly (status 200 or 4xx: invalid_auth, channel_not_found, invalid_token...) means the request
    itself is wrong for Slack (token, channel, payload) and sending it again unchanged would fail the same way.
    """
    return not (code in TRANSIENT_ERRORS or (status is not None and transient_status(status)))


def _clean_code(value: object) -> str:
    """An error code as Slack sends it (`channel_not_found`), or a placeholder when the body is anything else."""
    text = str(value or "").strip()
    return text if _ERROR_CODE.match(text) else "unexpected_response"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fallback_text(n: Notification) -> str:
    """The `text` of the message: shown in notifications and by clients that do not render blocks; escaped."""
    return _truncate(slack_escape("\n".join([title(n), *body_lines(n)])), _MAX_FALLBACK)


def blocks(n: Notification) -> list[dict[str, Any]]:
    """Block Kit blocks: the headline, the facts as fields, the detail, and a context line with the host.

    Every user-controlled string (labels, agent names, locations, detail) is escaped, so `<!channel>`
    or `<https://evil|click>` in a label shows as text.
    """
    headline = f"{severity_emoji(n.severity)} *{slack_escape(title(n))}*"
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(headline, _MAX_SECTION)}},
    ]
    facts = [(name, value) for name, value in fields(n) if name != "Monitor host"]
    if facts:
        out.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _truncate(f"*{slack_escape(name)}*\n{slack_escape(value)}", _MAX_FIELD),
                    }
                    for name, value in facts[:10]  # Slack's limit per section
                ],
            }
        )
    if n.detail.strip():
        out.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(slack_escape(n.detail.strip()), 2900)}}
        )
    context = f"log_monitor on {slack_escape(one_line(n.host))} · {format_utc(n.created_at)} · {n.kind.value}"
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return out


def group_blocks(notes: Sequence[Notification]) -> list[dict[str, Any]]:
    """Block Kit blocks for several notifications in one message: a headline, the lines, the host.

    Lines are packed into sections of at most _MAX_SECTION characters; at most _MAX_BLOCKS blocks in all
    (what does not fit is counted in a last line, so the dispatcher's group size keeps every line shown).
    Every line is escaped like a single message.
    """
    ordered = group_order(notes)
    worst = ordered[0].severity if ordered else None
    emoji = severity_emoji(worst) if worst is not None else ""
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{slack_escape(group_title(notes))}*"}}
    ]
    room = _MAX_BLOCKS - 2  # the headline and the context line
    sections: list[str] = []
    current = ""
    shown = 0
    for n in ordered:
        line = f"{severity_emoji(n.severity)} {_truncate(slack_escape(group_line(n)), _MAX_GROUP_LINE)}"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= _MAX_SECTION:
            current = candidate
        else:
            if len(sections) + 2 > room:  # the finished section plus a new one must still fit
                break
            sections.append(current)
            current = line
        shown += 1
    if current:
        sections.append(current)
    if shown < len(ordered):
        sections[-1] = _truncate(sections[-1] + f"\n… and {len(ordered) - shown} more", _MAX_SECTION)
    out.extend({"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections)
    host = slack_escape(one_line(ordered[0].host)) if ordered else ""
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"log_monitor on {host}"}]})
    return out


def group_fallback_text(notes: Sequence[Notification]) -> str:
    lines = [group_title(notes), *(group_line(n) for n in group_order(notes))]
    return _truncate(slack_escape("\n".join(lines)), _MAX_FALLBACK)


# One thread per incident: what opens it, what replies in it, what closes it.
OPENING = frozenset({NotificationKind.ALERT, NotificationKind.BACKEND_DOWN, NotificationKind.PIPELINE_SILENT})
CLOSING = frozenset({NotificationKind.RECOVERY, NotificationKind.BACKEND_RESTORED, NotificationKind.PIPELINE_RESTORED})
THREADED = OPENING | CLOSING | {NotificationKind.ESCALATION, NotificationKind.REMINDER}


class ThreadBook(Protocol):
    """Where the open incidents' threads are kept (the state store), so a re-exec replies in the same thread."""

    def thread(self, receiver: str, target_key: str) -> tuple[str, str, datetime] | None: ...

    def save_thread(self, receiver: str, target_key: str, channel: str, ts: str, opened_at: datetime) -> None: ...

    def drop_thread(self, receiver: str, target_key: str) -> None: ...


def incident_status(n: Notification, opened_at: datetime) -> str:
    """Where the incident stands, for its edited parent message: `RECOVERED after 2h 13m`."""
    if n.kind in CLOSING:
        lasted = n.silent_for_s if n.silent_for_s is not None else (n.created_at - opened_at).total_seconds()
        return f"RECOVERED after {humanize_duration(lasted)}"
    when = format_utc(n.created_at)
    if n.kind is NotificationKind.ESCALATION:
        return f"{n.severity.name} (escalated at {when})"
    return f"still {n.severity.name} at {when}"


def parent_blocks(n: Notification, opened_at: datetime) -> list[dict[str, Any]]:
    """The parent message as edited: where the incident stands, then the latest notification's blocks."""
    status = (
        f"{severity_emoji(n.severity)} *Incident: {incident_status(n, opened_at)}* · opened {format_utc(opened_at)}"
    )
    head = {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(status, _MAX_SECTION)}}
    return [head, *blocks(n)][:_MAX_BLOCKS]


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Retry-After in seconds; None when missing or not a number (then we do not guess: no retry here)."""
    for key, values in (headers or {}).items():
        if key.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                return max(0.0, float(str(value)))
            except ValueError:
                return None
    return None


# One HTTP exchange: a urllib Request in, (status, headers, body) of a 2xx answer out (see urlopen_bounded).
Exchange = Callable[[Request], tuple[int, HTTPMessage, bytes]]


def _text(headers: HTTPMessage, body: bytes) -> str:
    return body.decode(headers.get_content_charset() or "utf-8", errors="replace")


class _BoundedWebClient(WebClient):
    """slack_sdk's WebClient whose HTTP exchange ends by a deadline, headers included, its connection closed then.

    urllib's timeout is per socket read, so Slack dripping its answer never ends it. slack_sdk's sync clients
    have no public transport hook: this overrides the one method that opens the URL,
    `_perform_urllib_http_request_internal(url, req)` (a 2xx answer as {status, headers, body}; urllib's
    HTTPError for any other), as in slack_sdk 3.47.0, pinned in requirements.txt (the method is unchanged
    since 3.9, 2021; tests/faults/test_channel_drip.py checks it is there). Everything around it is slack_sdk's:
    the request it builds, its retry handlers and their Retry-After, the answer's parsing and SlackApiError.
    """

    def __init__(self, exchange: Exchange, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bounded_exchange = exchange

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith("http"):  # as slack_sdk: never file:// or ftp://
            raise SlackRequestError("Invalid URL detected")
        status, headers, body = self._bounded_exchange(req)
        if headers.get_content_type() == "application/gzip":  # as slack_sdk (admin.analytics.getFile)
            return {"status": status, "headers": headers, "body": body}
        return {"status": status, "headers": headers, "body": _text(headers, body)}


class _BoundedWebhookClient(WebhookClient):
    """slack_sdk's WebhookClient, its exchange bounded as _BoundedWebClient's, through the same kind of seam.

    Overrides `_perform_http_request_internal(url, req)` (a 2xx answer as a WebhookResponse; urllib's
    HTTPError for any other), as in slack_sdk 3.47.0 (unchanged since 3.9).
    """

    def __init__(self, exchange: Exchange, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._bounded_exchange = exchange

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if not url.lower().startswith("http"):
            raise SlackRequestError("Invalid URL detected")
        status, headers, body = self._bounded_exchange(req)
        return WebhookResponse(url=url, status_code=status, body=_text(headers, body), headers=dict(headers.items()))


class SlackNotifier:
    """Posts to Slack with a bot token and channel (preferred when both are given) or an incoming webhook.

    slack_sdk's public connection-error handler retries a refused or reset connection, and a rate limit
    with a short Retry-After is waited out and tried again (tenacity), `retries` times within `send`; a
    read timeout is not retried (the message may have been posted already). Anything longer is the outbox's
    job (with backoff, after the next channel had its chance; a long Retry-After travels as
    `NotifierError.retry_after_s`). Each HTTP exchange, headers included, ends by a deadline of twice the
    timeout (its connection closed then, nothing left running), so `send` returns within about
    (retries + 1) x 2 x timeout + retry waits.
    """

    name = "slack"

    def __init__(
        self,
        *,
        token: Secret | None = None,
        channel: str | None = None,
        webhook_url: Secret | None = None,
        api_url: str | None = None,  # None: slack_sdk's own (settings give SLACK_API_URL's)
        timeout: float = 10.0,
        retries: int = 1,
        connect_retry_s: float = 0.5,
        max_retry_after_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not ((token and channel) or webhook_url):
            raise ValueError("Slack needs a bot token and a channel, or a webhook URL")
        self._channel = channel
        self._secrets = [s.reveal() for s in (token, webhook_url) if s]
        # slack_sdk hints its timeout as int, yet a short timeout stays short (tests use a fraction of a
        # second), and it never becomes zero (no timeout). The exchange times out each read by httpx's copy.
        seconds = cast(int, timeout if timeout > 0 else 10.0)
        # What slack_sdk's handler retried of urllib's errors (URLError, a reset or closed connection) it
        # retries of ours: the same failures, told in our words.
        resendable: list[type[Exception]] = list(RESENDABLE)
        handlers: list[RetryHandler] = [
            ConnectionErrorRetryHandler(
                max_retry_count=retries,
                interval_calculator=FixedValueRetryIntervalCalculator(connect_retry_s),
                error_types=resendable,
            )
        ]
        self._retries = max(0, retries)
        # The timeout is per socket read; the deadline bounds each whole exchange, as every channel's does.
        self._deadline_s = 2 * float(seconds)
        # urllib trusts the system's CAs (and SSL_CERT_FILE); so does this client, where httpx's default is certifi's.
        self._http = deadline_bound(httpx.Client(timeout=float(seconds), verify=ssl.create_default_context()))
        exchange: Exchange = partial(
            urlopen_bounded, self._http, what="Slack unreachable", deadline_s=self._deadline_s, limit=_MAX_ANSWER_BYTES
        )
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._client: WebClient | None = None
        self._webhook: WebhookClient | None = None
        # With a bot token, one thread per incident (app.build hands the state store in, SLACK_THREADS=true).
        # A webhook cannot thread: it answers `ok`, never the message's ts, and cannot edit.
        self.threads: ThreadBook | None = None
        if token and channel:
            base = api_url or WebClient.BASE_URL
            base = base if base.endswith("/") else base + "/"
            self._client = _BoundedWebClient(
                exchange, token=token.reveal(), base_url=base, timeout=seconds, retry_handlers=handlers
            )
        elif webhook_url:
            self._webhook = _BoundedWebhookClient(
                exchange, webhook_url.reveal(), timeout=seconds, retry_handlers=handlers
            )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        mode = f"channel={self._channel!r}" if self._client else "webhook=***"
        return f"SlackNotifier({mode})"

    def send(self, notification: Notification) -> None:
        if self.threads is not None and self._client is not None and notification.kind in THREADED:
            self._send_threaded(notification, self.threads)
            return
        self._post(fallback_text(notification), blocks(notification))

    def _send_threaded(self, n: Notification, book: ThreadBook) -> None:
        """The first alert is the thread's parent; the escalation, reminders and recovery reply in it.

        A reply is the delivery; the parent's edit after it is best effort (a person may have deleted it).
        A reply refused for good (the parent deleted) is posted as a new parent instead.
        Reminders stay in the thread; the state changes are also shown in the channel (reply_broadcast).
        """
        open_thread = book.thread(self.name, n.target_key)
        if n.kind in OPENING or open_thread is None:
            channel, ts = self._post_message(n, None, broadcast=False)
            if n.kind not in CLOSING:
                book.save_thread(self.name, n.target_key, channel, ts, n.created_at)
            return
        channel, parent, opened_at = open_thread
        try:
            self._post_message(n, parent, broadcast=n.kind is not NotificationKind.REMINDER)
        except NotifierError as exc:
            if not exc.permanent:
                raise
            # The parent is gone (deleted by a person: thread_not_found): the message opens a new thread.
            log.warning("slack: could not reply in the incident's thread (%s); posting a new first message", exc)
            book.drop_thread(self.name, n.target_key)
            self._send_threaded(n, book)
            return
        if n.kind in CLOSING:
            book.drop_thread(self.name, n.target_key)
        try:
            self._edit(channel, parent, fallback_text(n), parent_blocks(n, opened_at))
        except NotifierError as exc:
            log.warning("slack: the incident's first message could not be edited: %s", exc)

    def _post_message(self, n: Notification, thread_ts: str | None, *, broadcast: bool) -> tuple[str, str]:
        """chat.postMessage, in a thread when `thread_ts` is given; (channel id, ts) of the message."""
        client, channel = self._client, self._channel or ""
        assert client is not None
        extra: dict[str, Any] = {"thread_ts": thread_ts, "reply_broadcast": broadcast} if thread_ts else {}
        answer = self._waiting_out_rate_limits(
            lambda: self._mapped(
                lambda: client.chat_postMessage(channel=channel, text=fallback_text(n), blocks=blocks(n), **extra)
            )
        )
        return str(answer.get("channel") or channel), str(answer.get("ts") or "")

    def _edit(self, channel_id: str, ts: str, text: str, message_blocks: list[dict[str, Any]]) -> None:
        client = self._client
        assert client is not None
        self._waiting_out_rate_limits(
            lambda: self._mapped(
                lambda: client.chat_update(channel=channel_id, ts=ts, text=text, blocks=message_blocks)
            )
        )

    def send_group(self, notifications: Sequence[Notification]) -> None:
        """One message listing several notifications (the dispatcher keeps each group within Slack's limits)."""
        self._post(group_fallback_text(notifications), group_blocks(notifications))

    def _post(self, text: str, message_blocks: list[dict[str, Any]]) -> None:
        self._waiting_out_rate_limits(lambda: self._post_once(text, message_blocks))

    def _post_once(self, text: str, message_blocks: list[dict[str, Any]]) -> None:
        if self._client is not None:
            client, channel = self._client, self._channel
            self._mapped(lambda: client.chat_postMessage(channel=channel or "", text=text, blocks=message_blocks))
            return
        assert self._webhook is not None
        webhook = self._webhook
        response = self._mapped(lambda: webhook.send(text=text, blocks=message_blocks))
        if response.status_code == 200 and str(response.body).strip() == "ok":
            return
        code = _clean_code(response.body)
        status = response.status_code
        raise NotifierError(
            f"Slack webhook refused the message: {code} (HTTP {status})",
            permanent=_is_permanent(code, status),
            retry_after_s=_retry_after(response.headers) if status == 429 else None,
        )

    def check(self) -> str:
        """Log in with the token (auth.test); a webhook cannot be checked without posting to it."""
        if self._client is None:
            return f"{NOT_TESTED}: a webhook cannot be checked without posting to it (`test-alert` posts a message)"
        client = self._client
        answer = self._waiting_out_rate_limits(lambda: self._mapped(client.auth_test))
        return f"authenticated as {answer.get('team', '?')}/{answer.get('user', '?')}"

    def _waiting_out_rate_limits(self, attempt: Callable[[], T]) -> T:
        """`attempt`, tried again after a rate limit whose Retry-After is short; a long one is the dispatcher's."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self._short_rate_limit),
            stop=tenacity.stop_after_attempt(self._retries + 1),
            wait=_retry_after_wait,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _short_rate_limit(self, exc: BaseException) -> bool:
        # Without a Retry-After we do not guess: the error goes up and the dispatcher's backoff decides.
        wait = exc.retry_after_s if isinstance(exc, NotifierError) else None
        return wait is not None and wait <= self._max_retry_after_s

    def _mapped(self, request: Callable[[], T]) -> T:
        """The one place where slack_sdk's and the exchange's errors become NotifierError, free of secrets."""
        try:
            return request()
        except SlackApiError as exc:
            response = exc.response
            status = getattr(response, "status_code", None)
            code = _clean_code(response.get("error") if response is not None else None)
            # A longer Retry-After than slack_sdk waited for: the dispatcher defers the message that long.
            wait = _retry_after(getattr(response, "headers", None)) if status == 429 else None
            raise NotifierError(
                self._scrub(f"Slack API error: {code} (HTTP {status})"),
                permanent=_is_permanent(code, status),
                retry_after_s=wait,
            ) from exc
        except SlackRequestError as exc:
            # The library refused to build the request (bad URL or proxy): configuration, not luck.
            raise NotifierError("Slack request could not be built (check SLACK_API_URL)", permanent=True) from exc
        except SlackClientError as exc:
            raise NotifierError(f"Slack client error: {type(exc).__name__}", permanent=True) from exc
        except UnbuildableError as exc:
            # A header or URL character HTTP refuses (a token or webhook URL pasted with a newline): never shown.
            raise NotifierError(
                "Slack request could not be built: the token or URL holds a character HTTP does not allow, "
                "or the URL is not http(s)",
                permanent=True,
            ) from exc
        except ExchangeError as exc:
            # Refused, reset, timed out or past the deadline: in our words already; the network may come back.
            raise NotifierError(self._scrub(str(exc)), permanent=False) from exc
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # A network error slack_sdk lets out itself (the exchange's are ExchangeError): it may come back.
            message = f"Slack unreachable: {describe_network_error(exc)}"
            raise NotifierError(self._scrub(message), permanent=False) from exc
        except json.JSONDecodeError as exc:
            raise NotifierError("Slack answered with something that is not JSON", permanent=False) from exc
        except ValueError as exc:
            # A value refused on the way out may quote the whole token or webhook URL: never show it.
            raise NotifierError(
                "Slack request could not be built: the token or URL holds a character HTTP does not allow",
                permanent=True,
            ) from exc

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _retry_after_wait(state: tenacity.RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    return (error.retry_after_s if isinstance(error, NotifierError) else None) or 1.0
