"""Min-heap of (due, seq, target key) on monotonic time; pure, never sleeps."""

from __future__ import annotations

import heapq
import itertools


class Scheduler:
    """Which targets are due; entries for removed or rescheduled keys are dropped lazily."""

    def __init__(self, slack_s: float = 2.0) -> None:
        # Targets due within `slack_s` of each other are popped together so one backend query serves them.
        self.slack_s = slack_s
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, int] = {}  # key -> seq of its valid heap entry
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def schedule(self, key: str, due: float) -> None:
        """Put a key at a due time, replacing any earlier entry for it."""
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (due, seq, key))
        # Keep stale entries from piling up when keys are rescheduled far more often than popped.
        if len(self._heap) > 2 * len(self._live) + 64:
            self._compact()

    def remove(self, key: str) -> None:
        self._live.pop(key, None)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[str]:
        """Every key due at `now` (plus the slack), earliest first; they leave the schedule."""
        due: list[str] = []
        limit = now + self.slack_s
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > limit:
                return due
            _, _, key = heapq.heappop(self._heap)
            del self._live[key]
            due.append(key)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)

    def _compact(self) -> None:
        self._heap = [e for e in self._heap if self._live.get(e[2]) == e[1]]
        heapq.heapify(self._heap)
