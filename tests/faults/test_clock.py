"""The monitor's wall clock jumps (NTP step, a VM resumed, a wrong date set by hand) while the fleet's runs on.

Its monotonic clock does not jump (that is what monotonic means), so only `now()` moves. Backwards:
no agent may look silent or recovered that is not. Forwards by a day: every agent looks silent at
once, which the pipeline inhibition turns into one pipeline alert, not one alert per agent.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.clock import FakeClock
from log_monitor.models import NotificationKind, Severity, Target, TargetKind
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


def local_file(folder: Path, written: datetime) -> Target:
    """A log file on the monitor's own host, last written at `written`."""
    path = folder / "app.log"
    path.write_text("a line\n")
    os.utime(path, (written.timestamp(), written.timestamp()))
    return Target(Target.file_key(str(path)), TargetKind.LOCAL_FILE, "app", 300, 300, path=str(path))


def test_a_listing_slowed_past_five_minutes_by_the_request_budget_is_not_a_wrong_clock(rig: Rig) -> None:
    # One agent per page and one request a minute: the listing takes 7 minutes of the fleet's own time, so
    # its last Date is 7 minutes past the pass's start although both clocks agree to the second.
    rig.tuning = dataclasses.replace(rig.tuning, api_page_size=1)
    with rig.app(TARGETS, wazuh_api_max_rpm=1) as app:
        started = rig.clock.now()
        result = app.monitor.run_once()
    assert rig.clock.now() - started > timedelta(minutes=5)
    assert "clock" not in result.backend_errors
    assert agent_notes([result]) == [(NotificationKind.ALERT, SILENT)]


def test_a_files_only_pass_long_after_the_last_api_answer_judges_its_files(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        app.monitor.run_once()
        rig.clock.advance(600)  # no API answer since: a files-only pass asks the API nothing
        log_file = local_file(rig.folder, rig.clock.now() - timedelta(seconds=10))
        result = app.monitor.check([log_file])
    assert "clock" not in result.backend_errors
    assert [r.state.severity for r in result.rows] == [Severity.OK]


def test_a_wrong_clock_voids_the_agents_but_never_a_local_file(rig: Rig) -> None:
    skewed = SkewedClock(rig.clock)
    skewed.offset = -timedelta(hours=1)
    rig.clock = skewed  # type: ignore[assignment]
    log_file = local_file(rig.folder, skewed.now() - timedelta(seconds=10))
    with rig.app(TARGETS) as app:
        app.monitor.reload_targets([*app.monitor.targets, log_file])
        result = app.monitor.run_once()
    assert "clock is 3600 s behind" in result.backend_errors["clock"]
    severities = {r.target.key: r.state.severity for r in result.rows}
    assert severities.pop(log_file.key) is Severity.OK
    assert set(severities.values()) == {Severity.UNKNOWN}
