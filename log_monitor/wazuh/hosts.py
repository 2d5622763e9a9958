"""HostPool: the indexer cluster's nodes taken round robin, a failing node set aside for 60 s, doubling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# As every client of Wazuh's indexer does (opensearch-py's dead_timeout and timeout_cutoff): a node that failed
# n times in a row is tried again after 60 s x 2^(n-1), the doubling stopped after 5 steps (32 minutes).
SET_ASIDE_S = 60.0
MAX_DOUBLINGS = 5


@dataclass(frozen=True)
class HostHealth:
    """One node as the status page and the metrics show it."""

    url: str
    up: bool  # answered the last request sent to it (or was never asked)
    failures: int  # in a row
    retry_in_s: float | None  # set aside: tried again in this long (0: due now)
    last_error: str | None
    requests: int


@dataclass
class _Host:
    url: str
    failures: int = 0
    retry_at: float = 0.0  # monotonic; a host whose time has come is tried again
    last_error: str | None = None
    requests: int = 0


class HostPool:
    """Which node a request goes to, and which are set aside; thread-safe (the status page reads it)."""

    def __init__(self, urls: list[str], monotonic: Callable[[], float]) -> None:
        self._hosts = [_Host(url.rstrip("/")) for url in urls]
        self._monotonic = monotonic
        self._next = 0
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [host.url for host in self._hosts]

    def order(self) -> list[str]:
        """The nodes to try for one request, in turn: the usable ones round robin from the next.

        When every node is set aside the one due soonest is tried anyway (never refuse to ask): a cluster that
        came back is found by the next request, not an hour later.
        """
        with self._lock:
            now = self._monotonic()
            count = len(self._hosts)
            start = self._next
            self._next = (start + 1) % count
            turn = [self._hosts[(start + i) % count] for i in range(count)]
            usable = [host.url for host in turn if host.retry_at <= now]
            if usable:
                return usable
            return [min(self._hosts, key=lambda host: host.retry_at).url]

    def failed(self, url: str, error: str) -> None:
        """The node could not be reached or answered as a node that is down: set aside, for longer each time."""
        with self._lock:
            host = self._host(url)
            host.failures += 1
            host.requests += 1
            host.last_error = error
            wait = SET_ASIDE_S * 2 ** min(host.failures - 1, MAX_DOUBLINGS)
            host.retry_at = self._monotonic() + wait
        if len(self._hosts) > 1:
            log.warning("indexer node %s set aside for %.0f s: %s", url, wait, error)

    def answered(self, url: str) -> None:
        with self._lock:
            host = self._host(url)
            if host.failures and len(self._hosts) > 1:
                log.info("indexer node %s answers again", url)
            host.failures, host.retry_at, host.last_error = 0, 0.0, None
            host.requests += 1

    def health(self) -> list[HostHealth]:
        with self._lock:
            now = self._monotonic()
            return [
                HostHealth(
                    url=host.url,
                    up=host.failures == 0,
                    failures=host.failures,
                    retry_in_s=max(0.0, host.retry_at - now) if host.failures else None,
                    last_error=host.last_error,
                    requests=host.requests,
                )
                for host in self._hosts
            ]

    def _host(self, url: str) -> _Host:
        return next(host for host in self._hosts if host.url == url)
