"""Retries for the Wazuh clients: a retryable BackendError (connection errors, 5xx), capped exponential backoff."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

from log_monitor.errors import BackendError

T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, BackendError) and exc.retryable


def with_retries(call: Callable[[], T], *, attempts: int, sleep: Callable[[float], None]) -> T:
    """Run `call`, retrying a retryable BackendError with backoff 0.5 s, 1 s, 2 s ... capped at 8 s."""
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retryable),
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=0.5, max=8),
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)
