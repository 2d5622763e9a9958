"""Counters of what the simulator was asked (requests, logins, searches, documents visited, answer bytes)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class SimStats:
    """Counters of what the simulator was asked; safe to read from any thread."""

    api_requests: int = 0
    api_logins: int = 0
    api_401: int = 0
    api_429: int = 0
    api_500: int = 0
    api_agents_pages: int = 0
    indexer_requests: int = 0
    indexer_searches: int = 0
    indexer_counts: int = 0
    indexer_errors: int = 0
    indexer_empty_patterns: int = 0  # searches on a pattern that matched no index
    # What a real indexer would visit: every document inside a search's query, once per request (each page of a
    # composite aggregation runs the query again), and the bytes of the answers.
    indexer_docs_visited: int = 0
    indexer_answer_bytes: int = 0
    last_search_body: JSON | None = None
    last_count_body: JSON | None = None
    last_api_path: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self, name, getattr(self, name) + 1)

    def add(self, name: str, amount: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def record(self, name: str, value: object) -> None:
        with self._lock:
            setattr(self, name, value)
