"""Retries for the Wazuh clients: connection errors and 5xx, capped exponential backoff (tenacity)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TypeVar

import tenacity

from log_monitor.errors import BackendError

T = TypeVar("T")


class RetryableError(Exception):
    """A failure worth another attempt; carries the BackendError to raise when attempts run out."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(str(error))
        self.error = error


def with_retries(call: Callable[[], T], *, attempts: int, sleep: Callable[[float], None]) -> T:
    """Run `call`, retrying on RetryableError with backoff 0.5 s, 1 s, 2 s ... capped at 8 s."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetryableError),
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=0.5, max=8),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(call)
    except RetryableError as exc:
        raise exc.error from exc


def is_tls_failure(exc: BaseException) -> bool:
    """Whether a connection failed on TLS (an unknown CA, a wrong name): retrying cannot help."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
