"""What an indexer's error answer means: a node down, a missing permission, load, an outage (REALITY.md §10)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from log_monitor.errors import AuthError, BackendError, ResponseError

BACKEND = "Wazuh indexer"

# OpenSearch's security plugin: "no permissions for [indices:data/read/search] and User [name=monitor, ...]".
_NO_PERMISSION = re.compile(r"no permissions for \[([^\]]*)\] and User \[name=([^,\]]*)")
# Load: a full search queue, or a memory circuit breaker; another attempt after a pause may well pass.
LOAD_TYPES = frozenset(
    {"rejected_execution_exception", "circuit_breaking_exception", "es_rejected_execution_exception"}
)


@dataclass(frozen=True)
class Refusal:
    """An error answer read: its HTTP status, OpenSearch's error types (outermost first) and reason."""

    status: int
    types: tuple[str, ...]
    reason: str

    @property
    def node_down(self) -> bool:
        """The node (or the proxy before it) cannot serve: another node may. 503 from the cluster itself (all
        shards failed, too many buckets) is the same on every node and sets none aside."""
        if self.status == 502:
            return True
        return self.status == 503 and not (
            {"search_phase_execution_exception", "too_many_buckets_exception"} & set(self.types)
        )


def read_refusal(status: int, body: object) -> Refusal:
    """The error types and reason of an OpenSearch error body (`{"error": {"type", "reason", "root_cause"...}}`)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return Refusal(status, (), str(error) if isinstance(error, str) else "")
    types: list[str] = []
    reasons: list[str] = []
    for part in [error, error.get("caused_by"), *(error.get("root_cause") or [])]:
        if isinstance(part, dict):
            if isinstance(part.get("type"), str) and part["type"] not in types:
                types.append(part["type"])
            if isinstance(part.get("reason"), str):
                reasons.append(part["reason"])
    return Refusal(status, tuple(types), reasons[0] if reasons else "")


def refusal_error(what: str, refusal: Refusal, *, user: str, pattern: str) -> BackendError:
    """Our error for an error answer, in words that say what to do about it."""
    status, types = refusal.status, refusal.types
    kind = types[0] if types else "no error type"
    if status == 401:
        return AuthError(BACKEND, f"{what}: HTTP 401 (the indexer refused user {user!r}: wrong user or password)")
    if status == 403:
        return AuthError(BACKEND, f"{what}: HTTP 403 ({kind}): {_permission_words(refusal, user, pattern)}")
    if status == 429 or LOAD_TYPES & set(types):
        # Load, not an outage: retried after a pause (capped exponential backoff) before it is reported.
        return ResponseError(
            BACKEND,
            f"{what}: the indexer is overloaded (HTTP {status} {kind}): it shed our search; retried with backoff",
            retryable=True,
        )
    if "too_many_buckets_exception" in types:
        return ResponseError(
            BACKEND,
            f"{what}: HTTP {status} (too_many_buckets_exception): one page holds more buckets than the cluster's "
            "search.max_buckets allows; raise it, or lower the page size",
        )
    if "search_phase_execution_exception" in types and status >= 500:
        return ResponseError(
            BACKEND, f"{what}: HTTP {status}: every shard failed (the indexer is down)", retryable=True
        )
    return ResponseError(BACKEND, f"{what}: HTTP {status} ({kind})", retryable=status >= 500)


def _permission_words(refusal: Refusal, user: str, pattern: str) -> str:
    found = _NO_PERMISSION.search(refusal.reason)
    action, name = (found.group(1), found.group(2)) if found else ("indices:data/read/search", user)
    return (
        f"user {name!r} lacks the permission {action} on {pattern!r}: grant a role with {action} "
        f"on {pattern} (the minimal read role; cluster:monitor/main for GET /)"
    )
