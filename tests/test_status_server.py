"""The status server against a running monitor loop and the simulator: endpoints, token, metrics, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from log_monitor.changes import transition
from log_monitor.config import load_settings
from log_monitor.httpserve import ServerLimits, head_received
from log_monitor.logsetup import setup_logging
from log_monitor.models import Condition, Secret, Severity, Silence, TargetState
from log_monitor.notifiers.console import ConsoleNotifier
from log_monitor.notifiers.slack import SlackNotifier
from log_monitor.simulator.fleet import Fleet
from log_monitor.simulator.server import SimulatorServer
from log_monitor.state import StateStore
from log_monitor.status import http as status_http
from log_monitor.status import metrics as status_metrics
from tests import status_rig
from tests.daemon_process import Daemon
from tests.helpers import wait_for
from tests.slack_server import SlackServer
from tests.status_rig import TOKEN, Running

start = status_rig.start  # the running monitor, simulator and status server


def test_healthz_is_200_while_the_loop_ticks_and_the_backends_answer(start: Callable[..., Running]) -> None:
    running = start()
    response = running.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["reasons"] == []
    assert body["pass_age_limit_s"] == 2 * 1.0 + 60


def test_healthz_is_503_with_a_reason_when_the_indexer_is_down(start: Callable[..., Running]) -> None:
    running = start()
    running.sim.faults.indexer_mode = "down"
    assert wait_for(lambda: "indexer" in running.app.monitor.health_snapshot().backend_errors)
    response = running.get("/healthz")
    assert response.status_code == 503
    assert any(reason.startswith("indexer unreadable") for reason in response.json()["reasons"])
    metrics = _metrics(running.get("/metrics").text)
    assert metrics[("log_monitor_backend_up", (("backend", "indexer"),))] == 0


def test_healthz_is_503_when_the_loop_has_stopped_turning(start: Callable[..., Running]) -> None:
    running = start()
    running.signals.request_stop()
    running.loop.join(timeout=10)
    running.clock.shift_s = 120  # as if the loop had hung two minutes ago; the limit is 2 x 1 s + 60 s
    response = running.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "failing"
    reason = response.json()["reasons"][0]
    assert reason.startswith("no pass has completed for ") and reason.endswith(" s (limit 62 s)")
    # Two minutes, and the moments the request took: on a busy machine the answer may say 121 s.
    assert 120 <= int(reason.split()[5]) < 180


def test_healthz_is_503_when_the_loop_turns_but_every_pass_fails_on_a_locked_state_db(
    start: Callable[..., Running],
) -> None:
    running = start(token=TOKEN, health_grace_s=0.0)  # the limit is 2 x 1 s
    store = running.app.store
    with store._lock:
        store._db.connection.execute("PRAGMA busy_timeout = 100")  # each failing commit gives up quickly
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: every commit fails
    try:
        assert wait_for(lambda: running.app.monitor.health_snapshot().last_failure is not None)
        assert wait_for(lambda: running.get("/healthz").status_code == 503)
        ticked = running.app.monitor.health_snapshot().last_tick_mono
        assert ticked is not None
        assert wait_for(lambda: running.app.monitor.health_snapshot().last_tick_mono != ticked)  # the loop does turn
        response = running.get("/healthz", token=TOKEN)
        assert response.status_code == 503
        reasons = response.json()["reasons"]
        assert reasons[0].startswith("no pass has completed for")
        assert reasons[1].startswith("the latest pass failed: state DB")
        assert "database is locked" in reasons[1]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert wait_for(lambda: running.get("/healthz").status_code == 200)


def test_healthz_without_the_token_shows_only_the_status_and_with_it_the_reasons(
    start: Callable[..., Running],
) -> None:
    running = start(token=TOKEN)
    assert running.get("/healthz").json() == {"status": "ok"}
    running.sim.faults.indexer_mode = "down"
    assert wait_for(lambda: "indexer" in running.app.monitor.health_snapshot().backend_errors)
    response = running.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "failing"}  # no error text, no version
    detailed = running.get("/healthz", token=TOKEN).json()
    assert detailed["status"] == "failing"
    assert any(reason.startswith("indexer unreadable") for reason in detailed["reasons"])
    assert "version" in detailed


def test_healthz_reasons_never_show_a_secret(start: Callable[..., Running]) -> None:
    running = start(token=TOKEN)
    running.signals.request_stop()
    running.loop.join(timeout=10)
    # Any configured secret (the status token here, as long as a real password) is masked in the reasons.
    running.app.monitor.pass_failed(f"login as api-reader with {TOKEN} refused")
    running.clock.shift_s = 120
    body = running.get("/healthz", token=TOKEN).json()
    assert body["reasons"][1] == "the latest pass failed: login as api-reader with *** refused"
    assert TOKEN not in json.dumps(body)


def _half_header(url: str) -> socket.socket:
    """A slowloris client: connected, half a request head sent, then nothing more."""
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=5)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: monitor\r\n")
    return conn


def _closed_by_server(conn: socket.socket) -> bool:
    """True when the server closed the connection without answering (EOF or a reset)."""
    try:
        return conn.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_when_full_the_oldest_connection_still_sending_its_head_makes_room_for_a_probe(
    start: Callable[..., Running],
) -> None:
    running = start(limits=ServerLimits(max_connections=8, head_deadline_s=60, workers=2))
    threads = threading.active_count()
    held = [_half_header(running.server.url) for _ in range(8)]
    try:
        assert wait_for(lambda: running.server.open_connections == 8)
        # Idle sockets of one client fill every slot: a health probe still gets in, the oldest of them goes.
        for _ in range(3):
            assert running.get("/healthz").status_code == 200
        assert _closed_by_server(held[0])
        assert threading.active_count() <= threads  # waiting for a head costs a descriptor, not a thread
        assert running.server.open_connections <= 8
    finally:
        for conn in held:
            conn.close()
    assert wait_for(lambda: running.server.open_connections == 0)


@pytest.mark.parametrize("head", [b"GET / HTTP/1.0\r\nX-A: b\r\n\r\n", b"GET / HTTP/1.0\nX-A: b\n\n"])
def test_a_head_is_complete_at_its_blank_line_however_its_bytes_are_split_across_reads(head: bytes) -> None:
    for cut in range(1, len(head)):
        for step in (1, 2, 3, len(head)):
            received = bytearray(head[:cut])
            parts = [head[i : i + step] for i in range(cut, len(head), step)]
            done = [head_received(received, part) for part in parts]
            assert done[-1] and not any(done[:-1]), (cut, step)
            assert bytes(received) == head


def test_a_head_trickled_byte_by_byte_is_closed_at_the_deadline_for_the_whole_head(
    start: Callable[..., Running],
) -> None:
    running = start(limits=ServerLimits(head_deadline_s=0.5))
    host, port = running.server.url.removeprefix("http://").split(":")
    head = b"GET /healthz HTTP/1.0\r\n" + b"X-Slow: " + b"a" * 500 + b"\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        sent = 0
        try:
            # Each byte comes well within any per-read timeout; only a deadline on the whole head stops it.
            for byte in head:
                conn.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < len(head)
        assert _closed_by_server(conn)


def _connected(server_port: int, client_port: int) -> bool:
    """Whether the kernel still holds the server's end of this loopback connection (a reset unhashes it)."""
    wanted = (f":{server_port:04X}", f":{client_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote = line.split()[1:3]
        if (local[-5:], remote[-5:]) == wanted:
            return True
    return False


def test_a_client_that_hangs_up_before_the_answer_is_one_debug_line_not_a_traceback(
    start: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    running = start()
    running.signals.request_stop()
    running.loop.join(timeout=10)
    host, port = running.server.url.removeprefix("http://").split(":")
    caplog.set_level(logging.DEBUG)
    # /metrics reads the store: holding its lock keeps the answers back until every client has reset.
    with running.app.store._lock:
        for _ in range(3):
            conn = socket.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            client_port = conn.getsockname()[1]
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            conn.close()
            assert wait_for(lambda: not _connected(int(port), client_port))  # noqa: B023 - used at once
    wait_for(lambda: sum("hung up" in r.getMessage() for r in caplog.records) >= 3)
    server_records = [r for r in caplog.records if r.name.startswith(("log_monitor.httpserve", "log_monitor.status"))]
    said = [f"{r.levelname} {r.getMessage()}" for r in server_records]
    assert sum("hung up" in line for line in said) == 3, said
    assert not [r for r in server_records if r.exc_info or r.levelno >= logging.WARNING], said
    assert running.get("/healthz").status_code == 200


def test_api_targets_lists_each_target_with_its_state_and_filters_by_state(start: Callable[..., Running]) -> None:
    running = start()
    assert wait_for(lambda: running.get("/api/targets?state=CRITICAL").json()["targets"] != [])
    body = running.get("/api/targets").json()
    assert set(body) == {
        *("generated_at", "health_score", "counts", "total", "offset", "limit", "targets"),
        *("backends", "nodes", "channels", "silences"),
    }
    by_key = {t["key"]: t for t in body["targets"]}
    assert by_key["agent:002"]["state"] == "CRITICAL"
    assert by_key["agent:002"]["label"] == "db"
    assert by_key["agent:002"]["silent_for_s"] > 3000
    assert by_key["agent:001"]["state"] == "OK"
    assert body["counts"] == {"OK": 1, "CRITICAL": 1}
    assert body["health_score"] == 50  # (1 + 0) / 2
    critical = running.get("/api/targets?state=critical").json()["targets"]
    assert [t["key"] for t in critical] == ["agent:002"]
    assert running.get("/api/targets?state=BROKEN").status_code == 400


def test_api_targets_is_a_page_of_the_worst_targets_first_with_the_counts_over_every_target(
    start: Callable[..., Running],
) -> None:
    running = start()
    assert wait_for(lambda: running.get("/api/targets?state=CRITICAL").json()["targets"] != [])
    first = running.get("/api/targets?limit=1").json()
    assert [t["key"] for t in first["targets"]] == ["agent:002"]  # CRITICAL before OK, whatever the key order
    assert (first["total"], first["offset"], first["limit"]) == (2, 0, 1)
    assert first["counts"] == {"OK": 1, "CRITICAL": 1}
    second = running.get("/api/targets?limit=1&offset=1").json()
    assert [t["key"] for t in second["targets"]] == ["agent:001"]
    assert running.get("/api/targets?limit=1&offset=2").json()["targets"] == []
    for bad in ("limit=0", "limit=5001", "limit=x", "offset=-1", "offset=1e9"):
        assert running.get("/api/targets?" + bad).status_code == 400, bad


def test_metrics_above_the_series_cap_carry_only_the_targets_not_ok(
    start: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_metrics, "MAX_TARGET_SERIES", 1)
    running = start()
    assert wait_for(lambda: running.get("/api/targets?state=CRITICAL").json()["targets"] != [])
    text = running.get("/metrics").text
    assert 'log_monitor_target_severity{target="agent:002"} 2.0' in text
    assert 'target="agent:001"' not in text
    assert "log_monitor_target_series_omitted 1.0" in text
    assert 'log_monitor_targets{state="OK"} 1.0' in text  # the counts still cover every target


def test_answers_that_walk_every_target_are_built_one_at_a_time_and_a_client_kept_waiting_gets_503(
    start: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_http, "HEAVY_WAIT_S", 0.2)
    running = start()
    assert running.server.heavy.acquire(timeout=5)  # another client's answer being built
    try:
        for path in ("/api/targets", "/metrics", "/api/charts"):
            busy = running.get(path)
            assert busy.status_code == 503, path
            assert busy.headers["Retry-After"] == "5"
        assert running.get("/healthz").status_code == 200  # light answers do not wait
        assert running.get("/api/alerts").status_code == 200
    finally:
        running.server.heavy.release()
    assert running.get("/api/targets").status_code == 200


def test_head_and_options_are_answered_as_load_balancers_send_them(start: Callable[..., Running]) -> None:
    running = start()
    head = httpx.head(running.server.url + "/healthz", timeout=10)
    get = running.get("/healthz")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) > 0  # what GET would send (its figures move between two asks)
    options = httpx.options(running.server.url + "/", timeout=10)  # HAProxy's default check
    assert options.status_code == 204
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_a_host_name_that_is_not_this_servers_is_refused_so_a_rebinding_page_reads_nothing(
    start: Callable[..., Running],
) -> None:
    running = start()  # no token: the Host check is what keeps another site's page out
    port = running.server.address[1]
    refused = running.get("/api/targets", headers={"Host": f"rebind.evil.example:{port}"})
    assert refused.status_code == 421
    assert "targets" not in refused.json() and "STATUS_HOSTS" in refused.json()["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1", f"{socket.gethostname()}:{port}"):
        assert running.get("/api/targets", headers={"Host": host}).status_code == 200, host


def test_api_target_shows_the_history_of_transitions(start: Callable[..., Running]) -> None:
    running = start()
    assert wait_for(lambda: running.get("/api/targets/agent%3A002").json()["transitions"] != [])
    body = running.get("/api/targets/agent:002").json()
    assert body["key"] == "agent:002"
    assert body["transitions"][-1]["from"] is None
    assert body["transitions"][0]["to"] == "CRITICAL"
    assert body["alerts"], "the alert raised for the silent agent is listed with the target"
    assert running.get("/api/targets/agent:999").status_code == 404


def test_api_alerts_lists_recent_notifications_with_their_delivery(start: Callable[..., Running]) -> None:
    running = start()
    assert wait_for(lambda: running.get("/api/alerts").json()["alerts"] != [])
    assert wait_for(lambda: running.get("/api/alerts").json()["alerts"][0]["delivered_at"] is not None)
    body = running.get("/api/alerts?limit=1").json()
    (alert,) = body["alerts"]
    assert alert["target_key"] == "agent:002"
    assert alert["channel"] == "console"
    assert {"id", "created_at", "kind", "severity", "label", "attempts", "last_error"} <= set(alert)
    assert body["outbox_depth"] == 0
    assert running.get("/api/alerts?limit=0").status_code == 400


def test_a_silenced_target_shows_maintenance_with_its_silence_in_the_api(start: Callable[..., Running]) -> None:
    running = start()
    assert wait_for(lambda: running.get("/api/targets?state=CRITICAL").json()["targets"] != [])
    now = datetime.now(UTC)
    running.app.store.add_silence(Silence("agent:002", now + timedelta(hours=2), "db migration", now, "alice"))
    body = running.get("/api/targets").json()
    db = next(t for t in body["targets"] if t["key"] == "agent:002")
    assert db["state"] == "MAINTENANCE"
    assert db["severity"] == "CRITICAL"  # stored as it is: the alert goes out when the silence ends
    assert db["silence"]["reason"] == "db migration"
    assert db["silence"]["created_by"] == "alice"
    assert db["silenced_until"] == (now + timedelta(hours=2)).isoformat()
    assert [s["target_key"] for s in body["silences"]] == ["agent:002"]
    assert body["health_score"] == 100  # held back: left out of the score
    assert running.get("/api/targets/agent:002").json()["state"] == "MAINTENANCE"


def test_a_removed_target_is_listed_as_removed_and_left_out_of_the_score(start: Callable[..., Running]) -> None:
    running = start()
    gone = TargetState("agent:009", Severity.CRITICAL, Condition.SILENT, last_checked=datetime.now(UTC))
    running.app.store.commit([gone], [])
    body = running.get("/api/targets").json()
    removed = next(t for t in body["targets"] if t["key"] == "agent:009")
    assert removed["state"] == "REMOVED"
    assert removed["removed"] is True
    assert removed["forgotten_after"] is not None
    assert body["counts"]["REMOVED"] == 1
    assert running.get("/api/targets?state=REMOVED").json()["targets"][0]["key"] == "agent:009"
    metrics = _metrics(running.get("/metrics").text)
    assert metrics[("log_monitor_targets", (("state", "REMOVED"),))] == 1


def test_a_failing_slack_and_a_failing_backend_show_in_the_api(start: Callable[..., Running]) -> None:
    with SlackServer(token="xoxb-the-right-token", channels=("#soc",)) as slack:
        wrong = SlackNotifier(token=Secret("xoxb-a-wrong-token"), channel="#soc", api_url=slack.api_url)
        running = start(channels=[wrong, ConsoleNotifier(io.StringIO())])

        def slack_failed() -> bool:
            channels = running.get("/api/targets").json()["channels"]
            return any(c["channel"] == "slack" and c["state"] == "failed" for c in channels)

        assert wait_for(slack_failed)
        channels = {c["channel"]: c for c in running.get("/api/targets").json()["channels"]}
        assert channels["slack"]["failing_since"] is not None
        assert "invalid_auth" in channels["slack"]["last_error"]
        assert channels["console"]["state"] == "ok"
        running.sim.faults.indexer_mode = "down"

        def indexer_failing() -> bool:
            backends = running.get("/api/targets").json()["backends"]
            return any(b["key"] == "backend:indexer" and b["error"] for b in backends)

        assert wait_for(indexer_failing)
        backends = {b["key"]: b for b in running.get("/api/targets").json()["backends"]}
        assert backends["backend:api"]["error"] is None


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_back_with_the_prometheus_parser(start: Callable[..., Running]) -> None:
    running = start()
    assert wait_for(lambda: running.app.store.delivered_by_channel().get("console", 0) >= 1)
    response = running.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = _metrics(response.text)
    assert metrics[("log_monitor_targets", (("state", "CRITICAL"),))] == 1
    assert metrics[("log_monitor_targets", (("state", "OK"),))] == 1
    assert metrics[("log_monitor_target_silence_seconds", (("kind", "agent"), ("target", "agent:002")))] > 3000
    assert metrics[("log_monitor_checks_total", ())] >= 2
    assert metrics[("log_monitor_backend_requests_total", (("backend", "indexer"),))] >= 1
    assert metrics[("log_monitor_backend_request_seconds_count", (("backend", "api"),))] >= 1
    assert metrics[("log_monitor_backend_request_seconds_sum", (("backend", "api"),))] > 0
    assert metrics[("log_monitor_backend_responses_total", (("backend", "api"), ("code", "200")))] >= 1
    assert metrics[("log_monitor_alerts_sent_total", (("channel", "console"),))] >= 1
    assert metrics[("log_monitor_alert_failures_total", (("channel", "console"),))] == 0
    assert metrics[("log_monitor_outbox_depth", ())] == 0
    assert metrics[("log_monitor_health_score", ())] == 50
    assert metrics[("log_monitor_last_successful_pass_timestamp_seconds", ())] == pytest.approx(time.time(), abs=30)


def test_with_a_token_every_endpoint_but_healthz_asks_for_it(start: Callable[..., Running]) -> None:
    running = start(token=TOKEN)
    assert running.get("/healthz").status_code == 200
    for path in ("/", "/metrics", "/api/targets", "/api/targets/agent:001", "/api/alerts"):
        assert running.get(path).status_code == 401, path
        assert running.get(path, token="wrong-token").status_code == 401, path
        assert running.get(path, token=TOKEN).status_code == 200, path
    assert httpx.get(running.server.url + "/?token=" + TOKEN).status_code == 200  # the page's one-time link
    assert httpx.get(running.server.url + "/api/targets?token=" + TOKEN).status_code == 401  # only the page


def test_the_page_is_self_contained_and_locked_down_by_its_content_security_policy(
    start: Callable[..., Running],
) -> None:
    running = start()
    response = running.get("/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy
    assert "http://" not in response.text.replace("http://www.w3.org", "")
    assert "https://" not in response.text


def test_status_addr_without_a_host_binds_127_0_0_1(tmp_path: Path) -> None:
    env = tmp_path / "log_monitor.env"
    env.write_text("STATUS_ADDR=:9108\nSTATUS_TOKEN=abcdefgh\n")
    settings = load_settings(env, environ={})
    assert settings.status_addr == ("127.0.0.1", 9108)
    assert settings.status_token == Secret("abcdefgh")
    assert "abcdefgh" in settings.secrets()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_daemon_serves_the_status_on_127_0_0_1_and_never_logs_the_token(tmp_path: Path) -> None:
    port = _free_port()
    fleet = Fleet()
    fleet.add_agent("001", "web", rate_per_min=60, started=datetime.now(UTC) - timedelta(hours=1))
    fleet.add_agent("002", "db", rate_per_min=60, started=datetime.now(UTC) - timedelta(hours=1))
    with SimulatorServer(fleet) as sim, SlackServer(token="xoxb-daemon-test-token") as slack:
        daemon = Daemon(tmp_path, sim, slack, STATUS_ADDR=f":{port}", STATUS_TOKEN=TOKEN, LOGGING_LEVEL="DEBUG")
        daemon.start()
        try:
            url = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(url + "/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            assert wait_for(healthy), daemon.log_text()
            assert httpx.get(f"{url}/?token={TOKEN}", timeout=5).status_code == 200
            targets = httpx.get(url + "/api/targets", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            assert {t["key"] for t in targets.json()["targets"]} == {"agent:001", "agent:002"}
            assert f"status server listening on http://127.0.0.1:{port}" in daemon.log_text()
        finally:
            daemon.stop()
        assert TOKEN not in daemon.log_text()


def test_json_logs_give_one_object_per_line_with_time_level_event_target_and_fields(tmp_path: Path) -> None:
    log_file = tmp_path / "monitor.log"
    setup_logging(level=logging.INFO, fmt="json", file=log_file, secrets=["hunter22"])
    try:
        logger = logging.getLogger("log_monitor.test")
        logger.info("target %s is silent", "agent:002", extra={"target": "agent:002", "fields": {"silent_s": 3600}})
        logger.warning("login failed with hunter22", extra={"backend": "api", "fields": {"password": "hunter22"}})
    finally:
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
            handler.close()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert {"time", "level", "event", "target", "fields"} <= set(first)
    assert first["level"] == "INFO"
    assert first["event"] == "target agent:002 is silent"
    assert first["target"] == "agent:002"
    assert first["fields"] == {"silent_s": 3600}
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["target"] is None
    assert second["fields"] == {"password": "***", "backend": "api"}
    assert "hunter22" not in log_file.read_text()


def test_transitions_are_recorded_only_when_the_severity_changes(tmp_path: Path) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with StateStore(tmp_path / "s.sqlite3") as store:
        previous: TargetState | None = None
        for minutes, severity in enumerate([Severity.OK, Severity.WARNING, Severity.WARNING, Severity.OK]):
            state = TargetState("agent:001", severity, last_checked=at + timedelta(minutes=minutes))
            change = transition(previous, state, at)  # the judge's decision, as a pass makes it
            store.commit([state], [], transitions=[change] if change else [])
            previous = state
        history = store.transitions("agent:001")
    assert [(t.from_severity, t.to_severity) for t in history] == [
        (Severity.WARNING, Severity.OK),
        (Severity.OK, Severity.WARNING),
    ]
    assert history[0].at == at + timedelta(minutes=3)
