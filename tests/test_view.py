"""What a target shows (log_monitor.view): one pure decision for once, status, top, the API and the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from log_monitor.models import Condition, MaintenanceWindow, Severity, Silence, Target, TargetState
from log_monitor.view import REMOVED_KEPT, learned, removed_by, repeated_labels, shown, silence_for, views

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
AGENT = Target.agent("001", "web-01", 60.0, 300.0)
AUTH = Target.agent("001", "web-01", 60.0, 300.0, location="/var/log/auth.log")
CRITICAL = TargetState("agent:001", Severity.CRITICAL, Condition.SILENT, last_checked=NOW)


def _silence(key: str, reason: str = "patching") -> dict[str, Silence]:
    return {key: Silence(key, NOW + timedelta(hours=2), reason, NOW, "alice")}


def test_a_silenced_critical_target_shows_maintenance_with_the_silence_that_holds_it() -> None:
    view = shown(CRITICAL, AGENT, _silence("agent:001"), NOW, UTC)
    assert view.shown == "MAINTENANCE"
    assert view.severity is Severity.MAINTENANCE
    assert view.silence is not None and view.silence.reason == "patching"
    assert "by alice: patching" in view.note()


def test_an_agent_silence_covers_its_locations_and_says_so() -> None:
    state = TargetState(AUTH.key, Severity.WARNING, Condition.SILENT)
    view = shown(state, AUTH, _silence("agent:001"), NOW, UTC)
    assert view.shown == "MAINTENANCE"
    assert "(via agent:001)" in view.note()
    # Known from the key alone too: a removed location of a silenced agent.
    assert silence_for(AUTH.key, None, _silence("agent:001")) is not None
    assert silence_for("agent:002:/var/log/x", None, _silence("agent:001")) is None


def test_a_location_silence_does_not_cover_its_agent() -> None:
    assert shown(CRITICAL, AGENT, _silence(AUTH.key), NOW, UTC).shown == "CRITICAL"


def test_a_maintenance_window_shows_maintenance_and_names_the_window() -> None:
    window = MaintenanceWindow(frozenset(range(7)), 9 * 60, 11 * 60, "09:00-11:00")
    target = Target.agent("001", "web-01", 60.0, 300.0, maintenance=(window,))
    view = shown(CRITICAL, target, {}, NOW, UTC)
    assert view.shown == "MAINTENANCE"
    assert view.note() == "maintenance window 09:00-11:00"
    assert shown(CRITICAL, target, {}, NOW + timedelta(hours=2), UTC).shown == "CRITICAL"


def test_an_ok_target_under_a_silence_shows_ok_and_the_silence() -> None:
    view = shown(TargetState("agent:001"), AGENT, _silence("agent:001"), NOW, UTC)
    assert view.shown == "OK"
    assert view.held


def test_a_stored_target_no_longer_configured_shows_removed_and_when_it_is_forgotten() -> None:
    view = shown(CRITICAL, None, {}, NOW, UTC)
    assert view.shown == "REMOVED"
    assert view.severity is None
    assert removed_by(view) == NOW + REMOVED_KEPT


def test_backend_and_pipeline_states_are_never_removed() -> None:
    for key in ("backend:indexer", "pipeline:all"):
        view = shown(TargetState(key, Severity.CRITICAL), None, {}, NOW, UTC)
        assert view.shown == "CRITICAL"
        assert view.system


def test_a_target_never_checked_is_pending() -> None:
    assert shown(None, AGENT, {}, NOW, UTC).shown == "PENDING"


def test_views_list_configured_targets_then_the_stored_rest() -> None:
    states = {"agent:001": CRITICAL, "agent:009": TargetState("agent:009"), "backend:api": TargetState("backend:api")}
    found = views([AGENT, AUTH], states, {}, NOW, UTC)
    assert [(v.key, v.shown) for v in found] == [
        ("agent:001", "CRITICAL"),
        (AUTH.key, "PENDING"),
        ("agent:009", "REMOVED"),
        ("backend:api", "OK"),
    ]


def test_learned_locations_and_discovered_agents_are_not_taken_for_removed_ones() -> None:
    learner = Target.agent("001", "web-01", 60.0, 300.0, location="*")
    states = {
        "agent:001:/var/log/x": TargetState("agent:001:/var/log/x"),
        "agent:007": TargetState("agent:007", agent_name="found-07"),
        "agent:002:/var/log/y": TargetState("agent:002:/var/log/y"),
    }
    keys = {t.key: t for t in learned([AGENT, learner], states, discovery=True)}
    assert keys["agent:001:/var/log/x"].location == "/var/log/x"
    assert keys["agent:007"].label == "found-07"
    assert "agent:002:/var/log/y" not in keys  # no `*` for agent 002: really removed
    assert "agent:007" not in {t.key for t in learned([AGENT], states, discovery=False)}


def test_repeated_labels_are_the_ones_carried_by_more_than_one_target() -> None:
    other = Target.agent("002", "db", 60.0, 300.0)
    assert repeated_labels([AGENT, AUTH, other]) == {"web-01"}
