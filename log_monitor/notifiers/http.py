"""HTTPChannel: the base of channels that post JSON to an HTTP endpoint, on one reused httpx.Client."""

from __future__ import annotations

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
