"""The records shared by every layer: Target, Observation, TargetState, Transition, Notification, Severity."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


class Severity(enum.IntEnum):
    """How bad a target's state is; the values are the Nagios exit codes (MAINTENANCE exits as OK)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
    MAINTENANCE = 4


class TargetKind(enum.StrEnum):
    """What a target is."""

    AGENT = "agent"
    LOCATION = "location"  # one log file (location) on an agent
    LOCAL_FILE = "file"  # a log file on the monitor's own host
    BACKEND = "backend"  # a monitoring backend itself (the Wazuh API or indexer)


class Condition(enum.StrEnum):
    """Why a target is in its state; messages say which (silent is not the same as disconnected)."""

    OK = "ok"
    SILENT = "silent"  # connected (or status unknown) but no events
    DISCONNECTED = "disconnected"  # the API says the agent lost its keepalive
    NEVER_SEEN = "never_seen"  # expected, but no event in LOOKBACK
    UNKNOWN = "unknown"  # a backend could not be read
    DROPPING = "dropping_events"  # logcollector reports drops for the location: events are being lost
    MISSING = "missing"  # a local file is missing or unreadable: its own alert, not a silence
    HIGH_TRAFFIC = "high_traffic"  # an access log's 2-minute rate is above its baseline by the margin
    LOW_TRAFFIC = "low_traffic"  # an access log's rate fell below a fraction of its usual level for this hour
    RATE_DROP = "rate_drop"  # events still arrive, but far fewer than the median of the same window on past days
    PATTERN = "pattern"  # a pattern rule fired: too many matching lines, or a heartbeat line missing


class NotificationKind(enum.StrEnum):
    """What a notification announces."""

    ALERT = "alert"  # first alert of an episode
    ESCALATION = "escalation"  # WARNING became CRITICAL
    REMINDER = "reminder"  # still silent
    RECOVERY = "recovery"  # events are back
    BACKEND_DOWN = "backend_down"
    BACKEND_RESTORED = "backend_restored"
    PIPELINE_SILENT = "pipeline_silent"
    PIPELINE_RESTORED = "pipeline_restored"
    TEST = "test"
    CHANNEL_DOWN = "channel_down"  # a delivery channel failed permanently (raised by the dispatcher)
    REENROLLED = "reenrolled"  # an agent enrolled again under a new id: its rows follow it
    STATE_RESET = "state_reset"  # the state DB was corrupt: quarantined, monitoring restarted from an empty one


# The longest duration any setting accepts: longer ones are typos, and datetime arithmetic overflows near 10^4 years.
MAX_DURATION_S = 365 * 86400.0


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks; `.reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class MaintenanceWindow:
    """A recurring window `[Mon-Fri ]HH:MM-HH:MM` in MAINTENANCE_TZ; may cross midnight."""

    days: frozenset[int]  # 0 = Monday; the day the window starts on
    start_minute: int  # minutes after local midnight
    end_minute: int  # end < start means the window ends the next day
    text: str  # as written, for messages

    def contains(self, local: datetime) -> bool:
        """Whether the local (wall-clock, in the window's zone) time falls inside the window."""
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start_minute <= self.end_minute:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        if minute >= self.start_minute:
            return weekday in self.days
        return minute < self.end_minute and (weekday - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Target:
    """Something that must not fall silent, with its own interval, threshold and windows."""

    key: str  # "agent:001", "agent:001:/var/log/auth.log", "file:/var/log/nginx/access.log"
    kind: TargetKind
    label: str
    interval_s: float
    threshold_s: float
    agent_id: str | None = None
    location: str | None = None
    path: str | None = None
    maintenance: tuple[MaintenanceWindow, ...] = ()
    origin: str = ""  # "config/agents.csv:4", for messages
    log_format: str = ""  # local files: "combined" (Apache/Nginx access log) adds traffic statistics
    traffic_high_margin: float = 1.0  # high traffic above baseline x (1 + margin)
    traffic_low_fraction: float = 0.2  # low traffic below usual level x fraction
    patterns_file: str | None = None  # local files: pattern rules (log_monitor.patterns)
    service: str = ""  # local files: the files.csv service name, which people type as a TARGET
    drop_ratio: float | None = None  # rate drop below this share of the baseline; None: DROP_RATIO, 0: off
    route: str = ""  # routes.csv route its notifications take; "": the agent's group's, else `default`
    # agents.csv columns its row set (interval, threshold, files, maintenance, drop_ratio, route): a Wazuh group's
    # policy fills only the others (field by field)
    given: frozenset[str] = frozenset()

    @classmethod
    def agent(
        cls,
        agent_id: str,
        label: str,
        interval_s: float,
        threshold_s: float | None = None,
        *,
        location: str | None = None,
        maintenance: tuple[MaintenanceWindow, ...] = (),
        origin: str = "",
    ) -> Target:
        """A Wazuh agent watched as a whole, or with `location` one of its log files (`*`: each one it has).

        The threshold defaults to the interval.
        """
        return cls(
            key=cls.agent_key(agent_id) if location is None else cls.location_key(agent_id, location),
            kind=TargetKind.AGENT if location is None else TargetKind.LOCATION,
            label=label,
            interval_s=interval_s,
            threshold_s=interval_s if threshold_s is None else threshold_s,
            agent_id=agent_id,
            location=location,
            maintenance=maintenance,
            origin=origin,
        )

    @staticmethod
    def agent_key(agent_id: str) -> str:
        return f"agent:{agent_id}"

    @staticmethod
    def location_key(agent_id: str, location: str) -> str:
        return f"agent:{agent_id}:{location}"

    @staticmethod
    def file_key(path: str) -> str:
        return f"file:{path}"


@dataclass(frozen=True)
class Cluster:
    """The Wazuh cluster as the API shows it: the nodes agents are listed on, and those connected now."""

    listed: frozenset[str]  # node_name of the agents in the last full listing
    connected: frozenset[str] | None = None  # GET /cluster/healthcheck; None when not readable (no cluster:read)


@dataclass(frozen=True)
class Silence:
    """An ad-hoc maintenance (`silence TARGET --for 2h`): alerts held back until `until`."""

    target_key: str
    until: datetime
    reason: str
    created_at: datetime
    created_by: str = ""  # the login that set it (the sudo caller's, under sudo)


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, 6x the cost, and a pass
# makes up to three of these per target.
@dataclass(slots=True)
class Observation:
    """What a source saw of one target at one time; `error` set means the backend could not be read.

    Changed only while it is made: its source may fill it in, and the merge (`sources.merge`) may complete a
    counting source's in place with the status source's and return it as the target's; past the merge, never.
    """

    target_key: str
    at: datetime  # when observed (UTC)
    last_event: datetime | None = None
    events_in_window: int | None = None
    agent_status: str | None = None  # the API's status: active, disconnected, never_connected, pending
    last_keepalive: datetime | None = None  # the manager's record of the agent's last keepalive (manager UTC)
    agent_name: str | None = None
    drops: int | None = None
    error: str | None = None  # which backend failed and how, already free of secrets
    # The API's status_code (REALITY.md §9): 1 refused (newer than the manager), 3 stopped on purpose,
    # 4 no keepalive, 5 reset by a manager restart; None when no API told it.
    status_code: int | None = None
    node_name: str | None = None  # the Wazuh cluster node the agent is connected to, as the API lists it
    problem: str = ""  # a local file missing or unreadable: its own alert, not a silence
    counts_events: bool = True  # False: no source counted this target's events (API only: keepalives judged)
    incomplete: str | None = None  # an event source failed: a silence is not proven, only recency is
    detail: str = ""  # what the source adds for people ("12 events dropped since the last check")
    finding: Condition | None = None  # a source's own finding (high/low traffic, a pattern rule), if not silent
    finding_severity: Severity = Severity.WARNING
    # Rate against baseline: events in the drop window (ending INDEXING_DELAY ago), the median of the same window
    # on each of the previous 7 days, and how many of those days had events; None when not counted.
    recent: int | None = None
    baseline: float | None = None
    history_days: int = 0
    rate_window_s: float | None = None
    # An incremental read (the indexer): events with timestamps in [read_from, read_until) are settled (indexed by
    # now, INDEXING_DELAY allowing) and counted once, by UTC hour as (hour index since the epoch, events). A
    # first-sight read (a backfill) starts at LOOKBACK; None when the target was not read this way. `hour_counts`
    # are consecutive hours' events from hour index `hour_from` (an array: a backfill holds a week of hours).
    read_from: datetime | None = None
    read_until: datetime | None = None
    hour_from: int = 0
    hour_counts: Sequence[int] = ()

    @property
    def unknown(self) -> bool:
        return self.error is not None


# Not frozen (never changed after it is made: `replace` makes a new one): a frozen dataclass's __init__ sets
# each field through object.__setattr__, 6x the cost, and a pass makes one of these per target.
@dataclass(slots=True)
class TargetState:
    """What the store remembers of a target between passes and across restarts."""

    target_key: str
    severity: Severity = Severity.OK
    condition: Condition = Condition.OK
    since: datetime | None = None  # start of the current non-OK episode (the silence's start)
    last_event: datetime | None = None
    last_checked: datetime | None = None
    alerted: Severity = Severity.OK  # highest severity announced in this episode; OK = none sent
    alerts_sent: int = 0  # notifications sent in this episode
    reminders_sent: int = 0  # reminders in this episode; sets the next backoff step
    last_alert_at: datetime | None = None
    next_reminder_at: datetime | None = None
    agent_status: str | None = None
    agent_name: str | None = None
    # The latest rate against baseline (see Observation): events in the window, the 7-day median, the window.
    recent: int | None = None
    baseline: float | None = None
    rate_window_s: float | None = None
    history_days: int = 0  # days of the baseline's history that had events: under 7, the baseline is learning
    # The incremental reads' ledger (log_monitor.ledger): events counted up to `read_until` (the high-water mark),
    # `hour_events` of them in its (unfinished) hour; the rate window accumulating since `win_from`; and the
    # median of the same hour on the previous days (`norm`, for hour index `norm_hour`, `norm_days` with events).
    read_until: datetime | None = None
    hour_events: int = 0
    win_from: datetime | None = None
    win_events: int = 0
    norm: float | None = None
    norm_hour: int = -1
    norm_days: int = 0


# What a pass moves in a state without it being news: kept in memory, and written with the state's next change, at its
# first check in a new hour, and whole when the daemon stops or a `once` run ends (a busy agent's last event and rate
# figures move every pass; the incremental reads' ledger too). What makes them news (a silence) changes the severity.
STATE_KEPT_IN_MEMORY = (
    "last_checked",
    "last_event",
    "recent",
    "baseline",
    "rate_window_s",
    "history_days",
    "read_until",
    "hour_events",
    "win_from",
    "win_events",
    "norm",
    "norm_hour",
    "norm_days",
)


@dataclass(frozen=True)
class Transition:
    """A target's stored severity changed: from what (None: first seen) to what, when, and why."""

    target_key: str
    at: datetime
    from_severity: Severity | None
    to_severity: Severity
    condition: Condition


@dataclass(frozen=True)
class RatePoint:
    """One hour of a target's rate: the last check's events in its window then, against that check's baseline."""

    target_key: str
    hour: datetime  # the UTC hour's start
    events: int
    baseline: float
    window_s: float


@dataclass(frozen=True)
class Notification:
    """One message to the security team, written to the outbox before any delivery is tried."""

    id: str
    created_at: datetime
    kind: NotificationKind
    severity: Severity
    target_key: str
    label: str
    condition: Condition
    host: str  # the monitor's host name
    agent_id: str | None = None
    agent_name: str | None = None
    location: str | None = None
    last_event: datetime | None = None
    silent_for_s: float | None = None
    detail: str = ""
    related: tuple[str, ...] = field(default_factory=tuple)  # target keys covered by a grouped alert
    # The API's status of the agent when it was judged; None when no API was asked (indexer only).
    agent_status: str | None = None
