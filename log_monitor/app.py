"""Builds the concrete objects (clients, sources, store, channels, monitor) from Settings; the only place that does."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from log_monitor.clock import Clock, SystemClock
from log_monitor.closing import Closing
from log_monitor.config import Settings
from log_monitor.config.values import parse_syslog_addr
from log_monitor.errors import BackendError, ConfigError
from log_monitor.findings import FindingsLog
from log_monitor.heartbeat import Heartbeat
from log_monitor.models import Condition, Notification, NotificationKind, Secret, Severity, Target
from log_monitor.monitor import LogCounter
from log_monitor.notifiers.base import Notifier
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.dispatch import Dispatcher
from log_monitor.notifiers.pagerduty import PagerDutyNotifier
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.notifiers.smtp import SmtpNotifier
from log_monitor.notifiers.syslog import SyslogNotifier
from log_monitor.notifiers.teams import TeamsNotifier
from log_monitor.notifiers.webhook import WebhookNotifier
from log_monitor.policy import PolicySettings
from log_monitor.routes import DEFAULT_LANE, Router, Routes, lane_receivers, load_routes, split_receiver
from log_monitor.sources import EventSource
from log_monitor.sources.local_files import LocalFilesSource
from log_monitor.sources.logcollector import LogcollectorSource, learn_configured, plan_polls
from log_monitor.sources.wazuh_api import ApiStatusSource
from log_monitor.sources.wazuh_indexer import IndexerSource, learn_locations
from log_monitor.state import StateStore
from log_monitor.targets import GroupPolicies, load_groups
from log_monitor.view import REMOVED_KEPT, learned
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.hosts import HostHealth
from log_monitor.wazuh.indexer import WazuhIndexer
from log_monitor.wazuh.schema import (
    NO_LOGCOLLECTOR_5X,
    SCHEMA_4X,
    SCHEMA_5X,
    UnmappedFieldsError,
    unmapped_error,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendMetrics:
    """One backend client's counters since start."""

    requests: int
    request_seconds: float  # total time waiting for answers
    responses_by_status: dict[int, int]
    hosts: tuple[HostHealth, ...] = ()  # the indexer cluster's nodes, each one's health


@dataclass(frozen=True)
class MetricsSnapshot:
    """The process's own counters at one moment, for the status server (which reaches no further into the app)."""

    channels: list[str]  # the configured channels, in the order they are tried
    delivery_failures: dict[str, int]  # channel -> delivery attempts it refused since start
    backends: dict[str, BackendMetrics]  # "api" / "indexer" -> its client's counters, for those configured


@dataclass
class App(Closing):
    """The wired-up product; closing it closes every client and the store."""

    settings: Settings
    monitor: LogCounter
    store: StateStore
    channels: list[Notifier]
    api: WazuhAPIHandler | None = None
    indexer: WazuhIndexer | None = None
    heartbeat: Heartbeat | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def metrics(self) -> MetricsSnapshot:
        dispatcher = self.monitor.dispatcher
        backends = {
            name: BackendMetrics(client.requests_made, client.request_seconds, dict(client.responses_by_status))
            for name, client in (("api", self.api), ("indexer", self.indexer))
            if client is not None
        }
        if self.indexer is not None:
            backends["indexer"] = replace(backends["indexer"], hosts=tuple(self.indexer.hosts()))
        return MetricsSnapshot(list(dispatcher.channel_names), dict(dispatcher.failures), backends)

    def close(self) -> None:
        self._stack.close()


@dataclass(frozen=True)
class Tuning:
    """How long what build() makes waits and how often it retries; None keeps each part's own default.

    Production never sets these; tests shorten them (a hanging backend, a locked DB) instead of patching.
    """

    backend_timeout_s: float | None = None  # the Wazuh API's and the indexer's per-read timeout
    backend_retries: int | None = None
    backend_deadline_s: float | None = None  # a whole request, body included
    api_page_size: int | None = None  # agents per page of the API's listing
    indexer_page_size: int | None = None  # buckets per page of the indexer's aggregation; agents per slice of a pass
    store_timeout_s: float | None = None  # how long the state DB waits for another writer's lock
    delivery_attempts: int | None = None  # attempts per channel before the next one gets the notification
    channel_timeout_s: float | None = None
    channel_retry_s: float | None = None  # Slack: the wait before a reconnect and the longest Retry-After honoured

    def connection(
        self, url: str, user: str, password: Secret, settings: Settings, sleep: Callable[[float], None]
    ) -> Connection:
        """How build()'s clients reach one backend: the settings' TLS, these waits and retries."""
        return Connection(
            url,
            user,
            password,
            verify=tls_verify(settings),
            timeout=self.backend_timeout_s,
            retries=self.backend_retries,
            deadline_s=self.backend_deadline_s,
            sleep=sleep,
        )


def _given(**values: object) -> dict[str, Any]:
    """The keyword arguments that were set: the others keep the callee's defaults (written once, there)."""
    return {name: value for name, value in values.items() if value is not None}


def tls_verify(settings: Settings) -> bool | ssl.SSLContext:
    """What httpx's `verify` gets: a context trusting VERIFICATION_FILE when given, else on/off."""
    if not settings.verify_tls:
        return False
    if settings.verification_file:
        return ssl.create_default_context(cafile=str(settings.verification_file))
    return True


def policy_settings(settings: Settings, host: str | None = None) -> PolicySettings:
    """The policy's knobs are the settings of the same name; only the host is found here."""
    knobs = {f.name: getattr(settings, f.name) for f in fields(PolicySettings) if f.name != "host"}
    return PolicySettings(**knobs, host=host or socket.gethostname())


def build_api(
    settings: Settings, *, clock: Clock, sleep: Callable[[float], None], tuning: Tuning = Tuning()
) -> WazuhAPIHandler | None:
    if not settings.wazuh_api_url or not settings.wazuh_api_user or settings.wazuh_api_password is None:
        return None
    return WazuhAPIHandler(
        tuning.connection(
            settings.wazuh_api_url, settings.wazuh_api_user, settings.wazuh_api_password, settings, sleep
        ),
        max_rpm=settings.wazuh_api_max_rpm,
        clock=clock,
        **_given(page_size=tuning.api_page_size),
    )


def build_indexer(
    settings: Settings, *, sleep: Callable[[float], None], tuning: Tuning = Tuning(), clock: Clock | None = None
) -> WazuhIndexer | None:
    if not settings.wazuh_indexer_url or not settings.wazuh_indexer_user or settings.wazuh_indexer_password is None:
        return None
    url, user, password = settings.wazuh_indexer_url, settings.wazuh_indexer_user, settings.wazuh_indexer_password
    return WazuhIndexer(
        tuning.connection(url, user, password, settings, sleep),
        schema=SCHEMA_5X if settings.wazuh_schema == "5.x" else SCHEMA_4X,
        index_pattern=settings.wazuh_index_pattern,
        agent_id_field=settings.agent_id_field,
        timestamp_field=settings.timestamp_field,
        location_field=settings.location_field,
        # 5.0 tells logs by their queue; its locations name no FIM or SCA source.
        non_log_locations=() if settings.wazuh_schema == "5.x" else settings.non_log_locations,
        **_given(page_size=tuning.indexer_page_size, monotonic=clock.monotonic if clock else None),
    )


def build_channels(
    settings: Settings, *, sleep: Callable[[float], None] = time.sleep, tuning: Tuning = Tuning()
) -> list[Notifier]:
    """The fallback chain in order; the console when nothing is configured, so a first run shows something."""
    chain = (_slack(settings, sleep, tuning), _email(settings, tuning), _teams(settings, tuning))
    return [channel for channel in chain if channel is not None] or [ConsoleNotifier()]


def _slack(settings: Settings, sleep: Callable[[float], None], tuning: Tuning) -> SlackNotifier | None:
    """Slack through a bot token and a channel, or through an incoming webhook; None when neither is set."""
    if not ((settings.slack_bot_token and settings.slack_channel) or settings.slack_webhook_url):
        return None
    retry = tuning.channel_retry_s  # both the wait before a reconnect and the longest Retry-After honoured
    return SlackNotifier(
        token=settings.slack_bot_token,
        channel=settings.slack_channel,
        webhook_url=settings.slack_webhook_url,
        api_url=settings.slack_api_url,
        sleep=sleep,
        **_given(timeout=tuning.channel_timeout_s, connect_retry_s=retry, max_retry_after_s=retry),
    )


def _email(settings: Settings, tuning: Tuning) -> SmtpNotifier | None:
    """Email, when SMTP_HOST, SMTP_FROM and SMTP_TO are all set (config refuses some without the rest); else None."""
    host, sender, recipients = settings.smtp_host, settings.smtp_from, settings.smtp_to
    if not (host and sender and recipients):
        return None
    return SmtpNotifier(
        host=host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        user=settings.smtp_user,
        password=settings.smtp_password,
        sender=sender,
        recipients=recipients,
        **_given(timeout=tuning.channel_timeout_s),
    )


def build_lanes(
    settings: Settings,
    routes: Routes,
    chain: Sequence[Notifier],
    *,
    sleep: Callable[[float], None] = time.sleep,
    tuning: Tuning = Tuning(),
) -> dict[str, list[Notifier]]:
    """Every lane routes.csv can use -> its receivers in order; a receiver named twice is one object (one health)."""
    made: dict[str, Notifier] = {channel.name: channel for channel in chain}
    lanes: dict[str, list[Notifier]] = {DEFAULT_LANE: list(chain)}
    for lane in routes.all_lanes():
        if lane != DEFAULT_LANE:
            lanes[lane] = [_receiver(spec, made, settings, sleep, tuning) for spec in lane_receivers(lane)]
    return lanes


def every_receiver(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> list[Notifier]:
    """Today's chain, then each other receiver routes.csv names, once each (`test-alert` tries them all)."""
    chain = build_channels(settings, sleep=sleep)
    lanes = build_lanes(settings, load_routes(settings), chain, sleep=sleep)
    return list({id(c): c for lane in lanes.values() for c in lane}.values())


def _receiver(
    spec: str, made: dict[str, Notifier], settings: Settings, sleep: Callable[[float], None], tuning: Tuning
) -> Notifier:
    """The notifier a routes.csv receiver names (load_routes checked that the env file configures it)."""
    kind, destination = split_receiver(spec)
    name = {"email": "email", "console": "console"}.get(kind, spec) if not destination else spec
    if name in made:
        return made[name]
    made[name] = receiver = _new_receiver(kind, destination, settings, sleep, tuning)
    receiver.name = name
    return receiver


def _new_receiver(
    kind: str, destination: str, settings: Settings, sleep: Callable[[float], None], tuning: Tuning
) -> Notifier:
    timeout = _given(timeout=tuning.channel_timeout_s)
    if kind == "slack" and destination:
        settings = replace(settings, slack_channel=destination, slack_webhook_url=None)
    if kind == "email" and destination:
        settings = replace(settings, smtp_to=tuple(a for a in destination.split(";") if a))
    makers: dict[str, Callable[[], Notifier | None]] = {
        "slack": lambda: _slack(settings, sleep, tuning),
        "email": lambda: _email(settings, tuning),
        "teams": lambda: _teams(settings, tuning),
        "console": ConsoleNotifier,
        "webhook": lambda: (
            WebhookNotifier(url=settings.webhook_url, secret=settings.webhook_secret, **timeout)
            if settings.webhook_url
            else None
        ),
        "pagerduty": lambda: (
            PagerDutyNotifier(routing_key=settings.pagerduty_routing_key, url=settings.pagerduty_url, **timeout)
            if settings.pagerduty_routing_key
            else None
        ),
        "syslog": lambda: _syslog(destination, settings),
    }
    built = makers[kind]()
    if built is None:
        raise ValueError(f"receiver {kind} is not configured")  # load_routes refused it first
    return built


def _syslog(destination: str, settings: Settings) -> SyslogNotifier | None:
    if destination:
        scheme, host, port = parse_syslog_addr(destination)
        return SyslogNotifier(scheme, host, port)
    if settings.syslog_addr is None:
        return None
    return SyslogNotifier(*settings.syslog_addr)


def _teams(settings: Settings, tuning: Tuning) -> TeamsNotifier | None:
    """Microsoft Teams, when its Workflows webhook is set; else None."""
    if not settings.teams_webhook_url:
        return None
    return TeamsNotifier(webhook_url=settings.teams_webhook_url, **_given(timeout=tuning.channel_timeout_s))


def state_reset_notice(quarantined: Path | None, state_db: Path, clock: Clock, host: str | None) -> Notification:
    """The one message saying the state DB was corrupt (kept as `quarantined`) or, with None, deleted under us.

    Without it, lost history would go unnoticed.
    """
    now = clock.now()
    if quarantined is None:
        note_id, condition = f"state-reset:deleted:{now.isoformat()}", Condition.MISSING
        detail = (
            "The state DB file was deleted or replaced while the monitor ran; a fresh one was started at the "
            "same path. Open alerts may be sent once more; silences set with `silence` and notifications "
            "still queued in the old file are gone."
        )
    else:
        # One per quarantined file, however often it is queued.
        note_id, condition = f"state-reset:{quarantined.name}", Condition.UNKNOWN
        detail = (
            f"The corrupt file was kept as {quarantined}. Open alerts will be sent once more; "
            "silences set with `silence` are gone and must be set again."
        )
    return Notification(
        id=note_id,
        created_at=now,
        kind=NotificationKind.STATE_RESET,
        severity=Severity.WARNING,
        target_key="state:db",
        label=str(state_db),
        condition=condition,
        host=host or socket.gethostname(),
        detail=detail,
    )


def build(
    settings: Settings,
    targets: Sequence[Target],
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    channels: list[Notifier] | None = None,
    host: str | None = None,
    tuning: Tuning = Tuning(),
) -> App:
    clock = clock or SystemClock()
    stack = ExitStack()
    try:
        store = stack.enter_context(StateStore(settings.state_db, **_given(timeout=tuning.store_timeout_s)))
        if store.quarantined is not None:
            store.queue([state_reset_notice(store.quarantined, settings.state_db, clock, host)])
        store.on_reset = lambda: state_reset_notice(None, settings.state_db, clock, host)
        api = build_api(settings, clock=clock, sleep=sleep, tuning=tuning)
        if api is not None:
            stack.callback(api.close)
        indexer = build_indexer(settings, sleep=sleep, tuning=tuning, clock=clock)
        if indexer is not None:
            settings, indexer = _schema_checked(
                settings, indexer, api, lambda s: build_indexer(s, sleep=sleep, tuning=tuning, clock=clock)
            )
            stack.callback(indexer.close)
        channels = channels if channels is not None else build_channels(settings, sleep=sleep, tuning=tuning)
        dispatcher, routes, receivers = _delivery(settings, channels, store, clock, sleep, tuning)
        groups = load_groups(settings)
        targets = _watched(settings, _with_groups(groups, targets, api), store, clock, api, indexer)
        status = ApiStatusSource(api) if api else None
        monitor = LogCounter(
            targets=targets,
            store=store,
            dispatcher=dispatcher,
            clock=clock,
            policy=policy_settings(settings, host),
            sources=_sources(settings, targets, store, sleep, api, indexer, status),
            api=status,
            backends=[name for name, client in (("api", api), ("indexer", indexer)) if client is not None],
            clock_offset=(lambda: api.clock_offset_s) if api is not None else None,
            discovery=settings.agent_discovery,
            discovery_interval_s=settings.default_check_interval_s,
            discovery_groups=settings.discovery_groups,
            groups=groups,
            pipeline_ratio=settings.pipeline_silence_ratio,
            rate_window_s=settings.default_check_interval_s if _baselines(settings, targets) else None,
            zone=ZoneInfo(settings.maintenance_tz) if settings.maintenance_tz else None,
            findings=_findings(settings, host),
            **_given(slice_agents=tuning.indexer_page_size),
        )
        heartbeat = Heartbeat(settings.heartbeat_url.reveal()) if settings.heartbeat_url else None
        if heartbeat is not None:
            stack.callback(heartbeat.close)  # a one-off pass waits for its ping, up to the timeout
    except BaseException:
        stack.close()
        raise
    if routes.by_name:
        store.lanes_of = Router(routes, lambda: monitor.targets).lanes_of
    return App(settings, monitor, store, receivers, api, indexer, heartbeat, stack)


def _findings(settings: Settings, host: str | None) -> FindingsLog | None:
    """The findings log (FINDINGS_LOG), when one is set."""
    return FindingsLog(settings.findings_log, host or socket.gethostname()) if settings.findings_log else None


def _delivery(
    settings: Settings,
    channels: list[Notifier],
    store: StateStore,
    clock: Clock,
    sleep: Callable[[float], None],
    tuning: Tuning,
) -> tuple[Dispatcher, Routes, list[Notifier]]:
    """The dispatcher over today's chain and every route's lane, the routes, and every receiver once."""
    routes = load_routes(settings)
    lanes = build_lanes(settings, routes, channels, sleep=sleep, tuning=tuning)
    receivers = list({id(c): c for lane in lanes.values() for c in lane}.values())
    if settings.slack_threads:
        for receiver in receivers:
            if isinstance(receiver, SlackNotifier):
                receiver.threads = store  # a webhook one ignores it: it cannot thread
    dispatcher = Dispatcher(
        store, channels, clock, sleep=sleep, lanes=lanes, **_given(attempts=tuning.delivery_attempts)
    )
    return dispatcher, routes, receivers


def _with_groups(groups: GroupPolicies, targets: Sequence[Target], api: WazuhAPIHandler | None) -> list[Target]:
    """The listed agents with their Wazuh group's policy laid under their own rows (read once, at start).

    Group membership comes from the API (`GET /agents?group=` per groups.csv row); without it (no API, or
    the API down now) the rows apply alone until the next start (the daemon re-executes hourly).
    """
    if not groups.rows or api is None or not any(t.agent_id for t in targets):
        return list(targets)
    groups_of: dict[str, tuple[str, ...]] = {}
    try:
        for group in groups.groups:
            for agent in api.members_of(group):
                groups_of.setdefault(agent.id, agent.groups)
    except BackendError as exc:
        log.warning("agent groups not read, groups.csv not applied until the next start: %s", exc)
        return list(targets)
    return groups.apply(targets, groups_of)


def _schema_checked(
    settings: Settings,
    indexer: WazuhIndexer,
    api: WazuhAPIHandler | None,
    rebuild: Callable[[Settings], WazuhIndexer | None],
) -> tuple[Settings, WazuhIndexer]:
    """The indexer for the schema the cluster holds (WAZUH_SCHEMA=auto), its fields checked mapped.

    Unmapped fields are a configuration error (exit 78), never a fleet of silent agents. An indexer that
    cannot be read now is checked by the indexer source before its first judgement.
    """
    try:
        missing, five = indexer.field_check()
        if _reads_5x(settings, missing, five, api):
            log.info("WAZUH_SCHEMA=auto: the indexer holds Wazuh 5.0 events: reading them as 5.x")
            settings = replace(
                settings,
                wazuh_schema="5.x",
                wazuh_index_pattern=SCHEMA_5X.index_pattern,
                agent_id_field=SCHEMA_5X.agent_id_field,
                timestamp_field=SCHEMA_5X.timestamp_field,
                location_field=SCHEMA_5X.location_field,
            )
            indexer.close()
            indexer = rebuild(settings) or indexer
            missing, five = indexer.field_check()
        if missing:
            raise unmapped_error(missing, settings.wazuh_index_pattern, indexer.schema, five)
        if missing == []:
            indexer.fields_checked()  # the first pass need not ask again
    except UnmappedFieldsError as exc:
        indexer.close()
        raise ConfigError([f"{settings.env_file}: WAZUH_INDEX_PATTERN: {exc.message}"]) from exc
    except BackendError as exc:
        log.warning("cannot check the indexer's fields at start (%s): checked before the first pass", exc)
    return settings, indexer


def _reads_5x(settings: Settings, missing: list[str] | None, five: bool, api: WazuhAPIHandler | None) -> bool:
    """WAZUH_SCHEMA=auto on 4.x's defaults that map nothing here, and the cluster (or the API) is 5.0."""
    if settings.wazuh_schema != "auto" or not _schema_defaults(settings) or missing == []:
        return False
    return five or (missing is None and _api_says_5(api))


def _schema_defaults(settings: Settings) -> bool:
    """Whether the pattern and field names are 4.x's defaults (auto may then read 5.0's instead)."""
    return (
        settings.wazuh_index_pattern,
        settings.agent_id_field,
        settings.timestamp_field,
        settings.location_field,
    ) == (SCHEMA_4X.index_pattern, SCHEMA_4X.agent_id_field, SCHEMA_4X.timestamp_field, SCHEMA_4X.location_field)


def _api_says_5(api: WazuhAPIHandler | None) -> bool:
    """The API's `GET /` api_version is 5.x (REALITY.md §7); False when there is no API or it cannot say."""
    if api is None:
        return False
    try:
        return api.info().rsplit(" ", 1)[-1].startswith("5.")
    except BackendError:
        return False


def _watched(
    settings: Settings,
    targets: Sequence[Target],
    store: StateStore,
    clock: Clock,
    api: WazuhAPIHandler | None,
    indexer: WazuhIndexer | None,
) -> list[Target]:
    """The targets a pass checks: the indexer's locations learned, API polls planned, week-old removals forgotten."""
    listed = list(targets)
    if api is not None:
        targets = learn_configured(api, targets, settings.wazuh_api_max_rpm)
    if indexer is not None:
        targets = learn_locations(
            indexer, targets, clock.now(), lookback_s=settings.lookback_s, states=store.kept_states()
        )
    if api is not None:
        targets, budget_warning = plan_polls(targets, settings.wazuh_api_max_rpm)
        if budget_warning:
            log.warning("%s", budget_warning)
    # Learned locations count as configured even when learning failed this time (the indexer was down).
    configured = learned([*listed, *targets], store.load_states(), discovery=False)
    dropped = store.drop_removed([t.key for t in configured], clock.now() - REMOVED_KEPT)
    if dropped:
        # Shown as REMOVED until now; a week without a check means the removal was meant.
        log.info("forgot %d target(s) removed from the configuration a week ago: %s", len(dropped), ", ".join(dropped))
    return list(targets)


def _baselines(settings: Settings, targets: Sequence[Target]) -> bool:
    """Whether rate windows and their baselines are kept: only when some target can be judged by them."""
    return settings.drop_ratio > 0 or any(t.drop_ratio for t in targets)


def _sources(
    settings: Settings,
    targets: Sequence[Target],
    store: StateStore,
    sleep: Callable[[float], None],
    api: WazuhAPIHandler | None,
    indexer: WazuhIndexer | None,
    status: ApiStatusSource | None = None,
) -> list[EventSource]:
    """Where a pass counts events: local files always, the indexer and the agents' logcollector when configured."""
    sources: list[EventSource] = [LocalFilesSource(store, sleep=sleep)]
    if indexer is not None:
        sources.append(
            IndexerSource(
                indexer,
                lookback_s=settings.lookback_s,
                window_s=settings.default_check_interval_s,
                indexing_delay_s=settings.indexing_delay_s,
                states=store.kept_states,
            )
        )
    if api is not None and settings.wazuh_schema == "5.x":
        log.info("%s", NO_LOGCOLLECTOR_5X)
    elif api is not None:
        # Logcollector counts every line read (the alerts index only holds lines that matched a rule).
        # It asks only the agents that this pass's listing shows active.
        sources.append(LogcollectorSource(api, store, status.agents if status is not None else None))
    return sources
