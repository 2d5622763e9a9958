"""A day and a half judged of a small fleet of four kinds of sources, both silence modes: the rhythm mode's goals hold.

The full week of 1,000 agents is `python -m benchmarks.rhythm` (its table is in docs/detection.md); this is the
same simulation, small enough for the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.rhythm import Row, rows, run

AGENTS = 32  # eight of each kind, four of them silenced at a random moment
DAYS = 1.5


def figures(mode: str, tmp_path: Path) -> dict[str, Row]:
    return {row.kind: row for row in rows(mode, run(mode, AGENTS, DAYS, seed=7, workdir=tmp_path))}


@pytest.mark.slow  # a day and a half a pass a minute, both modes (11 CPU-s): day-long simulations are the slow tier
def test_rhythm_mode_catches_every_silence_busy_ones_in_minutes_with_no_false_alert_from_quiet_hours(
    tmp_path: Path,
) -> None:
    rhythm, fixed = figures("rhythm", tmp_path), figures("fixed", tmp_path)
    for row in rhythm.values():
        assert row.silenced == 4 and row.recall == 1.0, row
    busy = rhythm["busy"]
    assert busy.median_min is not None and busy.median_min <= 3 and busy.p95_min is not None and busy.p95_min <= 5
    assert fixed["busy"].median_min is not None and fixed["busy"].median_min > 15  # the threshold's quarter hour
    for kind in ("rhythm", "office"):
        assert rhythm[kind].false_alerts == 0, rhythm[kind]
        assert fixed[kind].false_alerts > 0, fixed[kind]  # every quiet evening, with a fixed threshold
    assert rhythm["sparse"].recall >= fixed["sparse"].recall
    assert rhythm["sparse"].false_alerts <= fixed["sparse"].false_alerts


@pytest.mark.slow  # a week of 64 agents a pass a minute, both modes: the slow tier (`make slow`)
def test_a_week_meets_the_goals_of_the_rhythm_mode(tmp_path: Path) -> None:
    rhythm = {row.kind: row for row in rows("rhythm", run("rhythm", 64, 7.0, seed=26, workdir=tmp_path))}
    fixed = {row.kind: row for row in rows("fixed", run("fixed", 64, 7.0, seed=26, workdir=tmp_path))}
    assert all(row.recall == 1.0 for row in rhythm.values()), rhythm
    assert rhythm["busy"].median_min is not None and rhythm["busy"].median_min <= 3
    assert rhythm["busy"].p95_min is not None and rhythm["busy"].p95_min <= 5
    assert rhythm["rhythm"].false_alerts == rhythm["office"].false_alerts == 0
    assert rhythm["sparse"].false_alerts <= fixed["sparse"].false_alerts / 20  # fixed alerts most of its gaps
