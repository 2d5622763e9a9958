"""LogCounter: checks a batch of targets against the backends, applies the policy, stores and queues."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from log_monitor.clock import Clock
from log_monitor.errors import BackendError, LogMonitorError
from log_monitor.models import Notification, NotificationKind, Observation, Severity, Target, TargetKind, TargetState
from log_monitor.notifiers.dispatch import DeliveryReport, DeliveryWorker, Dispatcher
from log_monitor.policy import PolicySettings, assess, backend_step, in_maintenance, step
from log_monitor.scheduler import Scheduler
from log_monitor.sources.local_files import LocalFilesSource
from log_monitor.sources.logcollector import LogcollectorSource, combine
from log_monitor.sources.wazuh_api import ApiStatusSource
from log_monitor.sources.wazuh_indexer import IndexerSource
from log_monitor.state import StateStore
from log_monitor.wazuh.api import AgentInfo

log = logging.getLogger(__name__)

NO_INDEXER = "no indexer configured (WAZUH_INDEXER_URL): events cannot be counted"
PIPELINE_KEY = "pipeline:all"
PIPELINE_MIN_AGENTS = 5


class Outcome(enum.Enum):
    """Why the daemon loop returned."""

    STOP = "stop"  # SIGTERM / SIGINT: exit 0
    RESTART = "restart"  # RESTART_INTERVAL reached: re-exec
    RELOAD = "reload"  # SIGHUP: re-read the configuration


@dataclass
class Signals:
    """Flags the signal handlers set; `wake` interrupts the loop's sleep at once."""

    stop: bool = False
    reload: bool = False
    wake: threading.Event = field(default_factory=threading.Event)

    def request_stop(self) -> None:
        self.stop = True
        self.wake.set()

    def request_reload(self) -> None:
        self.reload = True
        self.wake.set()


@dataclass(frozen=True)
class CheckedTarget:
    """One row of a pass: the target, what was seen and the state it is now in."""

    target: Target
    observation: Observation
    state: TargetState


@dataclass
class PassResult:
    """Everything a pass found and decided."""

    rows: list[CheckedTarget] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    backend_errors: dict[str, str] = field(default_factory=dict)
    delivery: DeliveryReport | None = None

    @property
    def exit_code(self) -> int:
        """Nagios convention; a real CRITICAL or WARNING outranks an unreadable backend."""
        severities = {row.state.severity for row in self.rows}
        if Severity.CRITICAL in severities:
            return 2
        if Severity.WARNING in severities:
            return 1
        if Severity.UNKNOWN in severities or self.backend_errors:
            return 3
        return 0


@dataclass
class LoopHealth:
    """What the loop tells the status server; each field is replaced whole, so a reader never sees half an update."""

    started_mono: float | None = None  # when run() began (monotonic)
    last_tick_mono: float | None = None  # the loop's latest turn (monotonic): the daemon is alive
    last_tick_at: datetime | None = None
    last_pass_at: datetime | None = None  # latest pass that completed (its states committed)
    last_pass_mono: float | None = None
    last_failure: str | None = None  # why the latest pass failed; None once one completes again
    last_good_pass_at: datetime | None = None  # latest pass in which every backend answered
    backend_errors: dict[str, str] = field(default_factory=dict)  # of the latest pass
    passes: int = 0
    checks: int = 0  # target checks done since start


class LogCounter:
    """The checking core shared by the one-off pass and the daemon."""

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        store: StateStore,
        dispatcher: Dispatcher,
        clock: Clock,
        policy: PolicySettings,
        indexer: IndexerSource | None,
        api: ApiStatusSource | None,
        discovery: bool = False,
        discovery_interval_s: float = 900.0,
        pipeline_ratio: float = 0.5,
        zone: tzinfo | None = None,
        scheduler: Scheduler | None = None,
        files: LocalFilesSource | None = None,
        logcollector: LogcollectorSource | None = None,
    ) -> None:
        self._files = files
        self._logcollector = logcollector
        self.targets = list(targets)
        self.scheduler = scheduler or Scheduler()
        self._pipeline_ratio = pipeline_ratio
        self._zone = zone
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock
        self.policy = policy
        self._indexer = indexer
        self._api = api
        self._discovery = discovery
        self._discovery_interval_s = discovery_interval_s
        self.health = LoopHealth()
        # Set by the daemon: then a tick only wakes it, so a slow channel never delays the checks.
        self.worker: DeliveryWorker | None = None

    def run_once(self) -> PassResult:
        """One pass over every target, then one attempt to deliver everything queued."""
        result = self.check(self.targets)
        # A one-off pass (cron, Nagios) tries everything queued, whatever its backoff: runs are spaced anyway.
        result.delivery = self.dispatcher.deliver_pending(force=True)
        return result

    def check(self, batch: Sequence[Target]) -> PassResult:
        now = self.clock.now()
        result = PassResult()
        agents = self._read_agents(result)
        batch = list(batch) + self._discover(agents, batch)
        seen = self._observe(batch, now, result)
        observations = {t.key: _with_status(seen[t.key], t, agents) for t in batch}
        states = self.store.load_states()
        silenced = self.store.silences(now)
        pipeline_problem, pipeline_keys = self._pipeline(batch, observations, now)
        new_states: list[TargetState] = []
        for target in batch:
            maintenance = target.key in silenced or in_maintenance(target.maintenance, now, self._zone)
            inhibited = pipeline_problem is not None and target.kind is not TargetKind.LOCAL_FILE
            obs = observations[target.key]
            previous = states.get(target.key) or TargetState(target.key)
            decision = step(previous, target, obs, now, self.policy, quiet=maintenance or inhibited)
            state = decision.state
            if state.severity is not previous.severity:
                # With LOG_FORMAT=json this line carries the target key, so Wazuh can index the monitor's view.
                log.info(
                    "%s (%s): %s -> %s (%s)",
                    target.key,
                    target.label,
                    previous.severity.name,
                    state.severity.name,
                    state.condition.value,
                    extra={
                        "target": target.key,
                        "fields": {"from": previous.severity.name, "to": state.severity.name, "label": target.label},
                    },
                )
            if maintenance and state.severity in (Severity.WARNING, Severity.CRITICAL):
                # Stored as the real severity (so the alert goes out when the window ends), shown as maintenance.
                state = replace(state, severity=Severity.MAINTENANCE)
            new_states.append(decision.state)
            result.notifications.extend(decision.notifications)
            result.rows.append(CheckedTarget(target, obs, state))
        for backend in self._backends():
            key = f"backend:{backend}"
            decision = backend_step(
                states.get(key) or TargetState(key), backend, result.backend_errors.get(backend), now, self.policy
            )
            new_states.append(decision.state)
            result.notifications.extend(decision.notifications)
        if pipeline_problem is not None or PIPELINE_KEY in states:
            decision = backend_step(
                states.get(PIPELINE_KEY) or TargetState(PIPELINE_KEY),
                "Wazuh pipeline",
                pipeline_problem,
                now,
                self.policy,
                down=NotificationKind.PIPELINE_SILENT,
                up=NotificationKind.PIPELINE_RESTORED,
                severity=Severity.CRITICAL,
                related=pipeline_keys,
            )
            new_states.append(decision.state)
            result.notifications.extend(decision.notifications)
        # States and their notifications land together: a crash can neither lose nor repeat an alert.
        self.store.commit(new_states, result.notifications)
        self._record_pass(result, now)
        return result

    def _record_pass(self, result: PassResult, now: datetime) -> None:
        health = self.health
        health.backend_errors = dict(result.backend_errors)
        health.checks += len(result.rows)
        health.passes += 1
        health.last_pass_at = now
        health.last_pass_mono = self.clock.monotonic()
        health.last_failure = None
        if not result.backend_errors:
            health.last_good_pass_at = now

    def _pipeline(
        self, batch: Sequence[Target], observations: dict[str, Observation], now: datetime
    ) -> tuple[str | None, tuple[str, ...]]:
        """When most agents fall silent together the pipeline is broken: one alert, not one per agent."""
        agents = [t for t in batch if t.kind is TargetKind.AGENT and not observations[t.key].unknown]
        silent = tuple(
            t.key
            for t in agents
            if assess(t, observations[t.key], now, self.policy).severity in (Severity.WARNING, Severity.CRITICAL)
        )
        if len(silent) >= PIPELINE_MIN_AGENTS and len(silent) >= self._pipeline_ratio * len(agents):
            return f"{len(silent)} of {len(agents)} agents silent in one pass", silent
        return None, ()

    # -- the daemon ----------------------------------------------------------------------

    def set_targets(self, targets: Sequence[Target]) -> None:
        """Take a new target list (a reload): new targets are due at once, vanished ones leave the schedule."""
        keep = {t.key for t in targets}
        for old in self.targets:
            if old.key not in keep:
                self.scheduler.remove(old.key)
        self.targets = list(targets)
        now = self.clock.monotonic()
        for target in self.targets:
            if target not in self.scheduler:
                self.scheduler.schedule(target.key, now)

    def tick(self) -> PassResult | None:
        """Check every target that is due, reschedule it, and deliver what is queued."""
        mono = self.clock.monotonic()
        due = set(self.scheduler.pop_due(mono))
        if not due:
            return None
        batch = [t for t in self.targets if t.key in due]
        try:
            result = self.check(batch)
        finally:
            # Even a failed check comes back at its interval: one bad pass must not drop a target.
            for target in self.targets:
                if target.key in due or target.key not in self.scheduler:
                    self.scheduler.schedule(target.key, mono + target.interval_s)
        result.delivery = self.deliver()
        return result

    def deliver(self) -> DeliveryReport | None:
        """Hand the outbox to the delivery worker when one runs (no report then), else drain it now."""
        if self.worker is not None and self.worker.running:
            self.worker.wake()
            return None
        return self.dispatcher.deliver_pending()

    def run(self, signals: Signals, *, restart_at: float) -> Outcome:
        """The daemon loop: tick, sleep until the next due time or a signal; returns why it stopped.

        `restart_at` is the monotonic time at which the process should re-execute itself.
        """
        self.set_targets(self.targets)
        self.health.started_mono = self.clock.monotonic()
        while True:
            self.health.last_tick_mono = self.clock.monotonic()
            self.health.last_tick_at = self.clock.now()
            if signals.stop:
                return Outcome.STOP
            if signals.reload:
                signals.reload = False
                return Outcome.RELOAD
            if self.clock.monotonic() >= restart_at:
                return Outcome.RESTART
            try:
                self.tick()
            except LogMonitorError as exc:
                # A broken pass (state DB locked, ...) is logged and retried; the daemon stays up.
                log.error("check failed: %s", exc)
                self.health.last_failure = str(exc)
            next_due = self.scheduler.next_due()
            now = self.clock.monotonic()
            wait = (next_due - now) if next_due is not None else restart_at - now
            wait = max(0.0, min(wait, restart_at - now))
            if wait > 0:
                signals.wake.wait(wait)
                signals.wake.clear()

    def _backends(self) -> list[str]:
        return [name for name, source in (("api", self._api), ("indexer", self._indexer)) if source is not None]

    def _read_agents(self, result: PassResult) -> dict[str, AgentInfo] | None:
        if self._api is None:
            return None
        try:
            return self._api.agents()
        except BackendError as exc:
            log.warning("Wazuh API unreadable: %s", exc)
            result.backend_errors["api"] = str(exc)
            return None

    def _discover(self, agents: dict[str, AgentInfo] | None, batch: Sequence[Target]) -> list[Target]:
        """With AGENT_DISCOVERY=active, every active agent not listed becomes a target too."""
        if not self._discovery or agents is None:
            return []
        listed = {t.agent_id for t in self.targets if t.kind is TargetKind.AGENT}
        listed |= {t.agent_id for t in batch if t.kind is TargetKind.AGENT}
        found = [
            Target(
                key=Target.agent_key(agent.id),
                kind=TargetKind.AGENT,
                label=agent.name,
                interval_s=self._discovery_interval_s,
                threshold_s=self._discovery_interval_s,
                agent_id=agent.id,
                expected=False,
                origin="discovered (AGENT_DISCOVERY=active)",
            )
            for agent in agents.values()
            if agent.status == "active" and agent.id not in listed and agent.id != "000"
        ]
        if found:
            log.info("discovered %d active agents not listed in the agents file", len(found))
            self.targets.extend(found)
        return found

    def _observe(self, batch: Sequence[Target], now: datetime, result: PassResult) -> dict[str, Observation]:
        observations: dict[str, Observation] = {}
        if self._files is not None:
            observations.update(self._files.observe(batch, now))
        batch = [t for t in batch if t.key not in observations]
        if not batch:
            return observations
        if self._indexer is None:
            error = NO_INDEXER
        else:
            try:
                observations.update(self._indexer.observe(batch, now))
                error = ""
            except BackendError as exc:
                log.warning("Wazuh indexer unreadable: %s", exc)
                result.backend_errors["indexer"] = str(exc)
                error = str(exc)
        if self._logcollector is not None:
            # Logcollector counts every line read (the alerts index only holds lines that matched a rule).
            for key, collected in self._logcollector.observe(batch, now).items():
                indexed = observations.get(key)
                observations[key] = combine(indexed, collected) if indexed is not None else collected
        for target in batch:
            if target.key not in observations:
                # Not read is not silent: UNKNOWN, never "zero events".
                observations[target.key] = Observation(target.key, now, error=error or "not observed by any source")
        return observations


def _with_status(obs: Observation, target: Target, agents: dict[str, AgentInfo] | None) -> Observation:
    if agents is None or target.agent_id is None:
        return obs
    agent = agents.get(target.agent_id)
    if agent is None:
        return replace(obs, agent_status="not registered")
    return replace(obs, agent_status=agent.status, last_keepalive=agent.last_keepalive, agent_name=agent.name)
