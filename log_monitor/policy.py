"""Escalation policy: (state, observation, now, settings) -> (new state, notifications); pure, no I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from log_monitor.dropwords import LEARNING_DAYS, drop_sentence
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
from log_monitor.rhythm import Bounds, Profile, expectation, rhythm_severity, sentence

# The API's status for an agent whose keepalives stopped: the message must say so, not "silent".
_DISCONNECTED = frozenset({"disconnected"})
# The status the API source gives an agent id that Wazuh does not list.
NOT_REGISTERED = "not registered"
# The API's status_code for an agent that a manager restart set disconnected until its next keepalive.
RESET_BY_RESTART = 5
# A rate drop needs this many of the baseline days to have had events: a new source has no normal yet.
MIN_HISTORY_DAYS = LEARNING_DAYS
# A rate drop ends when the count is back to this share of the baseline (hysteresis: no flapping at the ratio).
RECOVERY_SHARE = 0.5


@dataclass(frozen=True)
class PolicySettings:
    """The knobs of the policy, in seconds; no defaults here: config's KEYS table has them."""

    critical_multiplier: float
    indexing_delay_s: float
    lookback_s: float
    reminder_initial_s: float
    reminder_factor: float
    reminder_max_s: float
    drop_ratio: float  # DROP_RATIO: a rate drop below this share of the baseline; 0 turns it off
    drop_min_baseline: float  # DROP_MIN_BASELINE: sparser targets are judged by silence only
    restart_grace_s: float  # RESTART_GRACE: no per-agent alert this long after a manager restart (code 5)
    silence_mode: str  # SILENCE_MODE: "rhythm" (the target's own hours) or "fixed" (its threshold alone)
    rhythm_warn_events: float
    rhythm_crit_events: float
    rhythm_max_silence_s: float
    host: str


# Not frozen (never changed after it is made), like TargetState: a frozen dataclass's __init__
# costs 4x a plain one's, and a pass makes an Assessment and a Decision per target.
@dataclass(slots=True)
class Assessment:
    """What one observation means for one target, before any memory of earlier passes."""

    severity: Severity
    condition: Condition
    silence_start: datetime | None  # the last event before the silence; None if never seen
    silent_for_s: float | None
    detail: str = ""  # the source's words, carried into the message


@dataclass(slots=True)
class Decision:
    """The policy's answer: the state to store and what to tell people."""

    state: TargetState
    notifications: tuple[Notification, ...]


def assess(
    target: Target,
    obs: Observation,
    now: datetime,
    settings: PolicySettings,
    *,
    dropping: bool = False,
    profile: Profile | None = None,
) -> Assessment:
    """Severity from silence: WARNING at the threshold, CRITICAL at threshold x multiplier.

    With SILENCE_MODE=rhythm and a `profile` of the target's hours that is past learning, the silence is
    judged by the events that profile expects in it instead (log_monitor.rhythm), whatever the threshold.

    A target that is not silent may still be a rate drop (WARNING): far fewer events than the median of the
    same window on the last 7 days. Silence wins over a drop; `dropping` (already in a rate-drop episode)
    keeps the drop until the count is back to half the baseline.

    A missing local file and a location dropping events are alerts of their own (at least WARNING),
    named as such: neither waits for the silence threshold. A silence is only called when every source
    that could have seen the target's events answered: with one unreadable, recency is still proven
    (OK) but silence is not (UNKNOWN).
    """
    if obs.unknown:
        return Assessment(Severity.UNKNOWN, Condition.UNKNOWN, None, None, obs.error or "")
    if obs.problem:
        silent = _silence(target, obs, now, settings, profile)
        return Assessment(
            max(silent.severity, Severity.WARNING), Condition.MISSING, obs.last_event, silent.silent_for_s, obs.detail
        )
    found = (
        _silence(target, obs, now, settings, profile) if obs.counts_events else _keepalive(target, obs, now, settings)
    )
    if found.severity is not Severity.OK:
        if obs.incomplete:
            return Assessment(Severity.UNKNOWN, Condition.UNKNOWN, None, None, obs.incomplete)
        return _restarting(obs, now, settings) or found
    if obs.drops:
        return Assessment(Severity.WARNING, Condition.DROPPING, None, None, obs.detail)
    if obs.finding is not None:
        return Assessment(obs.finding_severity, obs.finding, None, None, obs.detail)
    if rate_dropped(target, obs, settings, found.silent_for_s, dropping=dropping):
        words = drop_sentence(target.label, obs.recent or 0, obs.baseline or 0.0, obs.rate_window_s or 0.0)
        return Assessment(Severity.WARNING, Condition.RATE_DROP, None, None, words)
    return found


def drop_ratio(target: Target, settings: PolicySettings) -> float:
    """The target's own drop_ratio (agents.csv) or DROP_RATIO."""
    return target.drop_ratio if target.drop_ratio is not None else settings.drop_ratio


def rate_dropped(
    target: Target, obs: Observation, settings: PolicySettings, silent_for_s: float | None, *, dropping: bool = False
) -> bool:
    """Whether the events in the window fell below the ratio of the baseline.

    A new drop needs a judgeable baseline (at least DROP_MIN_BASELINE, events on 3 of the 7 days) and events
    still arriving (one within the last half window): a source that just stopped is a silence in the making,
    which the silence rule names. An ongoing drop lasts until the count is back to half the baseline.
    """
    ratio = drop_ratio(target, settings)
    if ratio <= 0 or obs.recent is None or obs.baseline is None:
        return False
    if dropping:
        return obs.recent < max(ratio, RECOVERY_SHARE) * obs.baseline
    if obs.history_days < MIN_HISTORY_DAYS or obs.baseline < settings.drop_min_baseline or obs.baseline <= 0:
        return False
    window = obs.rate_window_s or 0.0
    arriving = obs.recent > 0 and silent_for_s is not None and silent_for_s <= window / 2
    return arriving and obs.recent < ratio * obs.baseline


def _severity(silent_for: float, target: Target, settings: PolicySettings) -> Severity:
    if silent_for >= target.threshold_s * settings.critical_multiplier:
        return Severity.CRITICAL
    if silent_for >= target.threshold_s:
        return Severity.WARNING
    return Severity.OK


def _silence(
    target: Target, obs: Observation, now: datetime, settings: PolicySettings, profile: Profile | None = None
) -> Assessment:
    if obs.last_event is None:
        # Expected but nothing in the whole lookback: at least that long, so as bad as it gets.
        return Assessment(Severity.CRITICAL, Condition.NEVER_SEEN, None, settings.lookback_s, obs.detail)
    silent_for = (now - obs.last_event).total_seconds()
    if target.kind is not TargetKind.LOCAL_FILE:
        # Events become searchable late; measuring from (now - delay) keeps late indexing from alerting.
        # A local file has no indexing: its delay would only postpone a real silence.
        silent_for -= settings.indexing_delay_s
    silent_for = max(0.0, silent_for)
    detail = obs.detail
    if by_rhythm(profile, target, settings):
        assert profile is not None  # by_rhythm says so
        span = (obs.last_event, obs.last_event + timedelta(seconds=silent_for))
        events, active = expectation(profile, *span)
        severity = rhythm_severity(events, active, rhythm_bounds(settings))
        if severity is not Severity.OK:
            detail = "; ".join(filter(None, (sentence(silent_for, events), obs.detail)))
    else:
        severity = _severity(silent_for, target, settings)
    if severity is Severity.OK:
        return Assessment(Severity.OK, Condition.OK, None, silent_for)
    condition = Condition.DISCONNECTED if obs.agent_status in _DISCONNECTED else Condition.SILENT
    return Assessment(severity, condition, obs.last_event, silent_for, detail)


def by_rhythm(profile: Profile | None, target: Target, settings: PolicySettings) -> bool:
    """Whether the target's silence is judged by its rhythm: rhythm mode, a history past learning, not a local file."""
    return (
        settings.silence_mode == "rhythm"
        and profile is not None
        and target.kind is not TargetKind.LOCAL_FILE
        and not profile.learning(settings.drop_min_baseline)
    )


def rhythm_bounds(settings: PolicySettings) -> Bounds:
    """RHYTHM_WARN_EVENTS, RHYTHM_CRIT_EVENTS and RHYTHM_MAX_SILENCE as the rhythm module takes them."""
    return Bounds(settings.rhythm_warn_events, settings.rhythm_crit_events, settings.rhythm_max_silence_s)


def _restarting(obs: Observation, now: datetime, settings: PolicySettings) -> Assessment | None:
    """Held (UNKNOWN, no alert) while a manager restart reset the agent (code 5) less than RESTART_GRACE ago.

    After remoted starts every agent of its node reads disconnected until its next keepalive (REALITY.md
    §9): not an outage of agents. The grace runs from its last keepalive (the manager's clock, held to
    ours by the clock check); UNKNOWN, not OK, so an episode already alerted gets no false recovery.
    """
    if obs.status_code != RESET_BY_RESTART or obs.agent_status not in _DISCONNECTED:
        return None
    since = obs.last_keepalive
    if since is None or (now - since).total_seconds() >= settings.restart_grace_s:
        return None
    words = "status reset by a manager restart (status_code 5): no alert until its next keepalive, or RESTART_GRACE"
    return Assessment(Severity.UNKNOWN, Condition.UNKNOWN, None, None, words)


def _keepalive(target: Target, obs: Observation, now: datetime, settings: PolicySettings) -> Assessment:
    """No source counts this agent's events (no indexer): its keepalives are all that can be judged."""
    if obs.agent_status == "active":
        return Assessment(Severity.OK, Condition.OK, None, None)
    if obs.agent_status == "never_connected":
        return Assessment(Severity.CRITICAL, Condition.NEVER_SEEN, None, settings.lookback_s, "never connected")
    if obs.agent_status in _DISCONNECTED:
        since = obs.last_keepalive
        # The manager wrote lastKeepAlive on its own clock, which the clock check holds to ours.
        silent_for = max(0.0, (now - since).total_seconds()) if since is not None else settings.lookback_s
        severity = max(_severity(silent_for, target, settings), Severity.WARNING)
        return Assessment(severity, Condition.DISCONNECTED, since, silent_for, obs.detail)
    if obs.agent_status == NOT_REGISTERED:
        # Expected and unknown to Wazuh: removed, re-enrolled under a new id, or a typo in the agents file.
        return Assessment(Severity.CRITICAL, Condition.NEVER_SEEN, None, settings.lookback_s, obs.detail)
    # pending, or no status at all: nothing proves the agent alive or dead.
    why = f"agent status {obs.agent_status}" if obs.agent_status else "agent status unknown"
    return Assessment(Severity.UNKNOWN, Condition.UNKNOWN, None, None, f"{why}; events are not counted")


def in_maintenance(windows: Sequence[MaintenanceWindow], now: datetime, zone: tzinfo | None) -> bool:
    """Whether `now` (UTC) falls in any window, read on the wall clock of `zone` (None: the host's)."""
    if not windows:
        return False
    # Converting the instant (not adding a fixed offset) keeps daylight-saving changes right.
    local = now.astimezone(zone) if zone is not None else now.astimezone()
    return any(window.contains(local) for window in windows)


def reminder_delay(reminders_sent: int, settings: PolicySettings) -> float:
    """Seconds until the next reminder: initial x factor^k, capped (exponential backoff)."""
    delay = settings.reminder_initial_s
    for _ in range(reminders_sent):
        delay *= settings.reminder_factor
        if delay >= settings.reminder_max_s:
            return settings.reminder_max_s
    return min(delay, settings.reminder_max_s)


def step(
    state: TargetState,
    target: Target,
    obs: Observation,
    now: datetime,
    settings: PolicySettings,
    *,
    quiet: bool = False,
    found: Assessment | None = None,
) -> Decision:
    """Advance one target by one observation; `quiet` (maintenance, inhibition) holds back alerts.

    `found` is the observation's assessment when the caller has made it already (the judge has, for the pipeline).
    """
    found = found or assess(target, obs, now, settings, dropping=state.condition is Condition.RATE_DROP)
    if found.severity is Severity.OK:
        # Settled OK at `now`: the episode closed, what was seen of the target kept. Most targets on most passes
        # have nothing to tell, so the fresh state is built directly (no copy of the old).
        fresh = TargetState(
            target_key=state.target_key,
            last_event=obs.last_event if obs.last_event is not None else state.last_event,
            last_checked=now,
            agent_status=obs.agent_status if obs.agent_status is not None else state.agent_status,
            agent_name=obs.agent_name if obs.agent_name is not None else state.agent_name,
            recent=obs.recent,
            baseline=obs.baseline,
            rate_window_s=obs.rate_window_s,
            history_days=obs.history_days,
        )
        if state.alerted is not Severity.OK:
            return _recover(state, fresh, target, obs, now, settings)
        return Decision(fresh, ())
    observed = replace(
        state,
        last_checked=now,
        last_event=obs.last_event if obs.last_event is not None else state.last_event,
        agent_status=obs.agent_status if obs.agent_status is not None else state.agent_status,
        agent_name=obs.agent_name if obs.agent_name is not None else state.agent_name,
        recent=obs.recent,
        baseline=obs.baseline,
        rate_window_s=obs.rate_window_s,
        history_days=obs.history_days,
    )
    if found.severity is Severity.UNKNOWN:
        # Keep the episode as it was: when the backend returns, reminders and recoveries carry on.
        return Decision(replace(observed, severity=Severity.UNKNOWN, condition=Condition.UNKNOWN), ())
    return _escalate(observed, target, found, now, settings, quiet=quiet)


def _recover(
    state: TargetState, fresh: TargetState, target: Target, obs: Observation, now: datetime, settings: PolicySettings
) -> Decision:
    """Settled as `fresh`, with the recovery notice of the alerted episode in `state`."""
    # Every alert that went out gets exactly one recovery, however quiet the moment is.
    lasted = None
    if state.since is not None and obs.last_event is not None:
        lasted = max(0.0, (obs.last_event - state.since).total_seconds())
    # The episode's start and count are the old state's; the agent's name, the latest seen.
    note = _notification(
        target,
        replace(state, agent_name=fresh.agent_name),
        NotificationKind.RECOVERY,
        Severity.OK,
        Condition.OK,
        now,
        settings,
        last_event=obs.last_event,
        silent_for_s=lasted,
    )
    return Decision(fresh, (note,))


def _escalate(
    state: TargetState,
    target: Target,
    found: Assessment,
    now: datetime,
    settings: PolicySettings,
    *,
    quiet: bool,
) -> Decision:
    since = found.silence_start if found.silence_start is not None else state.since
    current = replace(state, severity=found.severity, condition=found.condition, since=since)
    if quiet:
        return Decision(current, ())
    kind: NotificationKind | None = None
    reminders = current.reminders_sent
    if current.alerted is Severity.OK:
        kind = NotificationKind.ALERT
        reminders = 0
    elif found.severity > current.alerted and found.severity is Severity.CRITICAL:
        kind = NotificationKind.ESCALATION
    elif current.next_reminder_at is not None and now >= current.next_reminder_at:
        kind = NotificationKind.REMINDER
        reminders += 1
    if kind is None:
        return Decision(current, ())
    note = _notification(
        target,
        current,
        kind,
        found.severity,
        found.condition,
        now,
        settings,
        # A finding (drops, traffic, a pattern) has no silence start, but the target's last event is still news.
        last_event=found.silence_start if found.silence_start is not None else current.last_event,
        silent_for_s=found.silent_for_s,
        detail=found.detail,
    )
    # After the first alert or an escalation the backoff restarts; each reminder lengthens it.
    delay = reminder_delay(reminders if kind is NotificationKind.REMINDER else 0, settings)
    sent = replace(
        current,
        alerted=max(current.alerted, found.severity),
        alerts_sent=current.alerts_sent + 1,
        reminders_sent=reminders if kind is NotificationKind.REMINDER else current.reminders_sent,
        last_alert_at=now,
        next_reminder_at=now + timedelta(seconds=delay),
    )
    return Decision(sent, (note,))


def backend_step(
    state: TargetState,
    label: str,
    problem: str | None,
    now: datetime,
    settings: PolicySettings,
    *,
    down: NotificationKind = NotificationKind.BACKEND_DOWN,
    up: NotificationKind = NotificationKind.BACKEND_RESTORED,
    severity: Severity = Severity.UNKNOWN,
    related: tuple[str, ...] = (),
) -> Decision:
    """One alert when something shared (a backend, the pipeline) breaks, reminders with backoff, one notice back."""
    target = Target(key=state.target_key, kind=TargetKind.BACKEND, label=label, interval_s=0.0, threshold_s=0.0)
    if problem is None:
        fresh = TargetState(target_key=state.target_key, last_checked=now)
        if state.alerted is Severity.OK:
            return Decision(fresh, ())
        lasted = (now - state.since).total_seconds() if state.since else None
        note = _notification(target, state, up, Severity.OK, Condition.OK, now, settings, silent_for_s=lasted)
        return Decision(fresh, (note,))
    since = state.since or now
    condition = Condition.UNKNOWN if severity is Severity.UNKNOWN else Condition.SILENT
    current = replace(state, severity=severity, condition=condition, since=since, last_checked=now)
    if state.alerted is not Severity.OK and (state.next_reminder_at is None or now < state.next_reminder_at):
        return Decision(current, ())
    reminders = state.reminders_sent + 1 if state.alerted is not Severity.OK else 0
    note = _notification(
        target,
        current,
        down,
        severity,
        condition,
        now,
        settings,
        silent_for_s=(now - since).total_seconds(),
        detail=problem,
        related=related,
    )
    sent = replace(
        current,
        alerted=severity,
        alerts_sent=state.alerts_sent + 1,
        reminders_sent=reminders,
        last_alert_at=now,
        next_reminder_at=now + timedelta(seconds=reminder_delay(reminders, settings)),
    )
    return Decision(sent, (note,))


def _notification(
    target: Target,
    state: TargetState,
    kind: NotificationKind,
    severity: Severity,
    condition: Condition,
    now: datetime,
    settings: PolicySettings,
    *,
    last_event: datetime | None = None,
    silent_for_s: float | None = None,
    detail: str = "",
    related: tuple[str, ...] = (),
) -> Notification:
    # A deterministic id: the same decision replayed (after a crash) yields the same id.
    episode = state.since.isoformat() if state.since else "-"
    raw = f"{target.key}|{kind}|{episode}|{state.alerts_sent}|{now.isoformat()}"
    return Notification(
        id=hashlib.sha256(raw.encode()).hexdigest()[:24],
        created_at=now,
        kind=kind,
        severity=severity,
        target_key=target.key,
        label=target.label,
        condition=condition,
        host=settings.host,
        agent_id=target.agent_id,
        agent_name=state.agent_name,
        agent_status=state.agent_status,
        location=target.location or target.path,
        last_event=last_event,
        silent_for_s=silent_for_s,
        detail=detail,
        related=related,
    )
