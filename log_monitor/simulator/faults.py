"""The failures a test tells the simulator to inject: HTTP answers, outages and faults below HTTP."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Failures to inject; tests set these while the server runs (the demo never does).

    Each request reads them afresh; only `fail_next_api` is counted down, under the API's lock.
    """

    # ok, down, shard_failure, timed_out (partial search results), unauthorized; overloaded (429
    # rejected_execution_exception), breaker (429 circuit_breaking_exception), all_shards_failed (503
    # search_phase_execution_exception): the searches only, as OpenSearch's search thread pool and breakers do.
    indexer_mode: str = "ok"
    overloaded_next: int = 0  # the next N searches get 429 rejected_execution_exception
    api_mode: str = "ok"  # ok, down
    # RBAC: the user may list agents but not read their statistics (4000 Permission Denied on /agents/*/stats).
    api_stats_denied: bool = False
    cluster_denied: bool = False  # RBAC: the user lacks cluster:read (403 on /cluster/healthcheck)
    fail_next_api: int = 0  # the next N API requests get 500
    # Failures below HTTP, one of TRANSPORT_FAULTS, for every request to that service while set:
    api_transport: str = "ok"
    indexer_transport: str = "ok"
    # A shard with no live copy (REALITY.md §10): the searches answer 200 with `_shards.failed` 1 of 6 and no
    # `failures` entry, and lack these agents' documents (all on the lost shard).
    lost_shard_agents: frozenset[str] = frozenset()
    hang_s: float = 5.0  # how long "hang" holds a request before closing without an answer
    huge_bytes: int = 30 * 1024 * 1024  # the size of the "huge" answer


# ok; hang: hold the request hang_s seconds, then close without answering; reset: close with a TCP RST
# (SO_LINGER 0); garbage: 200 with an HTML body; malformed: 200 with JSON cut in the middle (a correct
# Content-Length); truncated: a Content-Length larger than the body, then close; huge: a 200 JSON body
# of huge_bytes.
TRANSPORT_FAULTS = ("ok", "hang", "reset", "garbage", "malformed", "truncated", "huge")
