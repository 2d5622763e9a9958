"""The escalation policy: severity from silence, first alert, escalation, backoff reminders, recovery."""

from __future__ import annotations

import itertools
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.models import (
    Condition,
    MaintenanceWindow,
    Notification,
    NotificationKind,
    Observation,
    Severity,
    Target,
    TargetKind,
    TargetState,
)
from log_monitor.policy import (
    Assessment,
    Decision,
    assess,
    backend_step,
    in_maintenance,
    rate_dropped,
    reminder_delay,
    step,
)
from log_monitor.rhythm import Profile
from tests.helpers import default_policy

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = default_policy()  # 2x, 30 s delay, 7 d lookback, 30m x2 up to 24h, drop 0.1 of at least 20
AGENT = Target.agent("001", "web-1", 900.0)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def seen(at: datetime, last_event: datetime | None, **kw: object) -> Observation:
    return Observation(AGENT.key, at, last_event=last_event, events_in_window=1, **kw)  # type: ignore[arg-type]


def run(observations: list[Observation], state: TargetState | None = None) -> tuple[TargetState, list[Notification]]:
    state = state or TargetState(AGENT.key)
    sent: list[Notification] = []
    for obs in observations:
        decision = step(state, AGENT, obs, obs.at, POLICY)
        state = decision.state
        sent.extend(decision.notifications)
    return state, sent


def test_silence_below_the_threshold_is_ok() -> None:
    found = assess(AGENT, seen(T0, T0 - minutes(10)), T0, POLICY)
    assert found.severity is Severity.OK


def test_warning_at_the_threshold_and_critical_at_threshold_times_multiplier() -> None:
    last = T0 - minutes(15) - timedelta(seconds=30)
    assert assess(AGENT, seen(T0, last), T0, POLICY).severity is Severity.WARNING
    last = T0 - minutes(30) - timedelta(seconds=30)
    assert assess(AGENT, seen(T0, last), T0, POLICY).severity is Severity.CRITICAL


def test_late_indexed_events_do_not_raise_an_alert() -> None:
    # 15 minutes exactly since the last event, but 30 s of it are the indexing margin.
    found = assess(AGENT, seen(T0, T0 - minutes(15)), T0, POLICY)
    assert found.severity is Severity.OK


def test_disconnected_agent_is_reported_as_disconnected_not_silent() -> None:
    found = assess(AGENT, seen(T0, T0 - minutes(20), agent_status="disconnected"), T0, POLICY)
    assert found.condition is Condition.DISCONNECTED
    found = assess(AGENT, seen(T0, T0 - minutes(20), agent_status="active"), T0, POLICY)
    assert found.condition is Condition.SILENT


def test_expected_agent_with_no_event_in_lookback_is_never_seen_and_critical() -> None:
    found = assess(AGENT, seen(T0, None), T0, POLICY)
    assert (found.severity, found.condition) == (Severity.CRITICAL, Condition.NEVER_SEEN)
    assert found.silent_for_s == POLICY.lookback_s


def test_backend_error_is_unknown_never_silent() -> None:
    obs = Observation(AGENT.key, T0, error="indexer: connection refused")
    state, sent = run([obs])
    assert state.severity is Severity.UNKNOWN
    assert sent == []


def test_silent_agent_alerts_once_then_backs_off() -> None:
    last = T0
    times = [T0 + minutes(m) for m in range(16, 24 * 60, 1)]
    state, sent = run([seen(t, last) for t in times])
    kinds = [n.kind for n in sent]
    assert kinds[0] is NotificationKind.ALERT
    assert kinds[1] is NotificationKind.ESCALATION
    reminders = [n.created_at for n in sent if n.kind is NotificationKind.REMINDER]
    gaps = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(reminders)]
    assert gaps == [60, 120, 240, 480]
    assert state.alerted is Severity.CRITICAL


def test_alert_names_target_silence_and_host() -> None:
    _, sent = run([seen(T0 + minutes(20), T0)])
    note = sent[0]
    assert (note.kind, note.severity, note.condition) == (NotificationKind.ALERT, Severity.WARNING, Condition.SILENT)
    assert note.agent_id == "001"
    assert note.label == "web-1"
    assert note.host == "soc-monitor"
    assert note.last_event == T0
    assert note.silent_for_s == 20 * 60 - 30


def test_second_pass_at_once_sends_nothing_new() -> None:
    state, first = run([seen(T0 + minutes(20), T0)])
    _, second = run([seen(T0 + minutes(21), T0)], state)
    assert len(first) == 1
    assert second == []


def test_recovery_is_sent_once_with_how_long_the_silence_lasted() -> None:
    state, _ = run([seen(T0 + minutes(40), T0)])
    state, sent = run([seen(T0 + minutes(50), T0 + minutes(45))], state)
    assert [n.kind for n in sent] == [NotificationKind.RECOVERY]
    assert sent[0].silent_for_s == 45 * 60
    _, again = run([seen(T0 + minutes(51), T0 + minutes(50))], state)
    assert again == []


def test_recovery_resets_the_reminder_schedule_so_the_next_outage_alerts_at_once() -> None:
    state, _ = run([seen(T0 + minutes(m), T0) for m in (20, 40, 90)])
    state, _ = run([seen(T0 + minutes(100), T0 + minutes(99))], state)
    assert state == TargetState(
        AGENT.key, last_event=T0 + minutes(99), last_checked=T0 + minutes(100), agent_status=None
    )
    _, sent = run([seen(T0 + minutes(120), T0 + minutes(99))], state)
    assert [n.kind for n in sent] == [NotificationKind.ALERT]


def test_a_recovery_keeps_what_the_pass_saw_and_names_the_agent_by_its_latest_name() -> None:
    state, _ = run([seen(T0 + minutes(20), T0, agent_status="active", agent_name="web-1")])
    back = seen(
        T0 + minutes(30),
        T0 + minutes(29),
        agent_status="active",
        agent_name="web-1-renamed",
        recent=40,
        baseline=38.0,
        rate_window_s=3600.0,
    )
    state, sent = run([back], state)
    assert state == TargetState(
        AGENT.key,
        last_event=T0 + minutes(29),
        last_checked=T0 + minutes(30),
        agent_status="active",
        agent_name="web-1-renamed",
        recent=40,
        baseline=38.0,
        rate_window_s=3600.0,
    )
    assert [(n.kind, n.agent_name) for n in sent] == [(NotificationKind.RECOVERY, "web-1-renamed")]


def test_unknown_pass_keeps_the_episode_so_recovery_still_follows() -> None:
    state, _ = run([seen(T0 + minutes(20), T0)])
    state, _ = run([Observation(AGENT.key, T0 + minutes(25), error="down")], state)
    state, sent = run([seen(T0 + minutes(30), T0 + minutes(29))], state)
    assert [n.kind for n in sent] == [NotificationKind.RECOVERY]


def test_quiet_holds_back_alerts_and_the_alert_goes_out_when_quiet_ends() -> None:
    state = TargetState(AGENT.key)
    decision = step(state, AGENT, seen(T0 + minutes(20), T0), T0 + minutes(20), POLICY, quiet=True)
    assert decision.notifications == ()
    decision = step(decision.state, AGENT, seen(T0 + minutes(25), T0), T0 + minutes(25), POLICY)
    assert [n.kind for n in decision.notifications] == [NotificationKind.ALERT]


def test_reminder_delay_grows_exponentially_and_is_capped() -> None:
    assert [reminder_delay(k, POLICY) / 60 for k in range(8)] == [30, 60, 120, 240, 480, 960, 1440, 1440]


def test_backend_down_alerts_once_then_restored_once() -> None:
    state = TargetState("backend:indexer")
    first = backend_step(state, "indexer", "connection refused", T0, POLICY)
    second = backend_step(first.state, "indexer", "connection refused", T0 + minutes(5), POLICY)
    back = backend_step(second.state, "indexer", None, T0 + minutes(10), POLICY)
    assert [n.kind for n in first.notifications] == [NotificationKind.BACKEND_DOWN]
    assert second.notifications == ()
    assert [n.kind for n in back.notifications] == [NotificationKind.BACKEND_RESTORED]
    assert back.notifications[0].silent_for_s == 600


def test_notification_ids_are_stable_for_the_same_decision() -> None:
    _, first = run([seen(T0 + minutes(20), T0)])
    _, again = run([seen(T0 + minutes(20), T0)])
    assert first[0].id == again[0].id


# --- properties ------------------------------------------------------------------------

# One step of a scripted life: minutes that pass, and whether an event arrived, or the backend failed.
steps = st.lists(
    st.tuples(st.integers(min_value=1, max_value=240), st.sampled_from(["event", "quiet", "unknown"])),
    min_size=1,
    max_size=60,
)


def _simulate(script: list[tuple[int, str]], quiet_mask: list[bool] | None = None) -> list[Notification]:
    now = T0
    last_event: datetime | None = T0
    state = TargetState(AGENT.key)
    sent: list[Notification] = []
    for i, (gap, what) in enumerate(script):
        now += minutes(gap)
        if what == "event":
            last_event = now - minutes(1)
        obs = (
            Observation(AGENT.key, now, error="down")
            if what == "unknown"
            else Observation(AGENT.key, now, last_event=last_event, events_in_window=1)
        )
        quiet = bool(quiet_mask and quiet_mask[i % len(quiet_mask)])
        decision = step(state, AGENT, obs, now, POLICY, quiet=quiet)
        if decision.state.severity not in (Severity.OK, Severity.UNKNOWN) and state.severity not in (
            Severity.OK,
            Severity.UNKNOWN,
        ):
            # Severity never drops while the silence goes on.
            assert decision.state.severity >= state.severity or what == "event"
        state = decision.state
        sent.extend(decision.notifications)
    return sent


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_alerted_episode_has_exactly_one_first_alert_and_at_most_one_recovery(
    script: list[tuple[int, str]],
) -> None:
    sent = _simulate(script)
    open_episode = False
    for note in sent:
        if note.kind is NotificationKind.ALERT:
            assert not open_episode, "a second first alert inside one episode"
            open_episode = True
        elif note.kind is NotificationKind.RECOVERY:
            assert open_episode, "a recovery without an alert"
            open_episode = False
        else:
            assert open_episode, f"{note.kind} outside an alerted episode"


@settings(max_examples=300, deadline=None)
@given(steps)
def test_reminders_follow_the_backoff_formula(script: list[tuple[int, str]]) -> None:
    sent = _simulate(script)
    previous: Notification | None = None
    k = 0
    for note in sent:
        if note.kind in (NotificationKind.ALERT, NotificationKind.ESCALATION):
            previous, k = note, 0
        elif note.kind is NotificationKind.REMINDER:
            assert previous is not None
            gap = (note.created_at - previous.created_at).total_seconds()
            assert gap >= reminder_delay(k, POLICY)
            previous, k = note, k + 1
        else:
            previous, k = None, 0


@settings(max_examples=200, deadline=None)
@given(steps, st.lists(st.booleans(), min_size=1, max_size=5))
def test_nothing_but_recoveries_is_sent_while_quiet(script: list[tuple[int, str]], mask: list[bool]) -> None:
    sent = _simulate(script, mask)
    quiet_times = set()
    now = T0
    for i, (gap, _) in enumerate(script):
        now += minutes(gap)
        if mask[i % len(mask)]:
            quiet_times.add(now)
    for note in sent:
        if note.created_at in quiet_times:
            assert note.kind is NotificationKind.RECOVERY


@settings(max_examples=300, deadline=None)
@given(steps)
def test_each_episode_seen_past_the_threshold_gets_one_alert_and_ends_with_one_recovery(
    script: list[tuple[int, str]],
) -> None:
    sent = _simulate(script)
    # Replay the script to count, independently of the policy, the episodes observed past the threshold.
    now, last_event = T0, T0
    reached = ended = 0
    in_episode = False
    for gap, what in script:
        now += minutes(gap)
        if what == "unknown":
            continue
        if what == "event":
            last_event = now - minutes(1)
        silent = (now - last_event).total_seconds() - POLICY.indexing_delay_s
        if silent >= AGENT.threshold_s and not in_episode:
            in_episode, reached = True, reached + 1
        elif silent < AGENT.threshold_s and in_episode:
            in_episode, ended = False, ended + 1
    kinds = [n.kind for n in sent]
    assert kinds.count(NotificationKind.ALERT) == reached
    assert kinds.count(NotificationKind.RECOVERY) == ended


# --- every rule, table by table -------------------------------------------------------------------------------

FILE = Target(Target.file_key("/var/log/app.log"), TargetKind.LOCAL_FILE, "app", 900.0, 900.0, path="/var/log/app.log")


def ago(seconds: float) -> datetime:
    return T0 - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("target", "silent_s", "severity"),
    [
        # An agent's silence is measured from (now - the 30 s indexing delay).
        (AGENT, 930 - 0.001, Severity.OK),
        (AGENT, 930, Severity.WARNING),  # the threshold itself is a silence
        (AGENT, 1830 - 0.001, Severity.WARNING),
        (AGENT, 1830, Severity.CRITICAL),  # threshold x multiplier
        (AGENT, -600, Severity.OK),  # an event stamped in the future is no silence
        # A local file has no indexing delay.
        (FILE, 900 - 0.001, Severity.OK),
        (FILE, 900, Severity.WARNING),
        (FILE, 1800, Severity.CRITICAL),
    ],
)
def test_severity_from_silence_at_each_boundary(target: Target, silent_s: float, severity: Severity) -> None:
    obs = Observation(target.key, T0, last_event=ago(silent_s), events_in_window=1)
    found = assess(target, obs, T0, POLICY)
    assert found.severity is severity
    delay = 0.0 if target.kind is TargetKind.LOCAL_FILE else POLICY.indexing_delay_s
    assert found.silent_for_s == pytest.approx(max(0.0, silent_s - delay))
    if severity is Severity.OK:
        assert (found.condition, found.silence_start) == (Condition.OK, None)
    else:
        assert (found.condition, found.silence_start) == (Condition.SILENT, ago(silent_s))


@pytest.mark.parametrize(
    ("status", "keepalive_s", "severity", "condition", "silent_for"),
    [
        ("active", None, Severity.OK, Condition.OK, None),
        ("never_connected", None, Severity.CRITICAL, Condition.NEVER_SEEN, 7 * 86400.0),
        # Disconnected is at least WARNING whatever the keepalive's age, and CRITICAL past threshold x 2.
        ("disconnected", 60, Severity.WARNING, Condition.DISCONNECTED, 60.0),
        ("disconnected", 1799, Severity.WARNING, Condition.DISCONNECTED, 1799.0),
        ("disconnected", 1800, Severity.CRITICAL, Condition.DISCONNECTED, 1800.0),
        ("disconnected", -60, Severity.WARNING, Condition.DISCONNECTED, 0.0),  # the manager's clock ahead
        ("disconnected", None, Severity.CRITICAL, Condition.DISCONNECTED, 7 * 86400.0),
        # Expected but unknown to Wazuh (removed, re-enrolled under a new id): as never seen, in the source's words.
        ("not registered", 60, Severity.CRITICAL, Condition.NEVER_SEEN, 7 * 86400.0),
        ("pending", None, Severity.UNKNOWN, Condition.UNKNOWN, None),
        (None, None, Severity.UNKNOWN, Condition.UNKNOWN, None),
    ],
)
def test_an_agent_whose_events_no_source_counts_is_judged_by_its_keepalives(
    status: str | None, keepalive_s: float | None, severity: Severity, condition: Condition, silent_for: float | None
) -> None:
    keepalive = ago(keepalive_s) if keepalive_s is not None else None
    obs = Observation(
        AGENT.key, T0, agent_status=status, last_keepalive=keepalive, counts_events=False, detail="the source's words"
    )
    found = assess(AGENT, obs, T0, POLICY)
    assert (found.severity, found.condition, found.silent_for_s) == (severity, condition, silent_for)
    if condition is Condition.DISCONNECTED:
        assert (found.silence_start, found.detail) == (keepalive, "the source's words")
    if status == "not registered":
        assert (found.silence_start, found.detail) == (None, "the source's words")
    if severity is Severity.UNKNOWN:
        assert found.detail == f"agent status {status or 'unknown'}; events are not counted".replace(
            "status unknown", "status unknown"
        )


def test_an_uncounted_agent_that_never_connected_says_so() -> None:
    obs = Observation(AGENT.key, T0, agent_status="never_connected", counts_events=False)
    assert assess(AGENT, obs, T0, POLICY).detail == "never connected"


@pytest.mark.parametrize(
    ("last_s", "severity", "silent_for"),
    [(60, Severity.WARNING, 60.0), (2000, Severity.CRITICAL, 2000.0), (None, Severity.CRITICAL, 7 * 86400.0)],
)
def test_a_missing_file_is_its_own_alert_at_least_warning_without_waiting_for_the_threshold(
    last_s: float | None, severity: Severity, silent_for: float
) -> None:
    last = ago(last_s) if last_s is not None else None
    obs = Observation(FILE.key, T0, last_event=last, problem="missing", detail="no such file")
    found = assess(FILE, obs, T0, POLICY)
    assert (found.severity, found.condition, found.silent_for_s) == (severity, Condition.MISSING, silent_for)
    assert (found.silence_start, found.detail) == (last, "no such file")


@pytest.mark.parametrize(
    ("last_s", "severity", "condition", "detail"),
    [
        # A failed source cannot prove silence: what would be a silence is UNKNOWN, with the failure's words.
        (1000, Severity.UNKNOWN, Condition.UNKNOWN, "indexer: timed out"),
        (None, Severity.UNKNOWN, Condition.UNKNOWN, "indexer: timed out"),
        # But the recency the other source proves still counts.
        (60, Severity.OK, Condition.OK, ""),
    ],
)
def test_a_failed_source_cannot_prove_silence_but_recency_still_counts(
    last_s: float | None, severity: Severity, condition: Condition, detail: str
) -> None:
    last = ago(last_s) if last_s is not None else None
    obs = Observation(AGENT.key, T0, last_event=last, incomplete="indexer: timed out")
    found = assess(AGENT, obs, T0, POLICY)
    assert (found.severity, found.condition, found.detail) == (severity, condition, detail)


def test_an_incomplete_disconnect_is_unknown_too() -> None:
    obs = Observation(AGENT.key, T0, agent_status="disconnected", counts_events=False, incomplete="indexer: timed out")
    assert assess(AGENT, obs, T0, POLICY).severity is Severity.UNKNOWN


@pytest.mark.parametrize(
    ("obs", "severity", "condition"),
    [
        (dict(error="down"), Severity.UNKNOWN, Condition.UNKNOWN),
        (dict(error="down", problem="missing"), Severity.UNKNOWN, Condition.UNKNOWN),  # unknown before all
        (dict(drops=0), Severity.OK, Condition.OK),  # none dropped since the last check
        (dict(drops=1), Severity.WARNING, Condition.DROPPING),  # one event lost is a location dropping
        (dict(drops=12, last_event=ago(2000)), Severity.CRITICAL, Condition.SILENT),  # silence first
        (dict(finding=Condition.HIGH_TRAFFIC), Severity.WARNING, Condition.HIGH_TRAFFIC),
        (
            dict(finding=Condition.PATTERN, finding_severity=Severity.CRITICAL),
            Severity.CRITICAL,
            Condition.PATTERN,
        ),
        (dict(finding=Condition.LOW_TRAFFIC, drops=3), Severity.WARNING, Condition.DROPPING),  # drops first
    ],
)
def test_what_wins_when_an_observation_says_several_things(
    obs: dict[str, object], severity: Severity, condition: Condition
) -> None:
    full: dict[str, object] = {"last_event": ago(60), "detail": "words"} | obs
    found = assess(AGENT, Observation(AGENT.key, T0, **full), T0, POLICY)  # type: ignore[arg-type]
    assert (found.severity, found.condition) == (severity, condition)
    if severity is Severity.UNKNOWN:
        assert found.detail == "down"
    elif severity is not Severity.OK:
        assert found.detail == "words"


def rated(
    recent: int | None, baseline: float | None, *, days: int = 7, last_s: float = 60, window_s: float = 3600.0
) -> Observation:
    return Observation(
        AGENT.key,
        T0,
        last_event=ago(last_s),
        recent=recent,
        baseline=baseline,
        history_days=days,
        rate_window_s=window_s,
    )


@pytest.mark.parametrize(
    ("obs", "target", "dropping", "dropped"),
    [
        (rated(9, 100.0), AGENT, False, True),  # below 0.1 of the baseline
        (rated(10, 100.0), AGENT, False, False),  # at the ratio: not below it
        (rated(0, 100.0), AGENT, False, False),  # nothing arriving: the silence rule's, not a drop
        # Events still arriving: the last one (less the indexing delay) within half the window.
        (rated(9, 100.0, last_s=331, window_s=600.0), AGENT, False, False),
        (rated(9, 100.0, last_s=330, window_s=600.0), AGENT, False, True),
        (rated(9, 100.0, days=2), AGENT, False, False),  # a new source has no normal yet
        (rated(9, 100.0, days=3), AGENT, False, True),
        (rated(1, 19.9), AGENT, False, False),  # sparser than DROP_MIN_BASELINE: judged by silence only
        (rated(1, 20.0), AGENT, False, True),
        (rated(None, 100.0), AGENT, False, False),
        (rated(9, None), AGENT, False, False),
        (rated(9, 100.0), replace(AGENT, drop_ratio=0.0), False, False),  # the target's own 0: off
        (rated(40, 100.0), replace(AGENT, drop_ratio=0.5), False, True),  # the target's own ratio
        (rated(50, 100.0), replace(AGENT, drop_ratio=0.5), False, False),
        # An ongoing drop lasts until half the baseline, whatever the days and the arrivals.
        (rated(49, 100.0), AGENT, True, True),
        (rated(50, 100.0), AGENT, True, False),
        (rated(0, 100.0, days=0), AGENT, True, True),
        (rated(69, 100.0), replace(AGENT, drop_ratio=0.7), True, True),  # a ratio above half holds to itself
        (rated(70, 100.0), replace(AGENT, drop_ratio=0.7), True, False),
    ],
)
def test_a_rate_drop_needs_a_baseline_arrivals_and_a_count_below_the_ratio(
    obs: Observation, target: Target, dropping: bool, dropped: bool
) -> None:
    found = assess(target, obs, T0, POLICY, dropping=dropping)
    if dropped:
        assert (found.severity, found.condition) == (Severity.WARNING, Condition.RATE_DROP)
        assert found.detail != ""
    else:
        assert found.severity is Severity.OK


def test_a_rate_drop_is_off_with_drop_ratio_zero() -> None:
    policy = default_policy(drop_ratio=0.0)
    assert assess(AGENT, rated(1, 100.0), T0, policy).severity is Severity.OK
    assert assess(AGENT, rated(1, 100.0), T0, policy, dropping=True).severity is Severity.OK


def test_a_zero_baseline_is_no_baseline() -> None:
    policy = default_policy(drop_min_baseline=0.0)
    assert assess(AGENT, rated(0, 0.0), T0, policy).severity is Severity.OK


def test_a_silence_wins_over_a_rate_drop() -> None:
    found = assess(AGENT, rated(1, 100.0, last_s=1000), T0, POLICY)
    assert (found.severity, found.condition) == (Severity.WARNING, Condition.SILENT)


def test_a_rate_drop_episode_stays_open_while_the_count_is_under_half_then_recovers_once() -> None:
    state = TargetState(AGENT.key)
    kinds = []
    for recent in (5, 30, 49, 50):
        decision = step(state, AGENT, rated(recent, 100.0), T0, POLICY)
        state = decision.state
        kinds.append((state.condition, [n.kind for n in decision.notifications]))
    assert kinds == [
        (Condition.RATE_DROP, [NotificationKind.ALERT]),
        (Condition.RATE_DROP, []),
        (Condition.RATE_DROP, []),
        (Condition.OK, [NotificationKind.RECOVERY]),
    ]


@pytest.mark.parametrize(
    ("window", "at", "inside"),
    [
        ("09:00-17:00", "Mon 09:00", True),
        ("09:00-17:00", "Mon 08:59", False),
        ("09:00-17:00", "Mon 17:00", False),
        ("22:00-02:00", "Mon 23:00", True),  # across midnight: the start day's evening
        ("22:00-02:00", "Tue 01:59", True),  # and the next day's morning
        ("22:00-02:00", "Tue 02:00", False),
        ("22:00-02:00", "Sun 23:00", False),  # the window is Mon-Fri: Sunday's evening is not in it
        ("22:00-02:00", "Mon 01:00", False),  # nor Monday's morning (Sunday's window)
        ("22:00-02:00", "Sat 01:00", True),  # Friday's window ends on Saturday
    ],
)
def test_a_maintenance_window_is_read_on_its_zones_wall_clock(window: str, at: str, inside: bool) -> None:
    start, end = ((int(p[:2]) * 60 + int(p[3:])) for p in window.split("-"))
    weekdays = MaintenanceWindow(frozenset(range(5)), start, end, window)
    day, clock = at.split()
    # 2026-11-23 is a Monday; the zone is UTC-5, so the instant given is 5 hours later in UTC.
    local = datetime(2026, 11, 23 + ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index(day), tzinfo=UTC)
    local += timedelta(hours=int(clock[:2]), minutes=int(clock[3:]))
    instant = local + timedelta(hours=5)
    assert in_maintenance((weekdays,), instant, timezone(timedelta(hours=-5))) is inside
    assert in_maintenance((), instant, timezone(timedelta(hours=-5))) is False


def test_a_maintenance_window_without_a_zone_is_read_on_the_hosts_clock() -> None:
    local = T0.astimezone()
    minute = local.hour * 60 + local.minute
    window = MaintenanceWindow(frozenset(range(7)), minute, (minute + 1) % 1440, "now")
    assert in_maintenance((window,), T0, None) is True
    assert in_maintenance((window,), T0 + minutes(1), None) is False


@pytest.mark.parametrize(
    ("initial", "factor", "cap", "delays"),
    [
        (1800.0, 2.0, 86400.0, [1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400]),
        (60.0, 3.0, 500.0, [60, 180, 500, 500]),
        (60.0, 3.0, 540.0, [60, 180, 540, 540]),  # reaching the cap exactly
        (600.0, 2.0, 300.0, [300, 300]),  # a cap below the first delay
        (60.0, 1.0, 3600.0, [60, 60, 60]),
    ],
)
def test_the_reminder_backoff_grows_by_its_factor_up_to_its_cap(
    initial: float, factor: float, cap: float, delays: list[float]
) -> None:
    policy = default_policy(reminder_initial_s=initial, reminder_factor=factor, reminder_max_s=cap)
    assert [reminder_delay(k, policy) for k in range(len(delays))] == delays


def test_escalation_only_from_warning_to_critical_and_it_restarts_the_backoff() -> None:
    state, sent = run([seen(T0 + minutes(20), T0), seen(T0 + minutes(31), T0)])
    assert [(n.kind, n.severity) for n in sent] == [
        (NotificationKind.ALERT, Severity.WARNING),
        (NotificationKind.ESCALATION, Severity.CRITICAL),
    ]
    assert (state.alerted, state.alerts_sent, state.reminders_sent) == (Severity.CRITICAL, 2, 0)
    assert state.next_reminder_at == T0 + minutes(31) + minutes(30)
    assert state.last_alert_at == T0 + minutes(31)


def test_a_first_alert_at_critical_is_an_alert_and_no_escalation_follows() -> None:
    state, sent = run([seen(T0 + minutes(40), T0), seen(T0 + minutes(41), T0)])
    assert [(n.kind, n.severity) for n in sent] == [(NotificationKind.ALERT, Severity.CRITICAL)]
    assert state.since == T0


def test_a_reminder_goes_out_at_its_time_not_before_and_counts() -> None:
    state, _ = run([seen(T0 + minutes(20), T0)])
    assert state.next_reminder_at == T0 + minutes(50)
    state, early = run([seen(T0 + minutes(29), T0)], state)
    assert early == []
    # Still a WARNING (the threshold x 2 is 30 min + 30 s): the reminder is due at 50 min, exactly.
    policy_state, sent = run([seen(T0 + minutes(50), T0 + minutes(21))], state)
    assert [(n.kind, n.severity) for n in sent] == [(NotificationKind.REMINDER, Severity.WARNING)]
    assert policy_state.reminders_sent == 1
    assert policy_state.alerts_sent == 2
    assert policy_state.next_reminder_at == T0 + minutes(50) + minutes(60)


def test_a_silence_that_falls_back_to_warning_after_critical_only_reminds() -> None:
    state, _ = run([seen(T0 + minutes(40), T0)])
    # A late event makes the silence shorter: WARNING now, but CRITICAL was announced.
    state, sent = run([seen(T0 + minutes(71), T0 + minutes(50))], state)
    assert [(n.kind, n.severity) for n in sent] == [(NotificationKind.REMINDER, Severity.WARNING)]
    assert state.alerted is Severity.CRITICAL
    assert state.since == T0 + minutes(50)


def test_the_alerts_last_event_is_the_silence_start_or_for_a_finding_the_targets_last_event() -> None:
    _, sent = run([seen(T0 + minutes(20), T0)])
    assert sent[0].last_event == T0
    finding = seen(T0 + minutes(21), T0 + minutes(20), finding=Condition.HIGH_TRAFFIC, detail="4x the usual")
    state, sent = run([finding])
    assert [(n.kind, n.condition, n.last_event, n.detail) for n in sent] == [
        (NotificationKind.ALERT, Condition.HIGH_TRAFFIC, T0 + minutes(20), "4x the usual")
    ]
    assert state.since is None


def test_an_unknown_pass_keeps_the_episode_and_what_was_seen() -> None:
    state, _ = run([seen(T0 + minutes(20), T0, agent_status="active", agent_name="web-1")])
    unknown = Observation(AGENT.key, T0 + minutes(25), error="down")
    after = step(state, AGENT, unknown, unknown.at, POLICY)
    assert after.notifications == ()
    assert after.state == replace(
        state,
        severity=Severity.UNKNOWN,
        condition=Condition.UNKNOWN,
        last_checked=T0 + minutes(25),
        recent=None,
        baseline=None,
        rate_window_s=None,
    )


def test_an_ok_pass_keeps_what_the_state_knew_when_the_observation_does_not_say() -> None:
    before = TargetState(AGENT.key, last_event=T0 - minutes(5), agent_status="active", agent_name="web-1")
    decision = step(before, AGENT, Observation(AGENT.key, T0, counts_events=False, agent_status=None), T0, POLICY)
    assert decision.state.severity is Severity.UNKNOWN  # no status, no count: nothing proves it alive
    fresh = step(before, AGENT, Observation(AGENT.key, T0, agent_status="active", counts_events=False), T0, POLICY)
    assert fresh.state == TargetState(
        AGENT.key, last_event=T0 - minutes(5), last_checked=T0, agent_status="active", agent_name="web-1"
    )


def test_a_silent_pass_keeps_what_the_state_knew_when_the_observation_does_not_say() -> None:
    before = TargetState(AGENT.key, last_event=T0 - minutes(60), agent_status="active", agent_name="web-1")
    decision = step(before, AGENT, Observation(AGENT.key, T0), T0, POLICY)
    state = decision.state
    assert (state.last_event, state.agent_status, state.agent_name) == (T0 - minutes(60), "active", "web-1")
    assert (state.severity, state.condition, state.since) == (Severity.CRITICAL, Condition.NEVER_SEEN, None)


def test_quiet_keeps_the_severity_and_the_silence_start_but_announces_nothing() -> None:
    decision = step(TargetState(AGENT.key), AGENT, seen(T0, T0 - minutes(40)), T0, POLICY, quiet=True)
    state = decision.state
    assert decision.notifications == ()
    assert (state.severity, state.condition, state.since, state.alerted) == (
        Severity.CRITICAL,
        Condition.SILENT,
        T0 - minutes(40),
        Severity.OK,
    )
    assert (state.alerts_sent, state.next_reminder_at) == (0, None)


@pytest.mark.parametrize(
    ("since", "back_at", "lasted"),
    [
        (T0, T0 + minutes(45), 45 * 60.0),
        (T0 + minutes(49), T0 + minutes(45), 0.0),  # an event older than the silence's start: never negative
        (None, T0 + minutes(45), None),  # an episode without a start (a finding): no length
    ],
)
def test_a_recovery_says_how_long_the_silence_lasted(
    since: datetime | None, back_at: datetime, lasted: float | None
) -> None:
    state = TargetState(AGENT.key, severity=Severity.WARNING, since=since, alerted=Severity.WARNING, alerts_sent=1)
    decision = step(state, AGENT, seen(T0 + minutes(50), back_at), T0 + minutes(50), POLICY)
    [note] = decision.notifications
    assert (note.kind, note.severity, note.condition) == (NotificationKind.RECOVERY, Severity.OK, Condition.OK)
    assert (note.silent_for_s, note.last_event) == (lasted, back_at)


def test_a_recovery_without_an_event_seen_has_no_length() -> None:
    state = TargetState(AGENT.key, severity=Severity.WARNING, since=T0, alerted=Severity.WARNING, alerts_sent=1)
    active = Observation(AGENT.key, T0 + minutes(50), agent_status="active", counts_events=False)
    [note] = step(state, AGENT, active, active.at, POLICY).notifications
    assert (note.kind, note.silent_for_s, note.last_event) == (NotificationKind.RECOVERY, None, None)


def test_a_notification_names_the_target_its_location_and_the_host() -> None:
    location = Target.agent("007", "db-1 auth", 900.0, location="/var/log/auth.log")
    obs = Observation(location.key, T0, last_event=ago(1000), agent_name="db-1", detail="why")
    [note] = step(TargetState(location.key), location, obs, T0, POLICY).notifications
    assert (note.target_key, note.label, note.agent_id, note.location, note.agent_name) == (
        location.key,
        "db-1 auth",
        "007",
        "/var/log/auth.log",
        "db-1",
    )
    assert (note.host, note.created_at, note.detail, note.related) == ("soc-monitor", T0, "why", ())
    assert note.silent_for_s == 1000 - POLICY.indexing_delay_s
    [file_note] = step(
        TargetState(FILE.key), FILE, Observation(FILE.key, T0, last_event=ago(1000)), T0, POLICY
    ).notifications
    assert file_note.location == "/var/log/app.log"


def test_notification_ids_differ_between_decisions() -> None:
    _, sent = run([seen(T0 + minutes(m), T0) for m in (20, 31, 62, 123)])
    ids = [n.id for n in sent]
    assert len(ids) == len(set(ids)) == 4
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    # Same moment and count, another target: another id.
    other = Target.agent("002", "web-2", 900.0)
    [note] = step(
        TargetState(other.key), other, Observation(other.key, T0, last_event=ago(1000)), T0, POLICY
    ).notifications
    [mine] = step(
        TargetState(AGENT.key), AGENT, Observation(AGENT.key, T0, last_event=ago(1000)), T0, POLICY
    ).notifications
    assert note.id != mine.id


# --- a shared part: a backend, the pipeline ---------------------------------------------------------------------


def test_a_backend_down_reminds_with_backoff_and_its_notice_back_says_how_long() -> None:
    state = TargetState("backend:api")
    times = [T0 + minutes(m) for m in (0, 29, 30, 89, 90, 210)]
    kinds = []
    for now in times:
        decision = backend_step(state, "Wazuh API", "refused", now, POLICY)
        state = decision.state
        kinds.append([(n.kind, n.silent_for_s, n.detail) for n in decision.notifications])
    assert kinds == [
        [(NotificationKind.BACKEND_DOWN, 0.0, "refused")],
        [],
        [(NotificationKind.BACKEND_DOWN, 30 * 60.0, "refused")],
        [],
        [(NotificationKind.BACKEND_DOWN, 90 * 60.0, "refused")],
        [(NotificationKind.BACKEND_DOWN, 210 * 60.0, "refused")],
    ]
    assert (state.since, state.alerts_sent, state.reminders_sent, state.last_alert_at) == (T0, 4, 3, times[-1])
    assert state.next_reminder_at == times[-1] + minutes(240)
    assert (state.severity, state.condition, state.alerted) == (Severity.UNKNOWN, Condition.UNKNOWN, Severity.UNKNOWN)
    quiet = backend_step(state, "Wazuh API", "refused", T0 + minutes(211), POLICY)
    assert quiet.notifications == ()
    assert quiet.state == replace(state, last_checked=T0 + minutes(211))
    back = backend_step(state, "Wazuh API", None, T0 + minutes(300), POLICY)
    assert [(n.kind, n.severity, n.condition, n.silent_for_s, n.label) for n in back.notifications] == [
        (NotificationKind.BACKEND_RESTORED, Severity.OK, Condition.OK, 300 * 60.0, "Wazuh API")
    ]
    assert back.state == TargetState("backend:api", last_checked=T0 + minutes(300))


def test_a_healthy_backend_that_never_failed_sends_nothing() -> None:
    decision = backend_step(TargetState("backend:api"), "Wazuh API", None, T0, POLICY)
    assert decision == Decision(TargetState("backend:api", last_checked=T0), ())


def test_a_restored_notice_of_an_episode_without_a_start_has_no_length() -> None:
    state = TargetState("backend:api", severity=Severity.UNKNOWN, alerted=Severity.UNKNOWN)
    [note] = backend_step(state, "Wazuh API", None, T0, POLICY).notifications
    assert note.silent_for_s is None


def test_the_pipeline_kind_is_critical_silent_and_lists_its_targets() -> None:
    decision = backend_step(
        TargetState("pipeline:all"),
        "Wazuh pipeline",
        "5 of 5 agents silent in one pass",
        T0,
        POLICY,
        down=NotificationKind.PIPELINE_SILENT,
        up=NotificationKind.PIPELINE_RESTORED,
        severity=Severity.CRITICAL,
        related=("agent:001", "agent:002"),
    )
    [note] = decision.notifications
    assert (note.kind, note.severity, note.condition, note.related) == (
        NotificationKind.PIPELINE_SILENT,
        Severity.CRITICAL,
        Condition.SILENT,
        ("agent:001", "agent:002"),
    )
    assert (decision.state.severity, decision.state.alerted) == (Severity.CRITICAL, Severity.CRITICAL)
    back = backend_step(
        decision.state, "Wazuh pipeline", None, T0 + minutes(5), POLICY, up=NotificationKind.PIPELINE_RESTORED
    )
    assert [n.kind for n in back.notifications] == [NotificationKind.PIPELINE_RESTORED]


# --- what the words and the remembered figures are -------------------------------------------------------------


def test_a_rate_drop_says_its_numbers() -> None:
    found = assess(AGENT, rated(5, 100.0), T0, POLICY)
    assert found.detail == (
        "web-1: 5 events in the last 1h, normally 100 (median of the same 1 hour on the last 7 days), 5.0%"
    )


def test_an_ongoing_drop_to_nothing_without_a_window_still_says_its_numbers() -> None:
    obs = replace(rated(0, 100.0), rate_window_s=None)
    found = assess(AGENT, obs, T0, POLICY, dropping=True)
    assert found.detail == (
        "web-1: 0 events in the last 0s, normally 100 (median of the same 0 seconds on the last 7 days), 0.0%"
    )


def test_a_rate_without_a_window_proves_no_arrival() -> None:
    # The last event a quarter second past the indexing delay: within no half window.
    obs = replace(rated(5, 100.0, last_s=30.25), rate_window_s=None)
    assert assess(AGENT, obs, T0, POLICY).severity is Severity.OK


def test_rate_dropped_alone_judges_a_new_drop_unless_told_one_is_ongoing() -> None:
    obs = rated(30, 100.0)
    assert rate_dropped(AGENT, obs, POLICY, 30.0) is False
    assert rate_dropped(AGENT, obs, POLICY, 30.0, dropping=True) is True


def test_never_seen_and_unknown_carry_the_sources_words() -> None:
    assert assess(AGENT, Observation(AGENT.key, T0, detail="no events since"), T0, POLICY).detail == "no events since"
    assert assess(AGENT, Observation(AGENT.key, T0, error=""), T0, POLICY).detail == ""


def test_a_silent_pass_takes_the_newest_status_and_rate_keeping_the_old_status_when_none_is_given() -> None:
    before = TargetState(AGENT.key, agent_status="active", agent_name="web-1")
    obs = Observation(
        AGENT.key, T0, last_event=ago(1000), agent_status="disconnected", recent=1, baseline=9.0, rate_window_s=60.0
    )
    state = step(before, AGENT, obs, T0, POLICY).state
    assert (state.agent_status, state.recent, state.baseline, state.rate_window_s) == ("disconnected", 1, 9.0, 60.0)
    state = step(before, AGENT, Observation(AGENT.key, T0, last_event=ago(1000)), T0, POLICY).state
    assert state.agent_status == "active"


def test_an_ok_pass_takes_the_newest_status_keeping_the_old_one_when_none_is_given() -> None:
    before = TargetState(AGENT.key, agent_status="disconnected")
    assert step(before, AGENT, seen(T0, ago(60), agent_status="active"), T0, POLICY).state.agent_status == "active"
    assert step(before, AGENT, seen(T0, ago(60)), T0, POLICY).state.agent_status == "disconnected"


def test_an_episode_keeps_its_start_when_a_finding_without_one_follows_the_silence() -> None:
    state, _ = run([seen(T0 + minutes(20), T0)])
    state, sent = run([seen(T0 + minutes(21), T0 + minutes(21), drops=4)], state)
    assert (state.condition, state.since, sent) == (Condition.DROPPING, T0, [])


def test_a_disconnect_alert_names_the_last_keepalive_as_its_last_event() -> None:
    before = TargetState(AGENT.key, last_event=ago(9000))
    obs = Observation(AGENT.key, T0, agent_status="disconnected", last_keepalive=ago(120), counts_events=False)
    [note] = step(before, AGENT, obs, T0, POLICY).notifications
    assert (note.kind, note.condition, note.last_event) == (NotificationKind.ALERT, Condition.DISCONNECTED, ago(120))


def test_an_escalation_after_reminders_restarts_the_backoff_at_its_first_step() -> None:
    # WARNING alerted at 20 min, reminded at 50: then CRITICAL escalates at 62, the next reminder 30 min on.
    state, _ = run([seen(T0 + minutes(20), T0), seen(T0 + minutes(50), T0 + minutes(21))])
    assert state.reminders_sent == 1
    state, sent = run([seen(T0 + minutes(62), T0 + minutes(21))], state)
    assert [n.kind for n in sent] == [NotificationKind.ESCALATION]
    assert state.next_reminder_at == T0 + minutes(62) + minutes(30)


def test_a_recovery_carries_no_words_of_its_own() -> None:
    state, _ = run([seen(T0 + minutes(20), T0, detail="why")])
    _, sent = run([seen(T0 + minutes(21), T0 + minutes(21))], state)
    assert [(n.kind, n.detail) for n in sent] == [(NotificationKind.RECOVERY, "")]


def test_two_episodes_of_one_target_recovering_at_the_same_moment_have_different_ids() -> None:
    def recovery(since: datetime) -> Notification:
        state = TargetState(AGENT.key, severity=Severity.WARNING, since=since, alerted=Severity.WARNING, alerts_sent=1)
        [note] = step(state, AGENT, seen(T0, ago(60)), T0, POLICY).notifications
        return note

    assert recovery(ago(3600)).id != recovery(ago(7200)).id
    assert recovery(ago(3600)).id == recovery(ago(3600)).id


# --- silence by the target's own rhythm (SILENCE_MODE=rhythm) --------------------------------------------------


def steady(per_hour: float, days: int = 7, per_day: float | None = None) -> Profile:
    """A history of `per_hour` events in every hour, weekdays and weekends alike."""
    return Profile(array("d", [per_hour] * 48), days, per_hour * 24 if per_day is None else per_day)


FIXED_WARNING = (Severity.WARNING, "the source's words")  # 20 minutes silent against the 15-minute threshold


def said(duration: str, events: str) -> str:
    return f"silent for {duration}; it usually sends about {events} events in that time; the source's words"


SPARSE = steady(0.5, per_day=100)  # an event every other hour, not learning


@pytest.mark.parametrize(
    ("target", "profile", "silent_s", "changes", "found"),
    [
        # The events the profile expects in the silence decide: 20 and more WARNING, 100 and more CRITICAL.
        (AGENT, steady(120), 600, {}, (Severity.WARNING, said("10 min", "20"))),
        (AGENT, steady(600), 600, {}, (Severity.CRITICAL, said("10 min", "100"))),
        (AGENT, steady(30), 1200, {}, (Severity.OK, None)),  # 10 expected: OK, past the fixed threshold too
        (AGENT, steady(30), 1200, {"rhythm_warn_events": 10.0}, (Severity.WARNING, said("20 min", "10"))),
        (AGENT, steady(30), 1200, {"rhythm_crit_events": 10.0}, (Severity.CRITICAL, said("20 min", "10"))),
        # The hard cap: a silence as long as RHYTHM_MAX_SILENCE in the target's active hours, however sparse.
        (AGENT, SPARSE, 7200, {"rhythm_max_silence_s": 7200.0}, (Severity.CRITICAL, said("2 h", "1"))),
        (AGENT, SPARSE, 7199, {"rhythm_max_silence_s": 7200.0}, (Severity.OK, None)),
        # Judged by the fixed threshold: no profile, still learning (under 3 days or sparser than DROP_MIN_BASELINE
        # a day), a local file, or SILENCE_MODE=fixed.
        (AGENT, None, 1200, {}, FIXED_WARNING),
        (AGENT, steady(30, days=2), 1200, {}, FIXED_WARNING),
        (AGENT, steady(30, per_day=19), 1200, {}, FIXED_WARNING),
        (AGENT, steady(30, per_day=20), 1200, {}, (Severity.OK, None)),
        (AGENT, steady(30), 1200, {"silence_mode": "fixed"}, FIXED_WARNING),
        (FILE, steady(30), 1230, {}, FIXED_WARNING),  # no indexing delay: 20.5 minutes
    ],
)
def test_a_silence_is_judged_by_the_events_the_targets_rhythm_expects_in_it(
    target: Target,
    profile: Profile | None,
    silent_s: float,
    changes: dict[str, object],
    found: tuple[Severity, str | None],
) -> None:
    policy = replace(POLICY, **changes)  # type: ignore[arg-type]
    last = ago(silent_s + POLICY.indexing_delay_s)
    obs = Observation(target.key, T0, last_event=last, events_in_window=0, detail="the source's words")
    judged = assess(target, obs, T0, policy, profile=profile)
    assert (judged.severity, judged.detail if judged.severity is not Severity.OK else None) == found
    assert judged.silence_start == (None if judged.severity is Severity.OK else last)


RESET_WORDS = "status reset by a manager restart (status_code 5): no alert until its next keepalive, or RESTART_GRACE"


@pytest.mark.parametrize(
    ("status", "code", "keepalive_s", "held"),
    [
        ("disconnected", 5, 60, True),  # reset by a manager restart a minute ago: held, UNKNOWN
        ("disconnected", 5, 899, True),
        ("disconnected", 5, 900, False),  # RESTART_GRACE (15 minutes) over: the disconnection is news
        ("disconnected", 5, None, False),  # no keepalive to time the grace from
        ("disconnected", 4, 60, False),  # another code: a disconnection like any other
        ("never_connected", 5, 60, False),
    ],
)
def test_an_agent_reset_by_a_manager_restart_is_held_for_the_restart_grace(
    status: str, code: int, keepalive_s: float | None, held: bool
) -> None:
    keepalive = ago(keepalive_s) if keepalive_s is not None else None
    obs = Observation(
        AGENT.key, T0, agent_status=status, status_code=code, last_keepalive=keepalive, counts_events=False
    )
    found = assess(AGENT, obs, T0, POLICY)
    if held:
        assert found == Assessment(Severity.UNKNOWN, Condition.UNKNOWN, None, None, RESET_WORDS)
    else:
        assert found.severity in (Severity.WARNING, Severity.CRITICAL)


def test_a_healthy_state_keeps_the_rate_figures_and_an_alert_the_agents_status() -> None:
    obs = seen(T0, ago(60), recent=40, baseline=50.0, history_days=5, rate_window_s=900.0)
    state = step(TargetState(AGENT.key), AGENT, obs, T0, POLICY).state
    assert (state.recent, state.baseline, state.history_days, state.rate_window_s) == (40, 50.0, 5, 900.0)
    dropped = seen(T0, ago(60), recent=1, baseline=50.0, history_days=4, rate_window_s=900.0)  # and a drop's
    state = step(TargetState(AGENT.key), AGENT, dropped, T0, POLICY).state
    assert (state.condition, state.recent, state.baseline, state.history_days) == (Condition.RATE_DROP, 1, 50.0, 4)
    gone = Observation(AGENT.key, T0, agent_status="disconnected", last_keepalive=ago(120), counts_events=False)
    (note,) = step(TargetState(AGENT.key), AGENT, gone, T0, POLICY).notifications
    assert note.agent_status == "disconnected"
    later = T0 + timedelta(hours=3)  # the escalation carries the status the state holds
    (reminder,) = step(
        step(TargetState(AGENT.key), AGENT, gone, T0, POLICY).state, AGENT, gone, later, POLICY
    ).notifications
    assert (reminder.kind, reminder.agent_status) == (NotificationKind.ESCALATION, "disconnected")
