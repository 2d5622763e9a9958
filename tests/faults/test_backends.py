"""Wazuh API and indexer faults, in-process against the simulator with a fake clock.

Every fault runs the same story: a healthy pass, two passes under the fault, a healed pass. Whatever
the fault, the passes finish (no exception, so no crash loop), the backend is reported once as down
and once as restored, the agent that really is silent is alerted exactly once, and no other agent is
ever called silent.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import trustme

from log_monitor.errors import ResponseError, UnreachableError
from log_monitor.models import NotificationKind, Secret, Severity
from log_monitor.monitor import PassResult
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.client import Connection
from log_monitor.wazuh.indexer import WazuhIndexer
from tests.faults.backend_rig import SILENT, TARGETS, make_rig
from tests.monitor_rig import NOW, Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(tmp_path)
    with made.sim:
        yield made


def through_fault(rig: Rig, apply: Callable[[], None], heal: Callable[[], None]) -> list[PassResult]:
    """Healthy pass, two passes under the fault, healed pass; one minute apart."""
    results = []
    with rig.app(TARGETS) as app:
        for number in range(4):
            if number == 1:
                apply()
            if number == 3:
                heal()
            results.append(app.monitor.run_once())
            rig.clock.advance(60)
        outbox = app.store.recent(1000)
    assert all(entry.delivered_at is not None for entry in outbox), "every notification was delivered"
    return results


def assert_survived(results: list[PassResult], backend: str) -> None:
    healthy, faulty, still, healed = results
    assert healthy.backend_errors == {} and healed.backend_errors == {}
    assert backend in faulty.backend_errors and backend in still.backend_errors
    notes = [n for result in results for n in result.notifications]
    by_kind = [(n.kind, n.target_key) for n in notes]
    # The real silence: alerted exactly once, never repeated because the backend came back.
    assert by_kind.count((NotificationKind.ALERT, SILENT)) == 1
    assert not [n for n in notes if n.target_key.startswith("agent:") and n.target_key != SILENT], by_kind
    for result in results:
        called_silent = {
            row.target.key for row in result.rows if row.state.severity in (Severity.WARNING, Severity.CRITICAL)
        }
        assert called_silent <= {SILENT}
    assert by_kind.count((NotificationKind.BACKEND_DOWN, f"backend:{backend}")) == 1
    assert by_kind.count((NotificationKind.BACKEND_RESTORED, f"backend:{backend}")) == 1
    assert [n.kind for n in healed.notifications if n.target_key.startswith("agent:")] == []


TRANSPORT = ["hang", "reset", "garbage", "malformed", "truncated", "huge"]


@pytest.mark.parametrize("fault", TRANSPORT)
def test_an_api_transport_fault_is_one_backend_alert_and_no_false_silence(rig: Rig, fault: str) -> None:
    faults = rig.sim.faults
    results = through_fault(
        rig, lambda: setattr(faults, "api_transport", fault), lambda: setattr(faults, "api_transport", "ok")
    )
    assert_survived(results, "api")


@pytest.mark.parametrize("fault", TRANSPORT)
def test_an_indexer_transport_fault_makes_agents_unknown_not_silent(rig: Rig, fault: str) -> None:
    faults = rig.sim.faults
    results = through_fault(
        rig, lambda: setattr(faults, "indexer_transport", fault), lambda: setattr(faults, "indexer_transport", "ok")
    )
    assert_survived(results, "indexer")
    assert {row.state.severity for row in results[1].rows} == {Severity.UNKNOWN}
    assert results[1].exit_code == 3


@pytest.mark.parametrize("mode", ["down", "shard_failure", "timed_out", "unauthorized"])
def test_an_indexer_error_or_partial_answer_makes_agents_unknown_not_silent(rig: Rig, mode: str) -> None:
    faults = rig.sim.faults
    results = through_fault(
        rig, lambda: setattr(faults, "indexer_mode", mode), lambda: setattr(faults, "indexer_mode", "ok")
    )
    assert_survived(results, "indexer")
    severities = {row.target.key: row.state.severity for row in results[1].rows}
    if mode in ("shard_failure", "timed_out"):
        # A partial answer proves the recency it shows: the live agents stay OK, the silent one is UNKNOWN.
        assert severities[SILENT] is Severity.UNKNOWN
        assert set(severities.values()) == {Severity.OK, Severity.UNKNOWN}
    else:
        assert set(severities.values()) == {Severity.UNKNOWN}


def test_api_500s_on_every_request_are_one_backend_alert(rig: Rig) -> None:
    faults = rig.sim.faults
    results = through_fault(rig, lambda: setattr(faults, "api_mode", "down"), lambda: setattr(faults, "api_mode", "ok"))
    assert_survived(results, "api")


def test_a_few_api_500s_are_retried_and_the_pass_is_clean(rig: Rig) -> None:
    with rig.app(TARGETS) as app:
        rig.sim.faults.fail_next_api = 2
        result = app.monitor.run_once()
    assert result.backend_errors == {}
    assert [(n.kind, n.target_key) for n in result.notifications] == [(NotificationKind.ALERT, SILENT)]


def test_a_changed_api_password_is_one_backend_alert_not_a_loop_of_logins(rig: Rig) -> None:
    users = dict(rig.sim.api_users)

    def rotate() -> None:
        # A changed password also revokes the user's tokens, so the next request must log in, and is refused.
        rig.sim.api_users.update(wazuh="rotated")
        rig.sim.expire_tokens()

    results = through_fault(rig, rotate, lambda: rig.sim.api_users.update(users))
    assert_survived(results, "api")
    assert "login refused" in results[1].backend_errors["api"]


def test_a_429_storm_gives_up_after_a_few_waits_and_reports_the_api_unreadable(rig: Rig) -> None:
    results = through_fault(rig, lambda: setattr(rig.sim, "max_rpm", 0), lambda: setattr(rig.sim, "max_rpm", 300))
    # Waiting out the storm moved the (fake) clock minutes on: the silent agent may rightly escalate.
    assert_survived(results, "api")
    assert "rate limited" in results[1].backend_errors["api"]


def test_a_401_in_the_middle_of_a_paged_listing_logs_in_again_and_finishes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2 agents: the listing takes 4 requests; the API "restarts" (tokens die) after the first page.
    rig.tuning = replace(rig.tuning, api_page_size=2)
    verify = rig.sim.verify_token
    calls: list[str] = []

    def verify_then_restart(token: str) -> str | None:
        calls.append(token)
        if len(calls) == 2:
            rig.sim.expire_tokens()
        return verify(token)

    monkeypatch.setattr(rig.sim, "verify_token", verify_then_restart)
    with rig.app(TARGETS) as app:
        result = app.monitor.run_once()
        assert app.api is not None and app.api.logins == 2
    assert result.backend_errors == {}
    assert rig.sim.stats.api_401 == 1
    assert {row.observation.agent_status for row in result.rows} == {"active"}


def test_an_untrusted_tls_certificate_is_refused_at_once_and_every_agent_is_unknown(tmp_path: Path) -> None:
    ca = trustme.CA()  # the servers' CA, which the monitor is not given (no VERIFICATION_FILE)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    rig = make_rig(tmp_path, ssl_context=context)
    with rig.sim, rig.app(TARGETS) as app:
        started = rig.clock.monotonic()  # the clients' retry backoff sleeps advance this fake clock
        result = app.monitor.run_once()
        waited = rig.clock.monotonic() - started
    assert set(result.backend_errors) == {"api", "indexer"}
    assert "CERTIFICATE_VERIFY_FAILED" in result.backend_errors["indexer"]
    assert {row.state.severity for row in result.rows} == {Severity.UNKNOWN}
    kinds = sorted((n.kind.value, n.target_key) for n in result.notifications)
    assert kinds == [("backend_down", "backend:api"), ("backend_down", "backend:indexer")]
    assert waited == 0, "a TLS failure is not retried: retrying cannot fix a certificate"


@pytest.mark.parametrize("client", ["api", "indexer"])
def test_an_answer_above_the_size_cap_is_a_response_error_read_no_further(tmp_path: Path, client: str) -> None:
    rig = make_rig(tmp_path)
    with rig.sim:
        rig.sim.faults.api_transport = rig.sim.faults.indexer_transport = "huge"
        cap = 1024 * 1024
        with pytest.raises(ResponseError, match="byte cap"):
            if client == "api":
                with WazuhAPIHandler(
                    Connection(rig.sim.api_url, "wazuh", Secret("wazuh"), max_response_bytes=cap, sleep=lambda _: None)
                ) as api:
                    api.list_agents()
            else:
                with WazuhIndexer(
                    Connection(
                        rig.sim.indexer_url, "admin", Secret("admin"), max_response_bytes=cap, sleep=lambda _: None
                    )
                ) as indexer:
                    indexer.last_events(NOW - timedelta(days=1), NOW - timedelta(minutes=5), NOW)


@pytest.mark.parametrize("client", ["api", "indexer"])
def test_a_hanging_backend_times_out_on_every_attempt_then_is_a_transport_error(tmp_path: Path, client: str) -> None:
    rig = make_rig(tmp_path)
    sleeps: list[float] = []
    with rig.sim:
        rig.sim.faults.hang_s = 0.5
        rig.sim.faults.api_transport = rig.sim.faults.indexer_transport = "hang"
        # Which bound ends an attempt first, the read timeout (0.1 s) or the exchange's deadline (0.2 s), is the
        # machine's: a loaded one reaches the deadline first. Either is this backend's timeout.
        with pytest.raises(UnreachableError, match=r"timed out|request deadline"):
            if client == "api":
                with WazuhAPIHandler(
                    Connection(rig.sim.api_url, "wazuh", Secret("wazuh"), timeout=0.1, retries=3, sleep=sleeps.append)
                ) as api:
                    api.list_agents()
            else:
                with WazuhIndexer(
                    Connection(
                        rig.sim.indexer_url, "admin", Secret("admin"), timeout=0.1, retries=3, sleep=sleeps.append
                    )
                ) as indexer:
                    indexer.last_events(NOW - timedelta(days=1), NOW - timedelta(minutes=5), NOW)
    assert sleeps == [0.5, 1.0], "three attempts, with backoff between them"


def test_a_connection_that_leaves_the_retries_open_keeps_each_backends_own_count() -> None:
    api_sleeps: list[float] = []
    indexer_sleeps: list[float] = []
    with (
        WazuhAPIHandler(Connection("http://127.0.0.1:9", "wazuh", Secret("wazuh"), sleep=api_sleeps.append)) as api,
        pytest.raises(UnreachableError),
    ):
        api.list_agents()
    with (
        WazuhIndexer(Connection("http://127.0.0.1:9", "admin", Secret("admin"), sleep=indexer_sleeps.append)) as idx,
        pytest.raises(UnreachableError),
    ):
        idx.last_events(NOW - timedelta(days=1), NOW - timedelta(minutes=5), NOW)
    assert len(api_sleeps) == 3, "the API: four attempts"
    assert len(indexer_sleeps) == 2, "the indexer: three attempts"
