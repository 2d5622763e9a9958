"""A scripted fleet of simulated Wazuh agents whose events are computed by arithmetic, never stored."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

MANAGER_ID = "000"
MANAGER_NAME = "wazuh-manager"
WAZUH_VERSION = "Wazuh v4.14.7"
NODE_NAME = "node01"
STATUSES = ("active", "disconnected", "never_connected", "pending")
# The manager's agents_disconnection_time default: the master marks an agent disconnected this long after
# its last keepalive (REALITY.md §9).
DISCONNECTION_TIME = timedelta(seconds=900)
# status_code (src/wazuh_db/wdb.h): 3 stopped on purpose, 4 no keepalive, 5 reset by a manager restart.
CODE_OK, CODE_NEWER, CODE_STOPPED, CODE_NO_KEEPALIVE, CODE_RESET = 0, 1, 3, 4, 5
BYTES_PER_EVENT = 120  # a typical syslog line; only feeds the logcollector byte counters
LOGCOLLECTOR_INTERVAL_S = 60  # logcollector's state_interval default
# Windows channels are indexed under one of these locations, the channel in data.win.system.channel (REALITY.md §3).
EVENT_CHANNEL = "EventChannel"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, rounded down (the indexer stores dates at millisecond precision)."""
    return _to_us(moment) // 1000


def ceil_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, rounded up."""
    return -(-_to_us(moment) // 1000)


def from_ms(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the fleet works in UTC")
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass
class SimAgent:
    """One agent as the server API lists it."""

    id: str
    name: str
    status: str
    ip: str
    os: str
    last_keepalive: datetime | None
    date_add: datetime
    version: str = WAZUH_VERSION
    node_name: str = NODE_NAME
    manager: str = MANAGER_NAME
    group: list[str] = field(default_factory=lambda: ["default"])
    status_code: int = CODE_OK

    @property
    def disconnection_time(self) -> datetime | None:
        return self.last_keepalive if self.status == "disconnected" else None


DAY_MS = 86_400_000


@dataclass
class _Stream:
    """Events of one (agent, location): at started + k * period, except inside silences [since, until).

    `daily` limits the events to the same UTC hours every day (a daily rhythm); `extra` streams add their
    events to this one's (the rest of a rhythm, or the new rate after a scripted rate change).
    """

    started_ms: int
    period_ms: int
    silences: list[tuple[int, int | None]] = field(default_factory=list)
    is_log: bool = True  # False: FIM, SCA, the manager's 504... alerts under the agent's id, not read by logcollector
    daily: tuple[int, int] | None = None  # [start, end) in milliseconds after UTC midnight
    extra: list[_Stream] = field(default_factory=list)

    def all(self) -> list[_Stream]:
        """This stream and every stream added to it."""
        return [self, *(s for child in self.extra for s in child.all())]

    def active_pieces(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """Inclusive millisecond ranges inside [lo, hi] where the stream is active, in time order."""
        for a, b in self._unsilenced(lo, hi):
            if self.daily is None:
                yield a, b
                continue
            start, end = self.daily
            day = a // DAY_MS * DAY_MS
            while day <= b:
                x, y = max(a, day + start), min(b, day + end - 1)
                if x <= y:
                    yield x, y
                day += DAY_MS

    def _unsilenced(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        lo = max(lo, self.started_ms)
        cursor = lo
        for since, until in _merged(self.silences):
            if cursor > hi:
                return
            if until is not None and until <= cursor:
                continue
            if since > cursor:
                yield cursor, min(hi, since - 1)
            if until is None:
                return
            cursor = max(cursor, until)
        if cursor <= hi:
            yield cursor, hi

    def count(self, lo: int, hi: int) -> int:
        if not self.extra and not self.silences and self.daily is None:
            # The steady stream, most of any fleet: asked ~10 times per indexer bucket, so no generators.
            a = max(lo, self.started_ms)
            if a > hi:
                return 0
            return max(0, (hi - self.started_ms) // self.period_ms + (a - self.started_ms) // -self.period_ms + 1)
        total = sum(child.count(lo, hi) for child in self.extra)
        for a, b in self.active_pieces(lo, hi):
            first = -(-(a - self.started_ms) // self.period_ms)
            last = (b - self.started_ms) // self.period_ms
            total += max(0, last - first + 1)
        return total

    def last(self, lo: int, hi: int) -> int | None:
        found = [m for m in (child.last(lo, hi) for child in self.extra) if m is not None]
        for a, b in reversed(list(self.active_pieces(lo, hi))):
            k = (b - self.started_ms) // self.period_ms
            moment = self.started_ms + k * self.period_ms
            if moment >= a:
                found.append(moment)
                break
        return max(found) if found else None


@dataclass
class _Replayed(_Stream):
    """Given events instead of a period: `hourly` events spread evenly over each hour (hour index -> count, for a
    long history at little cost) and each of `moments` (epoch ms, sorted) once. Scripted silences do not apply."""

    hourly: dict[int, int] = field(default_factory=dict)
    moments: list[int] = field(default_factory=list)

    def count(self, lo: int, hi: int) -> int:
        total = bisect.bisect_right(self.moments, hi) - bisect.bisect_left(self.moments, lo)
        for hour in range(lo // HOUR_MS, hi // HOUR_MS + 1):
            events = self.hourly.get(hour, 0)
            if events:  # event k of the hour at hour start + k * HOUR_MS // events
                first, last = max(lo, hour * HOUR_MS), min(hi, (hour + 1) * HOUR_MS - 1)
                total += _spread_index(last - hour * HOUR_MS, events) - _spread_index(
                    first - hour * HOUR_MS - 1, events
                )
        return total

    def last(self, lo: int, hi: int) -> int | None:
        at = bisect.bisect_right(self.moments, hi) - 1
        found = self.moments[at] if at >= 0 and self.moments[at] >= lo else None
        for hour in range(hi // HOUR_MS, max(lo // HOUR_MS, (found or lo) // HOUR_MS) - 1, -1):
            events = self.hourly.get(hour, 0)
            k = _spread_index(min(hi, (hour + 1) * HOUR_MS - 1) - hour * HOUR_MS, events) - 1
            moment = hour * HOUR_MS + k * HOUR_MS // events if events and k >= 0 else None
            if moment is not None and moment >= lo:
                return moment if found is None else max(found, moment)
        return found


HOUR_MS = 3_600_000


def _spread_index(offset: int, events: int) -> int:
    """How many of `events` spread evenly over an hour (event k at k * HOUR_MS // events) are at or before `offset`."""
    if offset < 0:
        return 0
    return min(events, -(-(offset + 1) * events // HOUR_MS))


def _merged(silences: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """Overlapping silences joined, sorted by start; None means open-ended."""
    merged: list[tuple[int, int | None]] = []
    for since, until in sorted(silences, key=lambda s: s[0]):
        if until is not None and until <= since:
            continue
        if merged:
            prev_since, prev_until = merged[-1]
            if prev_until is None:
                break
            if since <= prev_until:
                end = None if until is None else max(prev_until, until)
                merged[-1] = (prev_since, end)
                continue
        merged.append((since, until))
    return merged


@dataclass
class _Agent:
    id: str
    name: str
    status: str
    ip: str
    os_name: str
    date_add: datetime
    last_keepalive: datetime | None
    streams: dict[str, _Stream]
    logcollector_start: datetime | None = None  # None: since date_add; set by restart_logcollector()
    drops: list[tuple[str, int, int]] = field(default_factory=list)  # (location, epoch ms, count) since start
    utc_offset: timedelta = timedelta(0)  # the agent's zone: its logcollector statistics are written in it
    windows: bool = False  # its locations are event channels (Security, System...)
    group: tuple[str, ...] = ("default",)  # its Wazuh agent groups: an enrolled agent is in `default` first
    node: str = NODE_NAME  # the cluster node it is connected to
    status_code: int = CODE_OK
    quiet_files: list[str] = field(default_factory=list)  # configured <localfile>s that never send an event

    def listed(self, now: datetime, left: datetime | None = None) -> SimAgent:
        """The agent as the server API lists it at `now`: an active agent's keepalive is that moment.

        `left`: when its node left the cluster. The master keeps it active with the keepalive the worker
        last synced, and marks it disconnected (code 4) after DISCONNECTION_TIME (REALITY.md §9).
        """
        status, code, keepalive = self.status, self.status_code, self.last_keepalive
        if left is not None and status == "active":
            keepalive = left
            if now - left >= DISCONNECTION_TIME:
                status, code = "disconnected", CODE_NO_KEEPALIVE
        return SimAgent(
            id=self.id,
            name=self.name,
            status=status,
            ip=self.ip,
            os=self.os_name,
            last_keepalive=keepalive or (now if status == "active" else None),
            date_add=self.date_add,
            group=list(self.group),
            node_name=self.node,
            status_code=code,
        )


class Fleet:
    """Agents, their log locations and scripted silences; counts and last events are closed-form arithmetic.

    Thread-safe: the simulator's handler threads read it while a test or the demo scripts it.
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._agents: dict[str, _Agent] = {}
        self.group_names: dict[str, None] = {}  # groups created on the manager, in creation order (may be empty)
        self._created = self._now()
        self._nodes: dict[str, datetime | None] = {NODE_NAME: None}  # cluster nodes: when each left, None if up
        # Bumped by every change, so the server can cache what it derives from the fleet.
        self.version = 0
        # How long after its timestamp an event becomes searchable (Filebeat, the indexer's refresh): the indexer
        # answers as if the newest events had not arrived yet. The API's views are not delayed.
        self.indexing_lag = timedelta(0)

    def now(self) -> datetime:
        return self._now()

    def _searchable_ms(self) -> int:
        return to_ms(self._now() - self.indexing_lag)

    def add_agent(
        self,
        agent_id: str,
        name: str,
        *,
        status: str = "active",
        locations: Sequence[str] = ("/var/log/syslog",),
        rate_per_min: float = 6.0,
        started: datetime | None = None,
        ip: str | None = None,
        os_name: str = "Ubuntu",
        utc_offset_h: float = 0.0,
        windows: bool = False,
        non_log: Sequence[str] = (),
        non_log_every_s: float = 600.0,
        day_hours: tuple[int, int] | None = None,
        night_share: float = 0.05,
        node: str = NODE_NAME,
    ) -> None:
        """An agent with log `locations` (channel names on a Windows agent) and `non_log` alert sources
        (`syscheck`, `sca`...) that keep firing under its id while its logs are silenced.

        `day_hours` (UTC, start and end hour) gives it a daily rhythm: `rate_per_min` during those hours,
        `night_share` of it outside them."""
        if agent_id == MANAGER_ID:
            raise ValueError("agent 000 is the manager and always exists")
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive")
        start = started or self._now()
        number = int(agent_id) if agent_id.isdigit() else abs(hash(agent_id))
        with self._lock:
            self.version += 1
            self._agents[agent_id] = _Agent(
                id=agent_id,
                name=name,
                status=status,
                ip=ip or f"10.0.{(number // 250) % 256}.{number % 250 + 1}",
                os_name=os_name,
                date_add=start,
                last_keepalive=None if status == "never_connected" else (None if status == "active" else start),
                streams={loc: _log_stream(ceil_ms(start), rate_per_min, day_hours, night_share) for loc in locations},
                utc_offset=timedelta(hours=utc_offset_h),
                windows=windows or os_name.lower().startswith("windows"),
                node=node,
                status_code=CODE_NO_KEEPALIVE if status == "disconnected" else CODE_OK,
            )
            self._nodes.setdefault(node, None)
            for source in non_log:
                # FIM and SCA fire far less often than logs; every 10 minutes is plenty to hide a silence.
                every_ms = max(1, round(non_log_every_s * 1000))
                self._agents[agent_id].streams[source] = _Stream(ceil_ms(start), every_ms, is_log=False)

    def silence(self, agent_id: str, location: str | None = None, *, since: datetime | None = None) -> None:
        """The agent's logs (or one location) stop; its non-log alerts (FIM, SCA...) go on unless named."""
        at = ceil_ms(since or self._now())
        with self._lock:
            self.version += 1
            for stream in self._streams(agent_id, location):
                if stream.is_log or location is not None:
                    for part in stream.all():
                        part.silences.append((at, None))

    def resume(self, agent_id: str, location: str | None = None, *, at: datetime | None = None) -> None:
        """Ends the open silence of each stream at `at`; a stream that is not silenced is left alone."""
        until = ceil_ms(at or self._now())
        with self._lock:
            self.version += 1
            for stream in self._streams(agent_id, location):
                for part in stream.all():
                    part.silences = [(s, until if u is None and s <= until else u) for s, u in part.silences]

    def set_rate(
        self, agent_id: str, fraction: float, location: str | None = None, *, since: datetime | None = None
    ) -> None:
        """From `since`, the agent's logs (or one location) come at `fraction` of their current rate (half-dead)."""
        if not fraction > 0:
            raise ValueError("fraction must be positive (silence() stops a stream)")
        at = ceil_ms(since or self._now())
        with self._lock:
            self.version += 1
            for stream in self._streams(agent_id, location):
                if not stream.is_log and location is None:
                    continue
                parts = [p for p in stream.all() if not any(a <= at and (b is None or b > at) for a, b in p.silences)]
                for part in parts:
                    part.silences.append((at, None))
                for part in parts:
                    # The same rhythm, slower, from `at` on.
                    period = max(1, round(part.period_ms / fraction))
                    stream.extra.append(_Stream(started_ms=at, period_ms=period, daily=part.daily))

    def replay(self, agent_id: str, location: str, *, hourly: dict[int, int], moments_ms: Sequence[int]) -> None:
        """The location's events become exactly these: `hourly` (hour index -> events spread over that hour) and
        one at each of `moments_ms`; so another simulation's events can be read through the HTTP indexer."""
        with self._lock:
            self.version += 1
            agent = self._agent(agent_id)
            first = min([h * HOUR_MS for h in hourly] + list(moments_ms), default=agent.streams[location].started_ms)
            agent.streams[location] = _Replayed(first, 1, hourly=dict(hourly), moments=sorted(moments_ms))

    def restart_logcollector(self, agent_id: str, *, at: datetime | None = None) -> None:
        """Logcollector restarts: a new global.start, its counters (events, drops) begin again from zero."""
        with self._lock:
            self.version += 1
            agent = self._agent(agent_id)
            agent.logcollector_start = at or self._now()
            agent.drops = []

    def add_drops(self, agent_id: str, location: str, count: int, *, at: datetime | None = None) -> None:
        """Logcollector drops `count` events of a location (its queue to the agent was full)."""
        with self._lock:
            self.version += 1
            agent = self._agent(agent_id)
            self._streams(agent_id, location)  # KeyError for an unknown location
            agent.drops.append((location, to_ms(at or self._now()), count))

    def set_groups(self, agent_id: str, groups: Sequence[str]) -> None:
        """The agent's Wazuh agent groups (`agent_groups -a -i ID -g GROUP`), in the order it was put in them."""
        with self._lock:
            self.version += 1
            self._agent(agent_id).group = tuple(groups)

    def groups(self) -> dict[str, int]:
        """Every agent group and how many agents it has (`default` exists on every manager)."""
        with self._lock:
            counts = {"default": 0}
            for agent in self._agents.values():
                for name in agent.group:
                    counts[name] = counts.get(name, 0) + 1
            self.group_names.update({name: None for name in counts})
            return {name: counts.get(name, 0) for name in self.group_names}

    def set_status(
        self, agent_id: str, status: str, *, last_keepalive: datetime | None = None, code: int | None = None
    ) -> None:
        """The agent's status and status_code (default: 4, no keepalive, for disconnected; else 0)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            self.version += 1
            agent = self._agent(agent_id)
            agent.status = status
            agent.status_code = code if code is not None else CODE_NO_KEEPALIVE if status == "disconnected" else 0
            if status == "never_connected":
                agent.last_keepalive = None
            elif last_keepalive is not None or status != "active":
                # A disconnected agent's keepalive stops at the moment it was scripted to disconnect.
                agent.last_keepalive = last_keepalive or self._now()
            else:
                agent.last_keepalive = None

    def restart_manager(self, node: str | None = None) -> None:
        """remoted starts on `node` (None: every node): each of its active agents reads disconnected, code 5,
        with its last keepalive, until `reconnect` (its next keepalive; REALITY.md §9)."""
        now = self._now()
        with self._lock:
            self.version += 1
            for agent in self._agents.values():
                if agent.status == "active" and (node is None or agent.node == node):
                    agent.status, agent.status_code, agent.last_keepalive = "disconnected", CODE_RESET, now

    def reconnect(self, *agent_ids: str) -> None:
        """The agents' next keepalive (every agent reset by a restart when none is named): active again."""
        with self._lock:
            self.version += 1
            for agent in self._agents.values():
                if agent.id in agent_ids or (not agent_ids and agent.status_code == CODE_RESET):
                    agent.status, agent.status_code, agent.last_keepalive = "active", CODE_OK, None

    def leave_cluster(self, node: str, *, at: datetime | None = None) -> None:
        """The worker `node` dies: its agents' events stop at once; the master lists them active until
        DISCONNECTION_TIME after, then disconnected (code 4); their statistics answer 3022."""
        moment = at or self._now()
        with self._lock:
            self.version += 1
            self._nodes[node] = moment
            for agent in self._agents.values():
                if agent.node == node:
                    for stream in agent.streams.values():
                        for part in stream.all():
                            part.silences.append((ceil_ms(moment), None))

    def rejoin_cluster(self, node: str, *, at: datetime | None = None) -> None:
        """The worker `node` is back: its agents reconnect (active again) and their events resume."""
        until = ceil_ms(at or self._now())
        with self._lock:
            self.version += 1
            self._nodes[node] = None
            for agent in self._agents.values():
                if agent.node == node:
                    for stream in agent.streams.values():
                        for part in stream.all():
                            part.silences = [(s, until if u is None and s <= until else u) for s, u in part.silences]

    def nodes(self) -> dict[str, int]:
        """The connected cluster nodes (GET /cluster/healthcheck), each with its active agents."""
        now = self._now()
        with self._lock:
            up = [name for name, left in self._nodes.items() if left is None]
            counts = dict.fromkeys(up, 0)
            for agent in self._agents.values():
                if agent.node in counts and agent.listed(now).status == "active":
                    counts[agent.node] += 1
        return counts

    def node_of(self, agent_id: str) -> tuple[str, bool]:
        """The agent's node, and whether that node is in the cluster."""
        with self._lock:
            node = self._agent(agent_id).node
            return node, self._nodes.get(node) is None

    def add_configured_file(self, agent_id: str, location: str) -> None:
        """A <localfile> in the agent's configuration that has never sent an event (and never will, here)."""
        with self._lock:
            self.version += 1
            self._agent(agent_id).quiet_files.append(location)

    def localfiles(self, agent_id: str) -> list[tuple[str, str]]:
        """The agent's configured <localfile>s as (location, log format): its log locations and its quiet files."""
        with self._lock:
            agent = self._agent(agent_id)
            logformat = "eventchannel" if agent.windows else "syslog"
            logs = [loc for loc, stream in sorted(agent.streams.items()) if stream.is_log]
            return [(loc, logformat) for loc in [*logs, *agent.quiet_files]]

    def remove_agent(self, agent_id: str) -> None:
        """The agent is deleted (`manage_agents -r`, or replaced by a re-enrolment): gone from every listing."""
        with self._lock:
            self.version += 1
            self._agent(agent_id)
            del self._agents[agent_id]

    def reenrol(self, agent_id: str, new_id: str, *, at: datetime | None = None) -> None:
        """The host is reinstalled and enrols again with the same name (authd's <force>): the old agent is
        removed and a NEW id gets its log locations; events go on under the new id only (REALITY.md §9)."""
        moment = at or self._now()
        with self._lock:
            old = self._agent(agent_id)
            if new_id in self._agents or new_id == MANAGER_ID:
                raise ValueError(f"agent id {new_id!r} is taken")
            self.remove_agent(agent_id)
            self._agents[new_id] = replace(
                old, id=new_id, date_add=moment, logcollector_start=moment, drops=[], status_code=CODE_OK
            )

    def agents(self) -> list[SimAgent]:
        now = self._now()
        with self._lock:
            listed = [
                SimAgent(
                    id=MANAGER_ID,
                    name=MANAGER_NAME,
                    status="active",
                    ip="127.0.0.1",
                    os="Ubuntu",
                    last_keepalive=now,
                    date_add=self._created,
                    group=[],
                )
            ]
            nodes = self._nodes
            listed.extend(agent.listed(now, nodes.get(agent.node)) for agent in self._agents.values())
        return sorted(listed, key=lambda a: _id_order(a.id))

    def agent_ids(self) -> list[str]:
        """Ids of the agents that emit events (every agent but the manager)."""
        with self._lock:
            return list(self._agents)

    def locations(self, agent_id: str) -> list[str]:
        """The agent's event sources as it names them: paths, channel names, and non-log sources."""
        if agent_id == MANAGER_ID:
            return []
        with self._lock:
            return sorted(self._agent(agent_id).streams)

    def first_event_ms(self) -> int | None:
        """When the fleet's first event was sent (its earliest stream's start)."""
        with self._lock:
            starts = [s.started_ms for a in self._agents.values() for st in a.streams.values() for s in st.all()]
        return min(starts, default=None)

    def is_log(self, agent_id: str, location: str) -> bool:
        """Whether the source is a log the agent reads (not FIM, SCA...): Wazuh 5.0's queue 49 or 102."""
        with self._lock:
            stream = self._agent(agent_id).streams.get(location)
            return stream is not None and stream.is_log

    def indexed_as(self, agent_id: str, location: str) -> tuple[str, str | None]:
        """(location, channel) of the source's alerts in the index: a Windows channel is `EventChannel` + its name."""
        with self._lock:
            agent = self._agent(agent_id)
            stream = agent.streams.get(location)
            if agent.windows and stream is not None and stream.is_log:
                return EVENT_CHANNEL, location
            return location, None

    def count(self, agent_id: str, location: str | None, start: datetime, end: datetime) -> int:
        """Events with start <= t <= end (and t <= now: the future has not happened)."""
        return self.count_ms(agent_id, location, ceil_ms(start), to_ms(end))

    def last_event(self, agent_id: str, location: str | None, start: datetime, end: datetime) -> datetime | None:
        millis = self.last_event_ms(agent_id, location, ceil_ms(start), to_ms(end))
        return None if millis is None else from_ms(millis)

    def count_ms(self, agent_id: str, location: str | None, lo: int, hi: int) -> int:
        """As count(), on inclusive epoch-millisecond bounds (what the indexer simulation uses)."""
        hi = min(hi, self._searchable_ms())
        with self._lock:
            return sum(stream.count(lo, hi) for stream in self._streams(agent_id, location, strict=False))

    def count_ranges_ms(self, agent_id: str, queries: Sequence[tuple[Sequence[str], int, int]]) -> list[int]:
        """count_ms() of each (locations, lo, hi), summed over its locations: one clock reading and one lock
        for an indexer bucket's many filters."""
        now_ms = self._searchable_ms()
        with self._lock:
            agent = self._agents.get(agent_id) if agent_id != MANAGER_ID else None
            if agent is None:
                return [0 for _ in queries]
            streams = agent.streams
            return [
                sum(streams[loc].count(lo, min(hi, now_ms)) for loc in locations if loc in streams)
                for locations, lo, hi in queries
            ]

    def last_event_ms(self, agent_id: str, location: str | None, lo: int, hi: int) -> int | None:
        hi = min(hi, self._searchable_ms())
        with self._lock:
            found = [stream.last(lo, hi) for stream in self._streams(agent_id, location, strict=False)]
        moments = [m for m in found if m is not None]
        return max(moments) if moments else None

    def logcollector_stats(self, agent_id: str) -> dict[str, object]:
        """The agent's logcollector counters, shaped like GET /agents/{id}/stats/logcollector's item.

        As a real 4.14 agent writes them (REALITY.md §1): regenerated every LOGCOLLECTOR_INTERVAL_S (`end` is
        the last regeneration, not now), `interval` the last completed window, and every time in the
        agent's local zone labelled UTC. Only log locations: FIM and SCA are not read by logcollector.
        """
        now = self._now()
        with self._lock:
            agent = self._agent(agent_id)
            start = agent.logcollector_start or agent.date_add
            step = timedelta(seconds=LOGCOLLECTOR_INTERVAL_S)
            regenerated = start + ((now - start) // step) * step
            interval_start = max(start, regenerated - step)
            end_ms = to_ms(regenerated)
            global_files: list[dict[str, object]] = []
            interval_files: list[dict[str, object]] = []
            for location, stream in sorted(agent.streams.items()):
                if not stream.is_log:
                    continue
                events = stream.count(max(stream.started_ms, ceil_ms(start)), end_ms)
                recent = stream.count(max(ceil_ms(interval_start), ceil_ms(start)), end_ms)
                mine = [(ms, n) for loc, ms, n in agent.drops if loc == location and ms <= end_ms]
                drops = sum(n for _, n in mine)
                recent_drops = sum(n for ms, n in mine if ms >= to_ms(interval_start))
                global_files.append(_file_stats(location, events, drops))
                interval_files.append(_file_stats(location, recent, recent_drops))
            local = agent.utc_offset
        return {
            "global": {"start": _iso(start + local), "end": _iso(regenerated + local), "files": global_files},
            "interval": {
                "start": _iso(interval_start + local),
                "end": _iso(regenerated + local),
                "files": interval_files,
            },
        }

    @classmethod
    def generate(
        cls,
        n: int,
        *,
        now: Callable[[], datetime] | None = None,
        started: datetime | None = None,
        silent_every: int = 0,
        rate_per_min: float = 6.0,
    ) -> Fleet:
        """n agents "001".."n" named "agent-001"...; every silent_every-th one silent since an hour ago.

        A silenced agent always keeps its first event (at `started`), so it is silent rather than never seen.
        """
        fleet = cls(now=now)
        begin = started or fleet.now() - timedelta(days=1)
        silent_since = max(fleet.now() - timedelta(hours=1), begin + timedelta(milliseconds=1))
        for number in range(1, n + 1):
            agent_id = f"{number:03d}"
            fleet.add_agent(agent_id, f"agent-{agent_id}", started=begin, rate_per_min=rate_per_min)
            if silent_every > 0 and number % silent_every == 0:
                fleet.silence(agent_id, since=silent_since)
        return fleet

    def _agent(self, agent_id: str) -> _Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise KeyError(f"no agent {agent_id!r} in the fleet") from None

    def _streams(self, agent_id: str, location: str | None, *, strict: bool = True) -> list[_Stream]:
        if agent_id == MANAGER_ID or (not strict and agent_id not in self._agents):
            return []
        agent = self._agent(agent_id)
        if location is None:
            return list(agent.streams.values())
        if location not in agent.streams:
            if strict:
                raise KeyError(f"agent {agent_id!r} has no location {location!r}")
            return []
        return [agent.streams[location]]


def _log_stream(started_ms: int, rate_per_min: float, day_hours: tuple[int, int] | None, night_share: float) -> _Stream:
    if day_hours is None:
        return _Stream(started_ms=started_ms, period_ms=max(1, round(60_000 / rate_per_min)))
    if not 0 < night_share < 1:
        raise ValueError("night_share must be between 0 and 1")
    # All day at the night rate, plus the rest of the day rate during the day hours.
    night = _Stream(started_ms=started_ms, period_ms=max(1, round(60_000 / (rate_per_min * night_share))))
    hours = (day_hours[0] * 3_600_000, day_hours[1] * 3_600_000)
    day_rate = rate_per_min * (1 - night_share)
    night.extra.append(_Stream(started_ms=started_ms, period_ms=max(1, round(60_000 / day_rate)), daily=hours))
    return night


def _id_order(agent_id: str) -> tuple[int, str]:
    return (int(agent_id), agent_id) if agent_id.isdigit() else (1 << 62, agent_id)


def _file_stats(location: str, events: int, drops: int = 0) -> dict[str, object]:
    return {
        "location": location,
        "events": events,
        "bytes": events * BYTES_PER_EVENT,
        "targets": [{"name": "agent", "drops": drops}],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
