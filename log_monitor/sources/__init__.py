"""Event sources: each turns a batch of due targets into Observations; the EventSource protocol."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from log_monitor.models import Observation, Target


class EventSource(Protocol):
    """Observes targets; raises BackendError when its backend cannot be read (never returns zeros)."""

    name: str

    def handles(self, target: Target) -> bool:
        """Whether this source can observe the target."""
        ...

    def observe(self, targets: Sequence[Target], now: datetime) -> dict[str, Observation]:
        """One Observation per target key it handles."""
        ...
