"""The escalation policy: severity from silence, first alert, escalation, backoff reminders, recovery."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.models import (
    Condition,
    Notification,
    NotificationKind,
    Observation,
    Severity,
    Target,
    TargetState,
)
from log_monitor.policy import assess, backend_step, reminder_delay, step
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
