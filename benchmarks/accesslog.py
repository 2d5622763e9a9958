"""Combined-format parsing speed (target: at least 300,000 lines/s): `python -m benchmarks.accesslog`."""

from __future__ import annotations

import random
import time

from log_monitor.accesslog import parse
from log_monitor.simulator.traffic import lines_for

START = 1_795_000_000


def parse_rate(lines: int = 500_000, rounds: int = 3) -> float:
    """Best lines/s over `rounds` parses of generated traffic (250 lines per logged second, 20 hosts)."""
    rng = random.Random(1)
    seconds = max(1, lines // 250)
    data = "".join(line for s in range(START, START + seconds) for line in lines_for(s, 250, rng)).encode()
    count = data.count(b"\n")
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        batch = parse(data)
        elapsed = time.perf_counter() - started
        assert batch.malformed == 0
        best = max(best, count / elapsed)
    return best


if __name__ == "__main__":
    rate = parse_rate()
    print(f"combined-format parsing: {rate:,.0f} lines/s (target 300,000)")
