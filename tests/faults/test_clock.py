"""The monitor's wall clock jumps (NTP step, a VM resumed, a wrong date set by hand) while the fleet's runs on.

Its monotonic clock does not jump (that is what monotonic means), so only `now()` moves. Backwards:
no agent may look silent or recovered that is not. Forwards by a day: every agent looks silent at
once, which the pipeline inhibition turns into one pipeline alert, not one alert per agent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.clock import FakeClock
from log_monitor.models import NotificationKind, Severity
from log_monitor.monitor import PassResult
from tests.faults.backend_rig import SILENT, TARGETS, make_rig
from tests.monitor_rig import Rig


class SkewedClock:
    """The fleet's clock with the monitor's wall time shifted by `offset`; monotonic time is the fleet's."""

    def __init__(self, real: FakeClock) -> None:
        self.real = real
        self.offset = timedelta()

    def now(self) -> datetime:
        return self.real.now() + self.offset

    def monotonic(self) -> float:
        return self.real.monotonic()

    def advance(self, seconds: float) -> None:
        """The monitor's sleeps (backoff, rate-limit waits) pass for everyone."""
        self.real.advance(seconds)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    with made.sim:
        yield made


def passes(rig: Rig, offsets: list[timedelta]) -> list[PassResult]:
    """One pass per offset, a minute of fleet time apart, with the monitor's clock shifted by that offset."""
    skewed = SkewedClock(rig.clock)
    rig.clock = skewed  # type: ignore[assignment]  # Rig.app hands its clock to app.build
    results = []
    with rig.app(TARGETS) as app:
        for offset in offsets:
            skewed.offset = offset
            results.append(app.monitor.run_once())
            skewed.real.advance(60)
    return results


def agent_notes(results: list[PassResult]) -> list[tuple[NotificationKind, str]]:
    return [(n.kind, n.target_key) for r in results for n in r.notifications if n.target_key.startswith("agent:")]


def test_the_clock_set_back_an_hour_raises_no_false_alert_and_no_false_recovery(rig: Rig) -> None:
    back = -timedelta(hours=1)
    results = passes(rig, [timedelta(), back, back, timedelta()])
    assert agent_notes(results) == [(NotificationKind.ALERT, SILENT)]
    # The skewed passes are UNKNOWN, said once as the clock's problem (the API's Date tells the manager's time).
    assert all(result.exit_code == 3 for result in results[1:3])
    assert "clock is 3600 s behind" in results[1].backend_errors["clock"]
    for result in results:
        assert {r.target.key for r in result.rows if r.state.severity in (Severity.WARNING, Severity.CRITICAL)} <= {
            SILENT
        }


def test_the_clock_jumping_a_day_ahead_is_at_most_one_pipeline_alert_and_no_per_agent_alert(rig: Rig) -> None:
    ahead = timedelta(days=1)
    results = passes(rig, [timedelta(), ahead, ahead, timedelta(), timedelta()])
    # The only per-agent alerts are the real one, from before the jump, and its escalation: by the last pass
    # the agent has been silent for 640 s, past CRITICAL (2 x 300 s) in the fleet's own time.
    assert agent_notes(results) == [(NotificationKind.ALERT, SILENT), (NotificationKind.ESCALATION, SILENT)]
    kinds = [n.kind for r in results for n in r.notifications if not n.target_key.startswith("agent:")]
    assert kinds.count(NotificationKind.PIPELINE_SILENT) <= 1
    assert kinds.count(NotificationKind.PIPELINE_SILENT) == kinds.count(NotificationKind.PIPELINE_RESTORED)
