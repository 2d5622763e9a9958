"""Shared by the fault suite: how many times the randomised faults repeat (FAULT_REPEATS; `make faults` sets 50)."""

from __future__ import annotations

import os

# The fast form runs in `make test`; `make faults` repeats the randomised faults (kill -9, fuzzing) more.
REPEATS = max(1, int(os.environ.get("FAULT_REPEATS") or "5"))
FULL = REPEATS >= 20
