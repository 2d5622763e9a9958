"""Exception tree of log_monitor; third-party errors are mapped to these at one boundary each.

LogMonitorError
├── ConfigError            bad env file, CSV or key; carries every problem found (exit 78)
├── BackendError           a Wazuh backend could not be read: targets become UNKNOWN
│   ├── AuthError          login refused (bad credentials, permissions)
│   ├── RateLimitedError   the API's per-minute budget is exhausted (429 / error 6001)
│   ├── TransportError     connection refused, reset, timeout, TLS failure
│   └── ResponseError      5xx, malformed or partial answer (shard failures)
├── StateError             the SQLite state store cannot be used
│   └── InstanceLockedError  another monitor holds the state DB's lock (exit 75)
└── NotifierError          a channel refused or failed a notification (notifiers/base.py)
"""

from __future__ import annotations


class LogMonitorError(Exception):
    """Base of every error log_monitor raises on purpose."""


class ConfigError(LogMonitorError):
    """Configuration is invalid; `problems` lists every problem, each naming file and key or line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BackendError(LogMonitorError):
    """A monitoring backend (Wazuh API or indexer) could not be read."""

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        self.message = message
        super().__init__(f"{backend}: {message}")


class AuthError(BackendError):
    """The backend refused our credentials or our permissions."""


class RateLimitedError(BackendError):
    """The backend's request budget is exhausted for now."""


class TransportError(BackendError):
    """The backend could not be reached (refused, reset, timeout, TLS)."""


class ResponseError(BackendError):
    """The backend answered with an error status or an unusable body."""


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
