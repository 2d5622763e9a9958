"""The channels' HTTP: HTTPChannel (JSON posts on a reused httpx.Client) and urlopen's contract over its deadline."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from http.client import HTTPMessage
from typing import Any

import httpx

from log_monitor.errors import NotifierError
from log_monitor.httpboundary import DEADLINE_PASSED, deadline_bound, fetch
from log_monitor.notifiers.base import transient_status

# A webhook answers with a few bytes; anything near this is not a webhook, and is not held in memory.
MAX_ANSWER_BYTES = 1024 * 1024


class HTTPChannel:
    """Posts through `_post`; httpx errors and error answers become NotifierError, never showing the URL.

    Subclasses set `name` and `title` (how messages name the endpoint) and may override `permanent`, the
    hook that says which error answers no resend can fix.
    """

    name = "http"
    title = "HTTP endpoint"

    def __init__(self, *, timeout: float, transport: httpx.BaseTransport | None) -> None:
        self._timeout = timeout
        # transport: a seam for tests. Deadline-bound: a webhook dripping its headers never holds delivery.
        self._client = deadline_bound(httpx.Client(timeout=timeout, transport=transport))

    def close(self) -> None:
        self._client.close()

    def permanent(self, response: httpx.Response) -> bool:
        """Whether this error answer means sending the same message again cannot help."""
        return not transient_status(response.status_code)

    def _post(self, url: str, payload: dict[str, Any]) -> None:
        response = self._request("POST", url, json=payload)
        status = response.status_code
        if not 200 <= status < 300:
            raise NotifierError(f"{self.title} answered HTTP {status}", permanent=self.permanent(response))

    def _request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        answer = fetch(
            self._client,
            method,
            url,
            what=self.title,
            fail=self._fail,
            limit=MAX_ANSWER_BYTES,
            deadline_s=2 * self._timeout,
            **kwargs,
        )
        return answer.response

    def _fail(self, message: str, *, answered: bool, retryable: bool) -> NotifierError:
        # A deadline is not retried at once (it would cost the deadline again), yet the endpoint may be quick
        # later: transient, so the dispatcher skips the channel for this drain and the next one gets it.
        return NotifierError(message, permanent=not retryable and DEADLINE_PASSED not in message)


def retry_after(response: httpx.Response) -> float | None:
    """A 429's Retry-After in seconds, when it is a number."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


# -- urlopen's contract for a library built on urllib (slack_sdk), over the deadline-bound httpx client --------


class ExchangeError(Exception):
    """An exchange through `urlopen_bounded` that failed; its text is ours (no library text, URL or header)."""


class NotSentError(ExchangeError):
    """The request did not go out (connect, TLS, proxy or write failed), where urlopen raises URLError."""


class DroppedError(ExchangeError):
    """The connection was reset or closed before a whole answer (urllib's ConnectionResetError, RemoteDisconnected)."""


class UnansweredError(ExchangeError):
    """No whole answer in time (a read timeout, or the request deadline): the request may have landed."""


class UnusableError(ExchangeError):
    """An answer that cannot be used: above the size cap, undecodable, a protocol error."""


class UnbuildableError(ExchangeError):
    """The request cannot be sent as given: a header or URL character HTTP does not allow, a scheme not http(s)."""


# What a library's connection-error retry may send again: what it retries of urllib's errors.
RESENDABLE: tuple[type[ExchangeError], ...] = (NotSentError, DroppedError)


class _FailedError(Exception):
    """`fetch`'s failure, told apart by its cause (the httpx error) before it leaves `urlopen_bounded`."""

    def __init__(self, message: str, *, answered: bool, retryable: bool) -> None:
        super().__init__(message)


def urlopen_bounded(
    client: httpx.Client, request: urllib.request.Request, *, what: str, deadline_s: float, limit: int
) -> tuple[int, HTTPMessage, bytes]:
    """`request` sent as urlopen would send it, through `client` (`deadline_bound`), ended by `deadline_s`.

    urllib's timeout is per socket read, so an answer dripped a byte at a time never ends it; here the whole
    exchange, headers included, ends by the deadline and its connection is closed then. A 2xx answer is
    (status, headers, body); any other raises urllib's HTTPError holding the answer, as urlopen does, except
    that a redirect is not followed (the request's Authorization header never goes to another host). A failure
    is an ExchangeError in our words, its kind saying what urllib would have raised.
    """
    data = request.data if isinstance(request.data, bytes) else None
    # As urllib sends them: Request keeps `Content-type`, urllib sends `Content-Type`.
    headers = [(key.title(), str(value)) for key, value in request.header_items()]
    failure: _FailedError | None = None
    try:
        answer = fetch(
            client,
            request.get_method(),
            request.full_url,
            what=what,
            fail=_FailedError,
            limit=limit,
            deadline_s=deadline_s,
            content=data,
            headers=headers,
        )
    except _FailedError as failed:
        failure = failed
    if failure is not None:
        # Raised out here, with no cause or context: the httpx error's text may quote the URL or a header.
        raise _kind_of(failure)(str(failure))
    response = answer.response
    message = HTTPMessage()
    for key, value in response.headers.multi_items():
        message[key] = value
    if 200 <= response.status_code < 300:
        return response.status_code, message, response.content
    # No URL in the error: a webhook's is a secret (urlopen's HTTPError holds it, though it never says it).
    raise urllib.error.HTTPError(
        "", response.status_code, response.reason_phrase, message, io.BytesIO(response.content)
    )


def _kind_of(failed: _FailedError) -> type[ExchangeError]:
    cause = failed.__cause__
    if DEADLINE_PASSED in str(failed) or isinstance(cause, httpx.ReadTimeout | httpx.PoolTimeout):
        return UnansweredError
    unsent = httpx.ConnectError | httpx.ConnectTimeout | httpx.WriteError | httpx.WriteTimeout | httpx.ProxyError
    if isinstance(cause, unsent):
        return NotSentError
    if isinstance(cause, httpx.ReadError | httpx.RemoteProtocolError):
        return DroppedError
    if isinstance(cause, httpx.LocalProtocolError | httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UnbuildableError
    return UnusableError
