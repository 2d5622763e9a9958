"""Exception tree of log_monitor; third-party errors are mapped to these at one boundary each.

LogMonitorError
├── ConfigError            bad env file, CSV or key; carries every problem found (exit 78)
├── BackendError           a Wazuh backend could not be read: targets become UNKNOWN; `retryable` says
│   │                      whether another attempt may help (the clients retry only those)
│   ├── AuthError          login refused (bad credentials, permissions)
│   ├── RateLimitedError   the API's per-minute budget is exhausted (429 / error 6001)
│   ├── UnreachableError   connection refused, reset, timeout, TLS failure (httpx's TransportError and kin)
│   └── ResponseError      5xx, malformed or partial answer (shard failures)
│       └── AgentError     the API's error about ONE agent (disconnected, on a lost node, never connected):
│                          that agent's UNKNOWN, never the whole backend's
├── StateError             the SQLite state store cannot be used
│   └── InstanceLockedError  another monitor holds the state DB's lock (exit 75)
└── NotifierError          a channel refused or failed a notification (notifiers/base.py)

`describe_network_error` puts a library's network failure in our words: its own text may quote a header
(a token) or a URL.
"""

from __future__ import annotations

import ssl


class LogMonitorError(Exception):
    """Base of every error log_monitor raises on purpose."""


class ConfigError(LogMonitorError):
    """Configuration is invalid; `problems` lists every problem, each naming file and key or line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BackendError(LogMonitorError):
    """A monitoring backend (Wazuh API or indexer) could not be read; `retryable`: another attempt may work."""

    def __init__(self, backend: str, message: str, *, retryable: bool = False) -> None:
        self.backend = backend
        self.message = message
        self.retryable = retryable
        super().__init__(f"{backend}: {message}")


class AuthError(BackendError):
    """The backend refused our credentials or our permissions."""


class RateLimitedError(BackendError):
    """The backend's request budget is exhausted for now."""


class UnreachableError(BackendError):
    """The backend could not be reached (refused, reset, timeout, TLS)."""


class ResponseError(BackendError):
    """The backend answered with an error status or an unusable body."""


class AgentError(ResponseError):
    """The API answered an error about one agent (`code`: Wazuh's error code); its other agents are fine."""

    def __init__(self, backend: str, message: str, *, code: int) -> None:
        super().__init__(backend, message)
        self.code = code


class StateError(LogMonitorError):
    """The state store could not be opened, read or written."""


class InstanceLockedError(StateError):
    """Another process (a daemon, or a `once` run) holds `<STATE_DB>.lock`: two monitors must not share a DB."""


class NotifierError(LogMonitorError):
    """A notification channel failed; `permanent` says whether retrying can help.

    `retry_after_s`: the channel asked not to be called again for this long (HTTP 429 Retry-After).
    """

    def __init__(self, message: str, *, permanent: bool, retry_after_s: float | None = None) -> None:
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        super().__init__(message)


# Our words for the failures whose own text may quote a header (a token) or a URL, by class name.
_WORDS = {
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
    "TimeoutError": "timed out",
    "DecodingError": "the answer cannot be decoded",
    "TooManyRedirects": "too many redirects",
    "InvalidURL": "the URL is not a valid URL",
}


def describe_network_error(exc: BaseException) -> str:
    """`Kind: reason` for a failed request, from the OS's or TLS's reason or our words, never the library's text.

    The reason is looked for along the chain of causes (httpx, urllib and smtplib wrap the socket's error).
    """
    kind = type(exc).__name__
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            # getattr: ssl sets these on the errors it raises, not on every instance of the class.
            reason = getattr(seen, "reason", None) or "CERTIFICATE_VERIFY_FAILED"
            verdict = getattr(seen, "verify_message", None) or "verification failed"
            return f"{kind}: TLS certificate not trusted ({reason}: {verdict})"
        if isinstance(seen, ssl.SSLError):
            return f"{kind}: TLS error ({getattr(seen, 'reason', None) or type(seen).__name__})"
        if isinstance(seen, OSError) and seen.strerror:
            return f"{kind}: {seen.strerror}"
        if isinstance(seen, TimeoutError):
            return f"{kind}: timed out"
        wrapped = getattr(seen, "reason", None)  # urllib's URLError keeps the socket's error here
        seen = seen.__cause__ or seen.__context__ or (wrapped if isinstance(wrapped, BaseException) else None)
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"{kind}: TLS certificate not trusted (CERTIFICATE_VERIFY_FAILED)"
    return f"{kind}: {_WORDS.get(kind, 'request failed')}"


def is_tls_failure(exc: BaseException) -> bool:
    """Whether a connection failed on TLS (an unknown CA, a wrong name): retrying cannot help."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
