"""Access-log traffic generator: `python -m log_monitor.simulator.traffic PATH --rate N --seconds S [--start T]`."""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

SECTIONS = ("/api/users/", "/api/orders/", "/static/css/", "/static/js/", "/login/", "/")
HOSTS = tuple(f"10.0.0.{n}" for n in range(1, 21))
AGENT = "Mozilla/5.0 (X11; Linux x86_64) log_monitor-traffic"


def combined_line(rng: random.Random, epoch_s: int) -> str:
    """One Apache/Nginx combined-format line logged at `epoch_s`."""
    when = datetime.fromtimestamp(epoch_s, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    host = rng.choice(HOSTS)
    path = rng.choice(SECTIONS) + rng.choice(("index.html", "item", "42", ""))
    status = rng.choice((200, 200, 200, 200, 304, 404, 500))
    size = rng.randint(200, 20_000)
    return f'{host} - - [{when}] "GET {path} HTTP/1.1" {status} {size} "-" "{AGENT}"\n'


def lines_for(second: int, rate: float, rng: random.Random) -> Iterator[str]:
    """The lines of one second at `rate` lines/s (the fraction carried at random, so the mean is right)."""
    count = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
    for _ in range(count):
        yield combined_line(rng, second)


def generate(
    path: str,
    *,
    rate: float,
    seconds: float,
    seed: int = 1,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Append `rate` lines/s to `path` for `seconds`, one write per second; returns the lines written."""
    rng = random.Random(seed)  # noqa: S311 -- repeatable test traffic, nothing secret
    written = 0
    end = clock() + seconds
    with open(path, "a", encoding="utf-8") as handle:
        while True:
            now = clock()
            if now >= end:
                return written
            batch = "".join(lines_for(int(now), rate, rng))
            handle.write(batch)
            handle.flush()
            written += batch.count("\n")
            sleep(max(0.0, min(1.0 - (now % 1.0), end - now)))


class _Replay:
    """A clock that sleeping moves forward at once."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._now += seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m log_monitor.simulator.traffic", description=__doc__)
    parser.add_argument("path", help="access log to append to (created if missing)")
    parser.add_argument("--rate", type=float, default=10.0, help="lines per second (default 10)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--start",
        type=float,
        metavar="EPOCH",
        help="stamp lines from this Unix time and write them all at once, without waiting: "
        "replays a period (a spike, a drop) in an instant, for tests and demos",
    )
    args = parser.parse_args(argv)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    if args.start is not None:
        replay = _Replay(args.start)
        clock, sleep = replay.now, replay.sleep
    try:
        written = generate(args.path, rate=args.rate, seconds=args.seconds, seed=args.seed, clock=clock, sleep=sleep)
    except KeyboardInterrupt:
        return 130
    print(f"{written} lines appended to {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
