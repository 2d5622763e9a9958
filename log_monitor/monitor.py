"""LogCounter: checks a batch of targets against the backends, applies the policy, stores and queues."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from log_monitor.clock import Clock
from log_monitor.errors import BackendError
from log_monitor.models import Notification, Observation, Severity, Target, TargetKind, TargetState
from log_monitor.notifiers.dispatch import DeliveryReport, Dispatcher
from log_monitor.policy import PolicySettings, backend_step, step
from log_monitor.sources.wazuh_api import ApiStatusSource
from log_monitor.sources.wazuh_indexer import IndexerSource
from log_monitor.state import StateStore
from log_monitor.wazuh.api import AgentInfo

log = logging.getLogger(__name__)

NO_INDEXER = "no indexer configured (WAZUH_INDEXER_URL): events cannot be counted"


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
    ) -> None:
        self.targets = list(targets)
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock
        self.policy = policy
        self._indexer = indexer
        self._api = api
        self._discovery = discovery
        self._discovery_interval_s = discovery_interval_s

    def run_once(self) -> PassResult:
        """One pass over every target, then one attempt to deliver everything queued."""
        result = self.check(self.targets)
        result.delivery = self.dispatcher.deliver_pending()
        return result

    def check(self, batch: Sequence[Target]) -> PassResult:
        now = self.clock.now()
        result = PassResult()
        agents = self._read_agents(result)
        batch = list(batch) + self._discover(agents, batch)
        observations = self._observe(batch, now, result)
        states = self.store.load_states()
        new_states: list[TargetState] = []
        for target in batch:
            obs = _with_status(observations[target.key], target, agents)
            decision = step(states.get(target.key) or TargetState(target.key), target, obs, now, self.policy)
            new_states.append(decision.state)
            result.notifications.extend(decision.notifications)
            result.rows.append(CheckedTarget(target, obs, decision.state))
        for backend in self._backends():
            key = f"backend:{backend}"
            decision = backend_step(
                states.get(key) or TargetState(key), backend, result.backend_errors.get(backend), now, self.policy
            )
            new_states.append(decision.state)
            result.notifications.extend(decision.notifications)
        # States and their notifications land together: a crash can neither lose nor repeat an alert.
        self.store.commit(new_states, result.notifications)
        return result

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
        if self._indexer is None:
            error = NO_INDEXER
        else:
            try:
                observations = self._indexer.observe(batch, now)
                error = ""
            except BackendError as exc:
                log.warning("Wazuh indexer unreadable: %s", exc)
                result.backend_errors["indexer"] = str(exc)
                error = str(exc)
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
