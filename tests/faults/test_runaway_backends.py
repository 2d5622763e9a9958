"""Backends that never finish: an after_key that never advances, endless full pages, an answer dripped byte by byte.

A tiny loopback http.server plays the indexer (or the API) and misbehaves on purpose; the clients must
stop with a BackendError naming the problem, not loop or wait for ever.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from log_monitor.clock import FakeClock
from log_monitor.errors import NotifierError, ResponseError, UnreachableError
from log_monitor.heartbeat import Heartbeat
from log_monitor.models import Secret
from log_monitor.notifiers.teams import TeamsNotifier
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.helpers import notification
from tests.json_backend import JsonBackend

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
Answer = Callable[[int, dict[str, Any]], dict[str, Any]]


class Backend(JsonBackend):
    """A loopback server answering every POST with `answer(request number, request body)` as JSON."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(self._respond, methods=("POST",))

    def _respond(self, method: str, body: dict[str, Any]) -> bytes:
        with self.lock:
            self.requests += 1
            number = self.requests
        return json.dumps(self.answer(number, body)).encode()


def page(agent: str) -> dict[str, Any]:
    """A full page (page size 1) of one agent's bucket, with that agent as the after_key."""
    bucket = {"key": {"agent": agent}, "doc_count": 3, "last_event": {"value": 1.7e12}, "in_window": {"doc_count": 1}}
    return {
        "_shards": {"total": 1, "failed": 0},
        "aggregations": {"agents": {"buckets": [bucket], "after_key": {"agent": agent}}},
    }


def last_events(url: str, **options: Any) -> None:
    with WazuhIndexer(Connection(url, "admin", Secret("admin"), retries=1), page_size=1, **options) as indexer:
        indexer.last_events(NOW - timedelta(days=7), NOW - timedelta(minutes=15), NOW)


def test_an_after_key_that_never_advances_is_a_response_error_after_two_pages_not_an_endless_loop() -> None:
    with Backend(lambda number, body: page("001")) as backend, pytest.raises(ResponseError, match="did not advance"):
        last_events(backend.url)
    assert backend.requests == 2


def test_an_after_key_that_goes_backwards_is_a_response_error() -> None:
    backwards = Backend(lambda number, body: page(f"{100 - number:03d}"))
    with backwards as backend, pytest.raises(ResponseError, match="after_key did not advance"):
        last_events(backend.url)
    assert backend.requests == 2


def test_full_pages_with_ever_new_keys_stop_at_the_page_cap_with_a_response_error() -> None:
    runaway = Backend(lambda number, body: page(f"{number:06d}"))
    with runaway as backend, pytest.raises(ResponseError, match="full pages after 25 pages"):
        last_events(backend.url, max_pages=25)
    assert backend.requests == 25


def location_page(number: int, size: int) -> dict[str, Any]:
    """A full page of one agent's buckets, each an ever-new location."""
    buckets = [
        {
            "key": {"agent": "001", "location": f"/var/log/new-{number:06d}-{n:04d}.log", "channel": None},
            "doc_count": 3,
            "last_event": {"value": 1.7e12},
            "in_window": {"doc_count": 1},
        }
        for n in range(size)
    ]
    after = buckets[-1]["key"]
    return {"_shards": {"total": 1, "failed": 0}, "aggregations": {"agents": {"buckets": buckets, "after_key": after}}}


def test_pages_of_ever_new_locations_are_refused_at_a_bound_on_pairs_well_before_the_page_cap() -> None:
    window = (NOW - timedelta(days=7), NOW - timedelta(minutes=15), NOW)
    with Backend(lambda number, body: location_page(number, 50)) as backend:
        indexer = WazuhIndexer(Connection(backend.url, "admin", Secret("admin"), retries=1), page_size=50)
        with indexer, pytest.raises(ResponseError, match=r"more than 200 distinct \(agent, location\) pairs"):
            indexer.last_events(*window, by_location=True, agent_ids=["001"])
    assert backend.requests == 5  # 250 pairs held at most, not the page cap's 100,000 pages of them


# -- a dripped answer --------------------------------------------------------------------------------------


class Drip:
    """A loopback server that answers every request with valid JSON, one byte every `pause_s`.

    `finished` is set when a handler ends; `wrote_all` says whether the whole body went out (the client
    read it to the end) or the client closed the connection first.
    """

    def __init__(self, body: bytes, pause_s: float, *, head_only: bool = False) -> None:
        self.head_only = head_only  # drip the status line and headers instead, then send the body at once
        self.finished = threading.Event()
        self.wrote_all: bool | None = None
        self.connections = 0
        drip = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._drip()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._drip()

            def _drip(self) -> None:
                drip.connections += 1
                if drip.head_only:
                    self._drip_head()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for offset in range(len(body)):
                        self.wfile.write(body[offset : offset + 1])
                        self.wfile.flush()
                        time.sleep(pause_s)
                    drip.wrote_all = True
                except OSError:  # the client hung up mid-body
                    drip.wrote_all = False
                finally:
                    self.close_connection = True
                    drip.finished.set()

            def _drip_head(self) -> None:
                head = HEAD % len(body)
                try:
                    for offset in range(len(head)):
                        self.wfile.write(head[offset : offset + 1])
                        self.wfile.flush()
                        time.sleep(pause_s)
                    self.wfile.write(body)
                    drip.wrote_all = True
                except OSError:  # the client hung up mid-head
                    drip.wrote_all = False
                finally:
                    self.close_connection = True
                    drip.finished.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Drip:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# 120 bytes at 40 ms: a complete answer takes about 5 s, each byte well inside the 2 s read timeout.
DRIPPED = json.dumps({"cluster_name": "drip", "data": {"title": "Wazuh API"}, "pad": "x" * 60}).encode()


# About 200 bytes of status line and headers: 8 s at 40 ms a byte, each byte well inside any read timeout here.
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"x" * 120 + b"\r\nContent-Length: %d\r\n\r\n"


@pytest.fixture
def drip() -> Iterator[Drip]:
    with Drip(DRIPPED, pause_s=0.04) as server:
        yield server


def test_an_indexer_answer_dripped_a_byte_at_a_time_ends_at_the_request_deadline(drip: Drip) -> None:
    indexer = WazuhIndexer(Connection(drip.url, "admin", Secret("admin"), timeout=2.0, deadline_s=0.3))
    with indexer, pytest.raises(UnreachableError, match=r"incomplete after the 0.3 s request deadline"):
        indexer.info()
    assert drip.finished.wait(10)
    assert drip.wrote_all is False  # the client hung up; it did not read the answer to its end
    assert drip.connections == 1  # not retried: a backend this slow would only cost the deadline again


def test_an_api_answer_dripped_a_byte_at_a_time_ends_at_the_request_deadline(drip: Drip) -> None:
    clock = FakeClock(NOW)
    with (
        WazuhAPIHandler(
            Connection(drip.url, "wazuh", Secret("wazuh"), timeout=2.0, deadline_s=0.3, sleep=clock.advance),
            clock=clock,
        ) as api,
        pytest.raises(UnreachableError, match=r"incomplete after the 0.3 s request deadline"),
    ):
        api.info()
    assert drip.finished.wait(10)
    assert drip.wrote_all is False
    assert drip.connections == 1


# -- dripped headers: httpx's timeout is per read, so only the request's deadline ends them ---------------


@pytest.fixture
def head_drip() -> Iterator[Drip]:
    with Drip(DRIPPED, pause_s=0.04, head_only=True) as server:
        yield server


def hung_up_mid_head(drip: Drip) -> bool:
    return drip.finished.wait(30) and drip.wrote_all is False and drip.connections == 1


def test_an_indexer_answer_whose_headers_are_dripped_ends_at_the_request_deadline(head_drip: Drip) -> None:
    indexer = WazuhIndexer(Connection(head_drip.url, "admin", Secret("admin"), timeout=2.0, deadline_s=0.3))
    with indexer, pytest.raises(UnreachableError, match=r"incomplete after the 0.3 s request deadline"):
        indexer.info()
    assert hung_up_mid_head(head_drip)


def test_an_api_answer_whose_headers_are_dripped_ends_at_the_request_deadline(head_drip: Drip) -> None:
    clock = FakeClock(NOW)
    connection = Connection(head_drip.url, "wazuh", Secret("wazuh"), timeout=2.0, deadline_s=0.3, sleep=clock.advance)
    with (
        WazuhAPIHandler(connection, clock=clock) as api,
        pytest.raises(UnreachableError, match=r"incomplete after the 0.3 s request deadline"),
    ):
        api.info()
    assert hung_up_mid_head(head_drip)


def test_a_webhook_channel_whose_headers_are_dripped_fails_at_its_deadline_for_the_next_channel(
    head_drip: Drip,
) -> None:
    teams = TeamsNotifier(webhook_url=Secret(head_drip.url), timeout=0.5)
    with pytest.raises(NotifierError, match=r"incomplete after the 1 s request deadline") as failed:
        teams.send(notification())
    teams.close()
    assert not failed.value.permanent
    assert hung_up_mid_head(head_drip)


def test_a_heartbeat_receiver_dripping_its_headers_fails_the_ping_at_its_deadline(head_drip: Drip) -> None:
    heartbeat = Heartbeat(head_drip.url, timeout_s=0.5)
    heartbeat.ping(True)
    assert hung_up_mid_head(head_drip)
    assert heartbeat.flush(30)
    heartbeat.close()
    assert (heartbeat.sent, heartbeat.failed) == (0, 1)
