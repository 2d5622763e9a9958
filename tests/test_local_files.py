"""Local log files with real files: growth counted, rotation and truncation followed, missing files reported."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from log_monitor.app import App, build
from log_monitor.clock import FakeClock
from log_monitor.config import Settings
from log_monitor.errors import ConfigError
from log_monitor.models import Condition, NotificationKind, Severity, Target, TargetKind
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.patterns import PatternTracker, parse_rules
from log_monitor.simulator.traffic import generate
from log_monitor.sources.local_files import MISSING_RECHECK_S, LocalFilesSource
from log_monitor.state import StateStore
from log_monitor.targets import load_targets

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite3") as made:
        yield made


def target(path: Path) -> Target:
    return Target(
        key=Target.file_key(str(path)),
        kind=TargetKind.LOCAL_FILE,
        label="nginx",
        interval_s=60,
        threshold_s=300,
        path=str(path),
    )


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def observe(
    store: StateStore, path: Path, at: datetime = NOW, *, meanwhile: Callable[[], object] = lambda: None
) -> tuple[int | None, datetime | None, str | None]:
    """One check of `path`; `meanwhile` runs during the pause before a vanished file is looked for again."""
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        meanwhile()

    found = LocalFilesSource(store, sleep=sleep).observe([target(path)], at)[Target.file_key(str(path))]
    assert not found.unknown
    assert pauses in ([], [MISSING_RECHECK_S])
    return found.events_in_window, found.last_event, found.problem or None


def seen(store: StateStore, path: Path, content: bytes) -> Path:
    """`path` written with `content` and checked once: the offset is at its end."""
    path.write_bytes(content)
    observe(store, path)
    return path


def test_first_sight_counts_nothing_then_new_lines_are_counted(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old\n" * 100)
    assert observe(store, log)[0] == 0
    append(log, b"new\n" * 7)
    count, last, _ = observe(store, log)
    assert count == 7
    assert last is not None
    assert observe(store, log)[0] == 0  # nothing new since


def test_rotation_by_rename_is_not_silence(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "access.log", b"a\n" * 10)
    log.rename(tmp_path / "access.log.1")
    log.write_bytes(b"b\n" * 3)
    assert observe(store, log)[0] == 3


def test_lines_written_just_before_a_rename_rotation_are_read_from_the_renamed_file(
    store: StateStore, tmp_path: Path
) -> None:
    log = seen(store, tmp_path / "access.log", b"a\n" * 10)
    append(log, b"late\n" * 2)
    log.rename(tmp_path / "access.log-20261122")
    log.write_bytes(b"b\n" * 3)
    assert observe(store, log)[0] == 5
    append(tmp_path / "access.log-20261122", b"never read again\n")  # once followed, the old file is left alone
    assert observe(store, log)[0] == 0


def test_a_rotation_caught_between_rename_and_create_loses_no_line(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "access.log", b"a\n" * 10)
    append(log, b"late\n" * 2)
    log.rename(tmp_path / "access.log.1")
    # The check lands between logrotate's rename and its create; the file is there when looked for again.
    count, _, status = observe(store, log, meanwhile=lambda: log.write_bytes(b"b\n" * 3))
    assert (count, status) == (5, None)


def test_copytruncate_is_followed_from_the_start(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "access.log", b"a\n" * 50)
    with log.open("r+b") as handle:
        handle.truncate(0)
    append(log, b"b\n" * 4)
    assert observe(store, log)[0] == 4


def test_copytruncate_then_more_growth_than_before_is_still_read_from_the_start(
    store: StateStore, tmp_path: Path
) -> None:
    log = seen(store, tmp_path / "access.log", b"10:00 old\n" * 5)
    with log.open("r+b") as handle:  # truncated in place, then busier than it ever was before the next check
        handle.truncate(0)
    append(log, b"10:05 new\n" * 20)
    assert observe(store, log)[0] == 20


def test_deletion_then_recreation_counts_the_new_file(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "app.log", b"a\n")
    log.unlink()
    assert observe(store, log)[2] == "file missing"  # still gone when looked for again
    assert observe(store, log)[2] == "file missing"  # and the next check does not pause again
    log.write_bytes(b"c\n" * 2)
    count, _, status = observe(store, log, NOW + timedelta(seconds=60))
    assert (count, status) == (2, None)


def test_a_file_renamed_away_and_not_recreated_is_missing_until_it_is_back(store: StateStore, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    os.utime(log, (NOW.timestamp(), NOW.timestamp()))
    observe(store, log)
    append(log, b"b\n")
    os.utime(log, (NOW.timestamp() + 50, NOW.timestamp() + 50))
    assert observe(store, log, NOW + timedelta(seconds=60))[0] == 1
    log.rename(tmp_path / "app.log.1")  # rotated with nocreate, and the writer has not reopened it
    count, last, status = observe(store, log, NOW + timedelta(seconds=120))
    assert (count, last, status) == (0, NOW + timedelta(seconds=50), "file missing")
    log.write_bytes(b"c\n" * 3)
    assert observe(store, log, NOW + timedelta(seconds=180))[0] == 3


def test_a_missing_file_is_reported_not_skipped(store: StateStore, tmp_path: Path) -> None:
    count, last, status = observe(store, tmp_path / "never.log")
    assert (count, last, status) == (0, None, "file missing")


def test_invalid_utf8_and_a_one_megabyte_line_are_counted(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "weird.log", b"")
    append(log, b"\xff\xfe broken \xc3\x28\n" + b"x" * (1 << 20) + b"\n")
    assert observe(store, log)[0] == 2


def test_positions_survive_a_new_process(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n")
    with StateStore(tmp_path / "s.sqlite3") as first:
        observe(first, log)
    append(log, b"b\n" * 5)
    with StateStore(tmp_path / "s.sqlite3") as second:
        assert observe(second, log)[0] == 5


def test_an_unreadable_path_says_why(store: StateStore, tmp_path: Path) -> None:
    # A directory where the file should be cannot be read, even by root.
    odd = tmp_path / "dir.log"
    odd.mkdir()
    count, _, status = observe(store, odd)
    assert count == 0
    assert status


def test_a_compressed_rotated_sibling_does_not_confuse(store: StateStore, tmp_path: Path) -> None:
    log = seen(store, tmp_path / "access.log", b"a\n" * 10)
    append(log, b"a\n" * 2)
    log.rename(tmp_path / "access.log.1")
    (tmp_path / "access.log.1.gz").write_bytes(gzip.compress((tmp_path / "access.log.1").read_bytes()))
    (tmp_path / "access.log.1").unlink()
    log.write_bytes(b"b\n" * 3)
    assert observe(store, log)[0] == 3
    append(log, b"b\n")
    assert observe(store, log)[0] == 1


def monitor_for(tmp_path: Path, targets: list[Target], clock: FakeClock, out: io.StringIO) -> App:
    settings = Settings(env_file=tmp_path / "x.env", base_dir=tmp_path, state_db=tmp_path / "state.sqlite3")
    channels: list[Notifier] = [ConsoleNotifier(out)]
    return build(settings, targets, clock=clock, sleep=clock.advance, channels=channels, host="m")


def test_a_missing_file_alerts_once_naming_the_service_and_recovers_when_back(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    clock, out = FakeClock(NOW), io.StringIO()
    with monitor_for(tmp_path, [target(log)], clock, out) as app:
        assert app.monitor.run_once().notifications == []
        log.unlink()
        kinds = []
        for _ in range(3):
            clock.advance(60)
            kinds += [(n.kind, n.condition) for n in app.monitor.run_once().notifications]
        assert kinds == [(NotificationKind.ALERT, Condition.MISSING)]
        text = out.getvalue()
        assert "missing" in text.lower() and "nginx" in text
        log.write_bytes(b"back\n")
        clock.advance(60)
        assert [n.kind for n in app.monitor.run_once().notifications] == [NotificationKind.RECOVERY]


def test_rotation_copytruncate_and_recreation_between_checks_raise_nothing(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"a\n")
    os.utime(log, (NOW.timestamp(), NOW.timestamp()))  # the file's clock and the monitor's agree
    clock, out = FakeClock(NOW), io.StringIO()
    with monitor_for(tmp_path, [target(log)], clock, out) as app:
        app.monitor.run_once()
        for rotate in ("rename", "copytruncate", "recreate"):
            clock.advance(60)
            if rotate == "rename":
                log.rename(tmp_path / f"app.log.{rotate}")
                log.write_bytes(b"x\n")
            elif rotate == "copytruncate":
                with log.open("r+b") as handle:
                    handle.truncate(0)
                append(log, b"y\n")
            else:
                log.unlink()
                log.write_bytes(b"z\n")
            os.utime(log, (clock.now().timestamp(), clock.now().timestamp()))
            result = app.monitor.run_once()
            assert result.notifications == [], out.getvalue()
            assert result.rows[0].observation.events_in_window == 1, rotate


def test_events_per_second_come_from_the_new_lines(tmp_path: Path, store: StateStore) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    source = LocalFilesSource(store)
    source.observe([target(log)], NOW)
    append(log, b"line\n" * 120)
    source.observe([target(log)], NOW + timedelta(seconds=60))
    assert source.watches[str(log)].events_per_s == 2.0


def test_a_partial_last_line_of_an_access_log_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    source = LocalFilesSource(None)
    access = replace(target(log), log_format="combined")
    source.observe([access], NOW)
    line = b'1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] "GET /a/b/c HTTP/1.1" 200 512 "-" "x"\n'
    append(log, line + line[:30])
    assert source.observe([access], NOW + timedelta(seconds=1))[access.key].events_in_window == 1
    append(log, line[30:])
    assert source.observe([access], NOW + timedelta(seconds=2))[access.key].events_in_window == 1
    traffic = source.watches[str(log)].traffic
    assert traffic is not None
    assert traffic.top_sections() == [("/a/b/", 2)] and traffic.malformed == 0


def test_a_pattern_rule_over_its_maximum_alerts_with_its_severity(tmp_path: Path) -> None:
    rules = tmp_path / "app.rules"
    rules.write_text("name,kind,severity,window,limit,regex\nerrors,max,critical,5m,2,Traceback|ERROR\n")
    log = tmp_path / "app.log"
    log.write_bytes(b"start\n")
    watched = replace(target(log), patterns_file=str(rules))
    clock, out = FakeClock(NOW), io.StringIO()
    with monitor_for(tmp_path, [watched], clock, out) as app:
        app.monitor.run_once()
        append(log, b"ok\nERROR one\nERROR two ERROR\n")
        clock.advance(10)
        assert app.monitor.run_once().notifications == []  # 2 lines: at the maximum, not over it
        append(log, b"Traceback (most recent call last)\n")
        clock.advance(10)
        notes = app.monitor.run_once().notifications
        assert [(n.condition, n.severity) for n in notes] == [(Condition.PATTERN, Severity.CRITICAL)]
        assert "3 matching lines" in out.getvalue() and "nginx" in out.getvalue()
        clock.advance(400)
        append(log, b"fine\n")
        assert [n.kind for n in app.monitor.run_once().notifications] == [NotificationKind.RECOVERY]


def test_a_heartbeat_rule_fires_when_its_line_stops() -> None:
    rules, problems = parse_rules("beat,heartbeat,warning,5m,0,HEARTBEAT\nbad,max,loud,5m,1,x\n", "r")
    assert problems == ["r:2: severity: expected warning or critical, got 'loud'"]
    tracker = PatternTracker(rules)
    start = NOW.timestamp()
    tracker.add(b"HEARTBEAT ok\n", start)
    assert tracker.firing(start + 299) == []
    fired = tracker.firing(start + 300)
    assert len(fired) == 1 and "heartbeat line missing for 5m" in fired[0].detail
    tracker.add(b"noise\nHEARTBEAT\n", start + 301)
    assert tracker.firing(start + 302) == []


def test_the_traffic_generator_turns_high_traffic_on_and_off_through_the_source(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    access = replace(target(log), log_format="combined")
    source = LocalFilesSource(None)
    start = int(NOW.timestamp())
    findings: list[Condition | None] = []
    for step in range(0, 2400, 10):
        rate = 50.0 if 1500 <= step < 1800 else 5.0
        ticks = iter(float(start + step + n) for n in range(12))
        generate(str(log), rate=rate, seconds=10, clock=ticks.__next__, sleep=lambda _: None, seed=step)
        seen = source.observe([access], NOW + timedelta(seconds=step + 10))[access.key]
        if not findings or seen.finding != findings[-1]:
            findings.append(seen.finding)
    assert findings == [None, Condition.HIGH_TRAFFIC, None]


def test_files_csv_extension_columns_give_format_margins_and_patterns(tmp_path: Path) -> None:
    (tmp_path / "agents.csv").write_text("agent_id,label\n")
    (tmp_path / "nginx.rules").write_text("errors,max,warning,5m,3,ERROR\n")
    (tmp_path / "files.csv").write_text(
        "path,service,threshold,maintenance,format,high_margin,low_fraction,patterns\n"
        "access.log,nginx,30m,,combined,50%,0.1,nginx.rules\n"
        "app.log,app,,,,,,\n"
        "bad.log,bad,,,json,-3,,missing.rules\n"
    )
    settings = Settings(
        env_file=tmp_path / "x.env",
        base_dir=tmp_path,
        agent_list_file=tmp_path / "agents.csv",
        local_files_list=tmp_path / "files.csv",
    )
    with pytest.raises(ConfigError) as caught:
        load_targets(settings)
    assert [p.split(": ")[1] for p in caught.value.problems] == ["format", "high_margin", "patterns"]
    (tmp_path / "files.csv").write_text((tmp_path / "files.csv").read_text().rsplit("bad.log", 1)[0])
    access, app_log = load_targets(settings)
    assert (access.log_format, access.traffic_high_margin, access.traffic_low_fraction) == ("combined", 0.5, 0.1)
    assert access.patterns_file == str(tmp_path / "nginx.rules")
    assert (app_log.log_format, app_log.patterns_file) == ("", None)


def test_traffic_and_heartbeat_rules_work_when_each_check_is_a_new_cron_run(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    rules = tmp_path / "web.rules"
    rules.write_text("beat,heartbeat,warning,10m,0,/health/\n")
    access = replace(target(log), log_format="combined", patterns_file=str(rules))
    start = int(NOW.timestamp())
    findings: list[Condition | None] = []
    for step in range(0, 7200, 300):  # cron every 5 minutes, a new process each time
        rate = 40.0 if 3600 <= step < 4500 else 5.0
        ticks = iter(float(start + step + n) for n in range(302))
        generate(str(log), rate=rate, seconds=300, clock=ticks.__next__, sleep=lambda _: None, seed=step)
        if step < 5400:
            beat = f'10.0.0.9 - - [{_logged(start + step + 299)}] "GET /health/ HTTP/1.1" 200 2 "-" "lb"\n'
            append(log, beat.encode())
        with StateStore(tmp_path / "cron.sqlite3") as store:
            seen = LocalFilesSource(store).observe([access], NOW + timedelta(seconds=step + 300))[access.key]
        if not findings or seen.finding != findings[-1]:
            findings.append(seen.finding)
    assert findings == [None, Condition.HIGH_TRAFFIC, None, Condition.PATTERN]


def _logged(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def test_saved_state_that_cannot_be_read_is_dropped_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    access = replace(target(log), log_format="combined")
    with StateStore(tmp_path / "s.sqlite3") as store:
        LocalFilesSource(store).observe([access], NOW)
        (position,) = store.file_positions().values()
        store.save_file_positions([replace(position, analysis='{"traffic": 1}')])
        append(log, b"not an access log line\n")
        seen = LocalFilesSource(store).observe([access], NOW + timedelta(seconds=60))[access.key]
        assert seen.events_in_window == 1 and not seen.unknown


def test_the_traffic_generator_command_drives_spike_and_drop_alerts_on_and_off(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"started\n")
    os.utime(log, (NOW.timestamp(), NOW.timestamp()))
    access = replace(target(log), log_format="combined", threshold_s=3600)
    clock, out = FakeClock(NOW), io.StringIO()
    phases = [(10.0, 1800), (40.0, 300), (10.0, 300), (1.0, 300), (10.0, 300)]  # normal, spike, normal, drop, normal
    seen: list[tuple[NotificationKind, Condition]] = []
    with monitor_for(tmp_path, [access], clock, out) as app:
        app.monitor.run_once()
        for rate, seconds in phases:
            start = clock.now().timestamp()
            command = [sys.executable, "-m", "log_monitor.simulator.traffic", str(log), "--rate", str(rate)]
            command += ["--seconds", str(seconds), "--start", str(start)]
            subprocess.run(command, check=True, capture_output=True, timeout=60)
            clock.advance(seconds)
            os.utime(log, (clock.now().timestamp(), clock.now().timestamp()))
            seen += [(n.kind, n.condition) for n in app.monitor.run_once().notifications]
    assert seen == [
        (NotificationKind.ALERT, Condition.HIGH_TRAFFIC),
        (NotificationKind.RECOVERY, Condition.OK),
        (NotificationKind.ALERT, Condition.LOW_TRAFFIC),
        (NotificationKind.RECOVERY, Condition.OK),
    ], out.getvalue()
    text = out.getvalue()
    assert "high traffic" in text and "nginx" in text and "Last event: never" not in text
    # The drop is told in a rate drop's words (docs/detection.md).
    assert "LOW TRAFFIC" in text and "events in the last 2m, normally" in text
