"""The rhythm simulation's in-process source against the real path: the same events served by the bundled simulator
and read through the HTTP indexer source are judged the same, pass by pass.

`benchmarks.rhythm` feeds the monitor core from an in-process source, so its table could be the simulation agreeing
with itself. Here a few agents of each kind get their week of history and half a day of events replayed by the
simulator (log_monitor.simulator), read by the app as a deployment reads Wazuh (first read over LOOKBACK, then
incremental reads), and the alerts must be those of the in-process run: same targets, kinds and severities, each
within one pass.
"""

from __future__ import annotations

import io
import math
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.rhythm import BIN_S, INTERVAL_S, KINDS, START, THRESHOLD_S, Stream, fleet, history, judge
from log_monitor.app import build
from log_monitor.clock import FakeClock
from log_monitor.demo import simulator_settings
from log_monitor.ledger import hour_index
from log_monitor.models import Notification, NotificationKind, Severity, Target
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.simulator.fleet import HOUR_MS, Fleet
from log_monitor.simulator.server import SimulatorServer

HOURS = 14  # Wednesday 00:00-14:00 UTC: the night, every kind's start of day, and the morning
LOCATION = "/var/log/syslog"
# Two of each kind; the second falls silent: the busy one in the morning, the others before their day begins.
SILENCES = {
    "005": timedelta(hours=10, minutes=7, seconds=13),  # busy
    "006": timedelta(hours=3, minutes=30),  # daily rhythm: silent night, then no start
    "007": timedelta(hours=5),  # office hours on a Wednesday: no start
    "008": timedelta(hours=1, minutes=10),  # sparse: a gap that grows until it is surprising
}


Hours = list[tuple[str, int, "array[int]"]]


def made() -> tuple[dict[str, Stream], Hours, dict[str, list[int]]]:
    """The benchmark's streams, their week of history and half a day of events (epoch ms), each made once."""
    streams = fleet(len(KINDS) * 2, HOURS / 24, seed=11)
    for stream in streams.values():
        stream.silent_at = START + SILENCES[stream.agent_id] if stream.agent_id in SILENCES else None
    hours = history(streams)
    moments: dict[str, list[int]] = {}
    first = int(START.timestamp() // BIN_S)
    for agent_id, stream in streams.items():
        found = moments[agent_id] = []
        for index in range(first, first + int(HOURS * 3600 / BIN_S)):
            count, last = stream.bin(index)
            if count:  # the bin's last event where the stream has it, the others spread before it
                start, end = int(index * BIN_S * 1000), math.floor(last * 1000)
                found += [start + k * (end - start) // count for k in range(count - 1)] + [end]
    return streams, hours, moments


def served(clock: FakeClock, streams: dict[str, Stream], hours: Hours, moments: dict[str, list[int]]) -> Fleet:
    """The simulator's fleet holding the same history and events. Each stream's last event before START becomes
    the fleet's last history event, so that both runs start from the same one."""
    fleet_ = Fleet(now=clock.now)
    hourly: dict[str, dict[int, int]] = {agent_id: {} for agent_id in streams}
    for key, day, counts in hours:
        hourly[key.removeprefix("agent:")].update({day * 24 + slot: n for slot, n in enumerate(counts) if n})
    for agent_id, stream in streams.items():
        fleet_.add_agent(agent_id, f"{stream.kind}-{agent_id}", started=START - timedelta(days=8), locations=[LOCATION])
        fleet_.replay(agent_id, LOCATION, hourly=hourly[agent_id], moments_ms=[])
        newest = fleet_.last_event(agent_id, None, START - timedelta(days=8), START)
        assert newest is not None
        stream.first_last_event, stream.last_sent = newest, newest.timestamp()
        fleet_.replay(agent_id, LOCATION, hourly=hourly[agent_id], moments_ms=moments[agent_id])
    return fleet_


def through_http(
    tmp_path: Path, streams: dict[str, Stream], hours: Hours, moments: dict[str, list[int]]
) -> list[Notification]:
    """The app as deployed (Wazuh API and indexer over HTTP, first read over LOOKBACK) a pass a minute."""
    clock = FakeClock(START)
    targets = [Target.agent(s.agent_id, f"{s.kind}-{s.agent_id}", INTERVAL_S, THRESHOLD_S) for s in streams.values()]
    sent: list[Notification] = []
    with SimulatorServer(served(clock, streams, hours, moments), clock=clock, max_rpm=1_000_000) as sim:
        options = {"default_check_interval_s": INTERVAL_S, "pipeline_silence_ratio": 1.0}
        configured = simulator_settings(sim.api_url, sim.indexer_url, tmp_path, **options)
        app = build(configured, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(io.StringIO())])
        try:
            while clock.now() < START + timedelta(hours=HOURS):
                sent += app.monitor.check(targets, keep_rows=False).notifications
                clock.advance(INTERVAL_S)
        finally:
            app.close()
    return sent


def alerts(sent: list[Notification]) -> list[tuple[str, str, str, datetime]]:
    kinds = (NotificationKind.ALERT, NotificationKind.ESCALATION, NotificationKind.RECOVERY)
    return sorted((n.target_key, n.kind.value, n.severity.name, n.created_at) for n in sent if n.kind in kinds)


@pytest.mark.slow  # half a day, a pass a minute, through HTTP: the slow tier (`make slow`)
def test_the_in_process_source_judges_as_the_http_indexer_path_does(tmp_path: Path) -> None:
    streams, hours, moments = made()
    over_http = alerts(through_http(tmp_path / "http", streams, hours, moments))
    (tmp_path / "core").mkdir()
    in_process: list[Notification] = []
    judge("rhythm", streams, hours, HOURS / 24, tmp_path / "core", sent=in_process)
    here = alerts(in_process)
    assert [(key, kind, level) for key, kind, level, _ in here] == [(k, kind, lv) for k, kind, lv, _ in over_http]
    for mine, theirs in zip(here, over_http, strict=True):
        assert abs(mine[3] - theirs[3]) <= timedelta(seconds=INTERVAL_S), (mine, theirs)
    # Every silence was alerted in both: the comparison is not of two empty lists.
    assert {Target.agent_key(a) for a in SILENCES} <= {key for key, kind, _, _ in here if kind == "alert"}


@settings(max_examples=200, deadline=None)
@given(
    hourly=st.dictionaries(st.integers(0, 4), st.sampled_from([1, 2, 3, 7, 18_000]), max_size=5),
    moments=st.lists(st.integers(0, 5 * HOUR_MS), max_size=6),
    lo=st.integers(-1000, 5 * HOUR_MS),
    width=st.integers(0, 2 * HOUR_MS),
)
def test_a_replayed_location_serves_exactly_its_events(
    hourly: dict[int, int], moments: list[int], lo: int, width: int
) -> None:
    fleet_ = Fleet(now=lambda: START)
    fleet_.add_agent("001", "a", started=START - timedelta(days=1), locations=[LOCATION])
    fleet_.replay("001", LOCATION, hourly=hourly, moments_ms=moments)
    every = sorted(moments + [h * HOUR_MS + k * HOUR_MS // n for h, n in hourly.items() for k in range(n)])
    inside = [m for m in every if lo <= m <= lo + width]
    assert fleet_.count_ms("001", LOCATION, lo, lo + width) == len(inside)
    assert fleet_.last_event_ms("001", LOCATION, lo, lo + width) == (inside[-1] if inside else None)


def test_a_night_quiet_source_is_judged_by_its_rhythm_from_its_first_read(tmp_path: Path) -> None:
    # A fresh state at 03:00 on a Monday: the office PC has been silent since Friday 17:00, as every weekend.
    monday = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    first = hour_index(monday) // 24 - 7
    office = {
        day * 24 + slot: 600
        for day in range(first, first + 7)
        for slot in range(9, 17)
        if (day + 3) % 7 < 5  # weekdays
    }
    clock = FakeClock(monday)
    served = Fleet(now=clock.now)
    served.add_agent("001", "pc-1", started=monday - timedelta(days=8), locations=[LOCATION])
    served.replay("001", LOCATION, hourly=office, moments_ms=[])
    targets = [Target.agent("001", "pc-1", INTERVAL_S, THRESHOLD_S)]
    with SimulatorServer(served, clock=clock) as sim:
        configured = simulator_settings(sim.api_url, sim.indexer_url, tmp_path, default_check_interval_s=INTERVAL_S)
        app = build(configured, targets, clock=clock, sleep=clock.advance, channels=[ConsoleNotifier(io.StringIO())])
        try:
            for _ in range(2):  # the first read (a week of history, written after the pass), then the next
                assert app.monitor.check(targets).notifications == []
                clock.advance(INTERVAL_S)
            clock.advance(6 * 3600.0 - 2 * INTERVAL_S + 5 * 60.0)  # 09:05: its day began, nothing came
            (alert,) = app.monitor.check(targets).notifications
        finally:
            app.close()
    assert alert.kind is NotificationKind.ALERT and alert.severity is Severity.WARNING  # 46 events expected by now
    assert "it usually sends about" in (alert.detail or "")
