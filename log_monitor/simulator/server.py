"""The simulated Wazuh server API and indexer on loopback ports, answering for a scripted Fleet."""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from log_monitor.clock import Clock, SystemClock
from log_monitor.simulator import tokens
from log_monitor.simulator.api import WazuhApi
from log_monitor.simulator.faults import Faults
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.httpd import App, HttpServer, serve
from log_monitor.simulator.indexer import Indexer
from log_monitor.simulator.stats import SimStats

log = logging.getLogger(__name__)


class SimulatorServer:
    """The Wazuh server API and the indexer on two loopback ports, answering for a Fleet."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        api_users: Mapping[str, str] | None = None,
        indexer_users: Mapping[str, str] | None = None,
        token_ttl_s: float = 900,
        max_rpm: int = 300,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        indices: tuple[str, ...] = (
            "wazuh-alerts-4.x-2026.12.01",
            "wazuh-alerts-4.x-2026.12.02",
            "wazuh-events-v5-system",
        ),
        ports: tuple[int, int] = (0, 0),  # API, indexer; 0 = any free port
        indexer_nodes: int = 1,  # the indexer cluster's nodes, each on its own port, answering alike
        schema: str = "4.x",  # 5.x: Wazuh 5.0 (its data streams only, 4.x field names unmapped, API 5.0.0)
    ) -> None:
        self.fleet = fleet
        # The indices the indexer holds: archives are off by default, so wazuh-archives-* matches none.
        self.indices = indices
        self.schema = schema
        if schema == "5.x":
            self.indices = tuple(i for i in indices if i.startswith("wazuh-events-v5")) or ("wazuh-events-v5-system",)
        self.api_users: dict[str, str] = dict(api_users if api_users is not None else {"wazuh": "wazuh"})
        self.indexer_users: dict[str, str] = dict(indexer_users if indexer_users is not None else {"admin": "admin"})
        # The security plugin's roles: user -> the index patterns it may search (a user not named may search all),
        # and the `do_not_fail_on_forbidden` setting (forbidden indices dropped silently instead of a 403).
        self.indexer_permissions: dict[str, tuple[str, ...]] = {}
        self.do_not_fail_on_forbidden = False
        self.max_buckets = 65_535  # search.max_buckets; admins lower it on busy clusters
        self.retention_s: float | None = None  # documents older than this are gone (5.0's streams: as little as 1 h)
        self.token_ttl_s = token_ttl_s
        self.max_rpm = max_rpm
        self.clock: Clock = clock or SystemClock()
        self.stats = SimStats()
        self.faults = Faults()
        self._ssl_context = ssl_context
        self._host = host
        self._ports = ports
        self._key = secrets.token_bytes(32)
        self._key_lock = threading.Lock()
        self._servers: list[HttpServer] = []
        self._threads: list[threading.Thread] = []
        self.api_url = ""
        self.indexer_url = ""
        self._indexer_nodes = max(1, indexer_nodes)
        self._node_servers: list[HttpServer] = []
        self.indexer_urls: list[str] = []  # every node's, the first being indexer_url

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SimulatorServer:
        if self._servers:
            return self
        scheme = "https" if self._ssl_context is not None else "http"
        urls: list[str] = []
        apps: tuple[App[Any], App[Any]] = (WazuhApi(self), Indexer(self))
        for app, port in zip(apps, self._ports, strict=True):
            try:
                urls.append(self._serve(app, port, scheme))
            except BaseException:
                self.stop()  # the API may already listen when the indexer's port is taken
                raise
        self.api_url, self.indexer_url = urls
        self.indexer_urls = [self.indexer_url]
        self._node_servers = [self._servers[1]]
        for _ in range(self._indexer_nodes - 1):
            self.indexer_urls.append(self._serve(Indexer(self), 0, scheme))
            self._node_servers.append(self._servers[-1])
        log.debug("simulator listening: API %s, indexer %s", self.api_url, self.indexer_url)
        return self

    def _serve(self, app: App[Any], port: int, scheme: str) -> str:
        """A listening server for `app` (the API, the indexer, an indexer node beyond the first); its URL."""
        server, thread = serve(app, self._host, port, self._ssl_context)
        self._servers.append(server)
        self._threads.append(thread)
        return f"{scheme}://{self._host}:{server.server_address[1]}"

    def stop_indexer_node(self, number: int) -> None:
        """Stop one indexer node (0 is indexer_url): its port refuses connections, the others go on answering."""
        self._node_servers[number].stop()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(self, user: str) -> str:
        """A signed JWT shaped like the real API's (HS256, its claims, exp = now + token_ttl_s)."""
        now = self.clock.now().timestamp()
        with self._key_lock:
            key = self._key
        return tokens.sign(key, user, now, self.token_ttl_s)

    def verify_token(self, token: str) -> str | None:
        """The token's user, or None when its signature, audience or validity period is wrong or the user is gone."""
        with self._key_lock:
            key = self._key
        user = tokens.subject(key, token, lambda: self.clock.now().timestamp())
        return user if user is not None and user in self.api_users else None

    def expire_tokens(self) -> None:
        """Every token issued so far stops working at once, as when the real API restarts."""
        with self._key_lock:
            self._key = secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"SimulatorServer(api_url={self.api_url!r}, indexer_url={self.indexer_url!r})"


__all__ = ["SimulatorServer"]
