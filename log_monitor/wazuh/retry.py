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


# Our words for httpx's failures whose own text may quote a header (a token) or a URL.
_TRANSPORT_WORDS = {
    "ConnectError": "connection failed",
    "ReadError": "connection broken while reading the answer",
    "WriteError": "connection broken while sending the request",
    "CloseError": "connection broken while closing",
    "RemoteProtocolError": "the server closed the connection or broke the HTTP protocol",
    "LocalProtocolError": "the request could not be sent (a header holds a character HTTP does not allow)",
    "ProxyError": "the proxy refused the connection",
    "UnsupportedProtocol": "the URL's scheme is not http or https",
    "NetworkError": "network error",
    "ProtocolError": "HTTP protocol error",
    "TimeoutException": "timed out",
    "ConnectTimeout": "timed out while connecting",
    "ReadTimeout": "timed out waiting for the answer",
    "WriteTimeout": "timed out sending the request",
    "PoolTimeout": "timed out waiting for a free connection",
}


def describe_transport_error(exc: BaseException) -> str:
    """`Kind: reason` for a failed request, from the OS's or TLS's reason or our words, never the library's text."""
    kind = type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            reason = seen.reason or "CERTIFICATE_VERIFY_FAILED"
            return f"{kind}: TLS certificate not trusted ({reason}: {seen.verify_message or 'verification failed'})"
        if isinstance(seen, ssl.SSLError):
            return f"{kind}: TLS error ({seen.reason or type(seen).__name__})"
        if isinstance(seen, OSError) and seen.strerror:
            return f"{kind}: {seen.strerror}"
        seen = seen.__cause__ or seen.__context__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"{kind}: TLS certificate not trusted (CERTIFICATE_VERIFY_FAILED)"
    return f"{kind}: {_TRANSPORT_WORDS.get(kind, 'request failed')}"
