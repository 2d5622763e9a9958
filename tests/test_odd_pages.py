"""Indexer pages that cannot be right are a broken answer (UNKNOWN, one backend alert), never a silent agent.

A loopback server plays the indexer and answers each page with bytes written by the test (so that a JSON
object can name a member twice); the real client pages through them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from log_monitor.clock import FakeClock
from log_monitor.errors import ResponseError
from log_monitor.models import NotificationKind, Secret, Severity
from log_monitor.simulator.fleet import Fleet
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.json_backend import JsonBackend
from tests.monitor_rig import Rig, agent

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
LIVE = (NOW - timedelta(minutes=1)).timestamp() * 1000
Pages = Callable[[int, dict[str, Any]], bytes]  # (page number from 1, request body) -> the answer's bytes


class OddIndexer(JsonBackend):
    """A loopback indexer answering the n-th search with `pages(n, body)`; `_field_caps` with every 4.x field."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.searches = 0
        super().__init__(self._respond)

    def _respond(self, method: str, body: dict[str, Any]) -> bytes:
        if method == "GET":  # `_field_caps`: every 4.x field mapped
            caps = {name: {"keyword": {"type": "keyword"}} for name in ("agent.id", "timestamp", "location")}
            return json.dumps({"indices": ["wazuh-alerts-4.x-2026.11.22"], "fields": caps}).encode()
        self.searches += 1
        return self.pages(self.searches, body)


def bucket(agent_id: object, last: float | None = LIVE, in_window: object = 3) -> dict[str, Any]:
    return {
        "key": {"agent": agent_id},
        "doc_count": 3,
        "last": {"value": last},
        "w": {"doc_count": in_window},
    }


def page(buckets: list[dict[str, Any]], after: object = "last") -> bytes:
    agg: dict[str, Any] = {"buckets": buckets}
    if after == "last" and buckets:
        agg["after_key"] = buckets[-1]["key"]
    elif after not in ("last", None):
        agg["after_key"] = after
    body = {"took": 1, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
    return json.dumps({**body, "aggregations": {"agents": agg}}, separators=(",", ":")).encode()


def pages(*answers: bytes) -> Pages:
    """The answers in turn, then empty pages."""
    return lambda number, _body: answers[number - 1] if number <= len(answers) else page([])


def read(url: str, asked: list[str] | None, page_size: int) -> dict[tuple[str, ...], Any]:
    connection = Connection(url, "admin", Secret("admin"), retries=1, sleep=lambda _s: None)
    with WazuhIndexer(connection, page_size=page_size) as client:
        return client.last_events(
            since=NOW - timedelta(days=7), window_start=NOW - timedelta(minutes=15), until=NOW, agent_ids=asked
        )


DUPLICATE_MEMBER = page([bucket("001"), bucket("002")]).replace(
    b'"w":{"doc_count":3}}', b'"w":{"doc_count":3},"w":{"doc_count":0}}', 1
)
DUPLICATE_KEY_PART = page([bucket("001")]).replace(b'{"agent":"001"}', b'{"agent":"002","agent":"001"}', 1)

# (what is odd, pages, agents asked, page size): each once made a live agent look silent, or a silent one live.
ODD = {
    "after_key never moves, padded with unasked agents": (
        pages(page([bucket("001"), bucket("900"), bucket("901")], after={"agent": "001"})),
        ["001", "002", "003"],
        3,
    ),
    "a key seen twice, the last one empty": (
        pages(page([bucket("001"), bucket("002")]), page([bucket("002", last=None, in_window=0)])),
        None,
        2,
    ),
    "a key twice in one page": (pages(page([bucket("001"), bucket("001", last=None, in_window=0)])), None, 5),
    "a full page without after_key": (
        pages(page([bucket("001"), bucket("002")], after=None), page([bucket("003")])),
        None,
        2,
    ),
    "a short page with an after_key past its last bucket": (
        pages(page([bucket("001")], after={"agent": "002"}), page([bucket("003")])),
        None,
        2,
    ),
    "a numeric agent id": (pages(page([bucket(1)])), None, 5),
    "a JSON object naming a member twice": (pages(DUPLICATE_MEMBER), None, 5),
    "a JSON key naming the agent twice": (pages(DUPLICATE_KEY_PART), None, 5),
    "a negative window count": (pages(page([bucket("001", in_window=-4)])), None, 5),
    "a 40-digit window count": (pages(page([bucket("001", in_window=10**40)])), None, 5),
    "a last event a year ahead": (pages(page([bucket("001", last=LIVE + 365 * 86400 * 1000)])), None, 5),
}


@pytest.mark.parametrize("odd", list(ODD), ids=list(ODD))
def test_an_odd_page_is_a_broken_answer_never_a_silence(odd: str) -> None:
    answers, asked, page_size = ODD[odd]
    with OddIndexer(answers) as server, pytest.raises(ResponseError):
        read(server.url, asked, page_size)


def test_a_plain_short_last_page_with_its_after_key_is_the_end() -> None:
    with OddIndexer(pages(page([bucket("001"), bucket("002")]), page([bucket("003")]))) as server:
        stats = read(server.url, None, 2)
    assert set(stats) == {("001",), ("002",), ("003",)}
    assert server.searches == 2


def test_a_broken_answer_makes_the_agents_unknown_with_one_backend_alert(clock: FakeClock, tmp_path: Path) -> None:
    fleet = Fleet(now=clock.now)
    for number in ("001", "002", "003"):
        fleet.add_agent(number, f"host-{number}", rate_per_min=6, started=NOW - timedelta(hours=1))
    answers, _, _ = ODD["after_key never moves, padded with unasked agents"]
    rig = Rig(clock, tmp_path, fleet)
    targets = [agent(n, f"host-{n}") for n in ("001", "002", "003")]
    with OddIndexer(answers) as server, rig.sim, rig.app(targets, wazuh_indexer_url=server.url, drop_ratio=0.0) as app:
        result = app.monitor.run_once()
    assert result.exit_code == 3
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}
    assert [n.kind for n in result.notifications] == [NotificationKind.BACKEND_DOWN]
    assert "cannot be right" in result.backend_errors["indexer"]
