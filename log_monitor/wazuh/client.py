"""BackendClient: what the Wazuh API and indexer clients share (one httpx.Client, capped timed requests, retries)."""

from __future__ import annotations

import collections
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from log_monitor.closing import Closing
from log_monitor.errors import BackendError, ResponseError, UnreachableError
from log_monitor.httpboundary import MAX_RESPONSE_BYTES, deadline_bound, fetch, json_object
from log_monitor.models import Secret
from log_monitor.wazuh.retry import with_retries

T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """Where a backend is and how its client talks to it: what both clients take, built once by app.build."""

    url: str
    user: str
    password: Secret
    verify: bool | ssl.SSLContext = True
    timeout: float | None = None  # per read; None keeps the backend's own
    retries: int | None = None  # attempts per request; None keeps the backend's own
    deadline_s: float | None = None  # a whole request, headers and body; None is twice the timeout
    max_response_bytes: int = MAX_RESPONSE_BYTES
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep


class BackendClient(Closing):
    """One Wazuh backend on one shared httpx.Client; subclasses add the backend's calls and status rules.

    Every request goes through `_exchange`: streamed within the size cap and the overall deadline, timed
    and counted for the status server, httpx errors mapped to BackendError (retryable or not) in our words.
    """

    backend = "Wazuh backend"
    default_timeout_s = 10.0  # each backend's own, kept where the Connection leaves them as None
    default_retries = 3

    def __init__(self, connection: Connection, auth: tuple[str, str] | None = None) -> None:
        timeout = connection.timeout if connection.timeout is not None else self.default_timeout_s
        self._sleep = connection.sleep
        self._retries = max(1, connection.retries if connection.retries is not None else self.default_retries)
        self._max_response_bytes = connection.max_response_bytes
        # httpx's timeout is per read: headers or a body dripped a byte at a time never trip it. This bounds
        # the whole exchange, headers and body.
        self._deadline_s = connection.deadline_s if connection.deadline_s is not None else 2 * timeout
        self.requests_made = 0
        self.request_seconds = 0.0  # total time waiting for answers (the status server's latency metric)
        self.responses_by_status: collections.Counter[int] = collections.Counter()
        self._client = deadline_bound(
            httpx.Client(
                base_url=connection.url.rstrip("/"),
                verify=connection.verify,
                timeout=httpx.Timeout(timeout),
                transport=connection.transport,
                auth=auth,
                headers={"Accept": "application/json", "User-Agent": "log_monitor"},
            )
        )

    def close(self) -> None:
        self._client.close()

    def _fail(self, message: str, *, answered: bool, retryable: bool) -> BackendError:
        """Our error for a failed request: the backend answered unusably, or could not be reached."""
        kind = ResponseError if answered else UnreachableError
        return kind(self.backend, message, retryable=retryable)

    def _exchange(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One attempt, timed and counted; a 5xx answer is a retryable ResponseError."""
        what = f"{method} {path}"
        answer = fetch(
            self._client,
            method,
            path,
            what=what,
            fail=self._fail,
            limit=self._max_response_bytes,
            deadline_s=self._deadline_s,
            **kwargs,
        )
        response = answer.response
        self.requests_made += 1
        self.request_seconds += answer.seconds
        self.responses_by_status[response.status_code] += 1
        self._observe(response)
        if response.status_code >= 500:
            raise self._server_error(what, response)
        return response

    def _server_error(self, what: str, response: httpx.Response) -> BackendError:
        """The error for a 5xx answer: retryable, unless the backend's own body says another attempt is vain."""
        return ResponseError(self.backend, f"{what}: HTTP {self._explain(response)}", retryable=True)

    def _observe(self, response: httpx.Response) -> None:
        """Called with every answer, an error status included (the API reads the manager's clock from it)."""

    def _explain(self, response: httpx.Response) -> str:
        """The status of an error answer as shown in messages; subclasses add the backend's own reason."""
        return str(response.status_code)

    def _retrying(self, call: Callable[[], T]) -> T:
        """`call` retried on retryable errors with capped exponential backoff."""
        return with_retries(call, attempts=self._retries, sleep=self._sleep)

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object(response.content, what=what, fail=self._fail)
