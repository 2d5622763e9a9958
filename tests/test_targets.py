"""targets.py: agents.csv and files.csv read from real files, problems named by file and physical line."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from log_monitor.config import Settings
from log_monitor.errors import ConfigError
from log_monitor.models import MaintenanceWindow, Target, TargetKind
from log_monitor.targets import load_targets, parse_maintenance


def make_settings(folder: Path, agents: str | None, files: str | None = None, **changes: object) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    agents_csv = folder / "agents.csv"
    if agents is not None:
        agents_csv.write_text(agents)
    files_csv = None
    if files is not None:
        files_csv = folder / "files.csv"
        files_csv.write_text(files)
    base = Settings(
        env_file=folder / "log_monitor.env",
        base_dir=folder,
        agent_list_file=agents_csv,
        local_files_list=files_csv,
        default_check_interval_s=900.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def problems_of(settings: Settings) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_targets(settings)
    return caught.value.problems


def by_key(targets: list[Target]) -> dict[str, Target]:
    return {t.key: t for t in targets}


# --- agents.csv -------------------------------------------------------------------------------


def test_agents_with_header_comments_and_defaults(tmp_path: Path) -> None:
    text = "# agents\nagent_id,label,interval,threshold\n\n1,web\n002,db,5m,20m\n  # indented comment\n3,,10\n"
    targets = by_key(load_targets(make_settings(tmp_path, text)))
    assert list(targets) == ["agent:001", "agent:002", "agent:003"]
    web, db, third = targets["agent:001"], targets["agent:002"], targets["agent:003"]
    assert (web.kind, web.label, web.agent_id, web.interval_s, web.threshold_s) == (
        TargetKind.AGENT,
        "web",
        "001",
        900.0,
        900.0,
    )
    assert web.origin == f"{tmp_path / 'agents.csv'}:4"
    assert (db.interval_s, db.threshold_s) == (300.0, 1200.0)
    assert (third.label, third.interval_s, third.threshold_s) == ("agent 003", 600.0, 600.0)


def test_a_legacy_agents_file_without_header_or_labels_is_read(tmp_path: Path) -> None:
    targets = load_targets(make_settings(tmp_path, "001,web-frontend\n002\n"))
    assert [(t.agent_id, t.label) for t in targets] == [("001", "web-frontend"), ("002", "agent 002")]


def test_legacy_agent_check_intervals_set_the_default_interval(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "001,a\n002,b,1h\n", agent_check_intervals={"001": 600.0, "002": 60.0})
    targets = by_key(load_targets(settings))
    assert targets["agent:001"].interval_s == 600.0
    assert targets["agent:002"].interval_s == 3600.0


def test_quoted_cells_may_contain_commas(tmp_path: Path) -> None:
    (target,) = load_targets(make_settings(tmp_path, '001,"web, frontend",15m\n'))
    assert target.label == "web, frontend"


def test_files_column_adds_one_location_target_per_file(tmp_path: Path) -> None:
    text = "agent_id,label,interval,threshold,files\n001,web,,30m,/var/log/auth.log | /var/log/syslog\n002,db,,,*\n"
    targets = by_key(load_targets(make_settings(tmp_path, text)))
    auth = targets["agent:001:/var/log/auth.log"]
    assert (auth.kind, auth.label, auth.agent_id, auth.location) == (
        TargetKind.LOCATION,
        "web",  # the agent label: messages name the location themselves
        "001",
        "/var/log/auth.log",
    )
    assert (auth.interval_s, auth.threshold_s) == (900.0, 1800.0)
    assert auth.origin.endswith("agents.csv:2")
    assert "agent:001:/var/log/syslog" in targets
    assert targets["agent:002:*"].location == "*"
    assert len(targets) == 5


def test_maintenance_column_is_parsed_and_shared_by_location_targets(tmp_path: Path) -> None:
    text = "001,web,,,/var/log/syslog,Mon-Fri 22:00-06:00|Sat 02:00-03:00\n"
    targets = by_key(load_targets(make_settings(tmp_path, text)))
    windows = targets["agent:001"].maintenance
    assert windows == (
        MaintenanceWindow(frozenset(range(5)), 22 * 60, 6 * 60, "Mon-Fri 22:00-06:00"),
        MaintenanceWindow(frozenset({5}), 2 * 60, 3 * 60, "Sat 02:00-03:00"),
    )
    assert targets["agent:001:/var/log/syslog"].maintenance == windows


def test_every_problem_names_the_file_and_physical_line(tmp_path: Path) -> None:
    text = (
        "# comment on line 1\n"
        "agent_id,label,interval\n"
        "\n"
        "abc,bad id\n"  # 4
        "001,web\n"  # 5
        "1,web again\n"  # 6
        "002,db,soon\n"  # 7
        "003,x,,,,,0.1,ops,extra\n"  # 8: route is the 8th and last column
        "004,y,,,,Funday 01:00-02:00\n"  # 9
        "005,z,0\n"  # 10
    )
    problems = problems_of(make_settings(tmp_path, text))
    csv_path = tmp_path / "agents.csv"
    assert len(problems) == 6
    assert problems[0].startswith(f"{csv_path}:4: agent_id")
    assert problems[1].startswith(f"{csv_path}:6: agent 001 is listed twice (lines 5 and 6)")
    assert problems[2].startswith(f"{csv_path}:7: interval")
    assert problems[3].startswith(f"{csv_path}:8: too many columns")
    assert problems[4].startswith(f"{csv_path}:9: maintenance")
    assert problems[5].startswith(f"{csv_path}:10: interval")


def test_the_seventh_column_sets_a_targets_drop_ratio_and_a_bad_one_is_named_by_line(tmp_path: Path) -> None:
    targets = {
        t.key: t for t in load_targets(make_settings(tmp_path, "001,fw,,,/var/log/fw.log,,5%\n002,dc,,,,,0\n003,x\n"))
    }
    assert targets["agent:001"].drop_ratio == 0.05
    assert targets["agent:001:/var/log/fw.log"].drop_ratio == 0.05
    assert targets["agent:002"].drop_ratio == 0.0  # off for this one
    assert targets["agent:003"].drop_ratio is None  # DROP_RATIO
    problems = problems_of(make_settings(tmp_path, "001,fw\n002,dc,,,,,1.5\n"))
    assert problems == [
        f"{tmp_path / 'agents.csv'}:2: drop_ratio: expected a share from 0 (off) to 1 like 0.1 or 10%, got '1.5'"
    ]


def test_trailing_empty_cells_are_not_too_many_columns(tmp_path: Path) -> None:
    (target,) = load_targets(make_settings(tmp_path, "001,web,,,,,,\n"))
    assert target.agent_id == "001"


def test_a_missing_agents_file_is_an_error_unless_discovery_is_on(tmp_path: Path) -> None:
    problems = problems_of(make_settings(tmp_path, None))
    assert "agents file not found" in problems[0]
    assert str(tmp_path / "agents.csv") in problems[0]
    assert load_targets(make_settings(tmp_path, None, agent_discovery=True)) == []


# --- files.csv --------------------------------------------------------------------------------


def test_local_files_are_targets_with_paths_relative_to_the_csv(tmp_path: Path) -> None:
    text = "path,service,threshold,maintenance\nlogs/app.log,app\n/var/log/nginx/access.log,nginx,1h,02:00-03:00\n"
    targets = load_targets(make_settings(tmp_path, "", text))
    app, nginx = targets
    assert app.key == Target.file_key(str(tmp_path / "logs" / "app.log"))
    assert (app.kind, app.path, app.interval_s, app.threshold_s) == (
        TargetKind.LOCAL_FILE,
        str(tmp_path / "logs" / "app.log"),
        900.0,
        900.0,
    )
    assert "app" in app.label
    assert nginx.threshold_s == 3600.0
    assert nginx.maintenance[0].days == frozenset(range(7))
    assert nginx.origin.endswith("files.csv:3")


def test_local_file_problems_name_the_line(tmp_path: Path) -> None:
    text = "/var/log/a,svc\n/var/log/a,svc\n/var/log/b,svc,never\n/var/log/c,svc,1h,,,,,,extra\n"
    problems = problems_of(make_settings(tmp_path, "", text))
    files_csv = tmp_path / "files.csv"
    assert [p.split(": ")[0] for p in problems] == [f"{files_csv}:2", f"{files_csv}:3", f"{files_csv}:4"]


# --- maintenance windows --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon-Fri 08:00-09:00", {0, 1, 2, 3, 4}),
        ("Sat 08:00-09:00", {5}),
        ("sat-sun 08:00-09:00", {5, 6}),
        ("Mon,Wed,Fri 08:00-09:00", {0, 2, 4}),
        ("Fri-Mon 08:00-09:00", {4, 5, 6, 0}),
        ("08:00-09:00", set(range(7))),
    ],
)
def test_maintenance_days_accept_ranges_lists_and_single_days(text: str, days: set[int]) -> None:
    (window,) = parse_maintenance(text)
    assert window.days == frozenset(days)


def test_a_window_crossing_midnight_covers_the_next_morning() -> None:
    (window,) = parse_maintenance("Fri 22:00-06:00")
    assert window.contains(datetime(2024, 6, 7, 23, 0))  # Friday night
    assert window.contains(datetime(2024, 6, 8, 5, 59))  # Saturday morning
    assert not window.contains(datetime(2024, 6, 8, 6, 0))
    assert not window.contains(datetime(2024, 6, 7, 5, 0))  # Friday morning belongs to Thursday's window


@pytest.mark.parametrize("text", ["22:00", "Mon 25:00-01:00", "Someday 01:00-02:00", "01:00-01:00", "Mon-Fri"])
def test_a_malformed_window_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"window|day|time"):
        parse_maintenance(text)


def test_an_empty_maintenance_text_means_no_windows() -> None:
    assert parse_maintenance("") == ()
    assert parse_maintenance(" | ") == ()


# --- properties ---------------------------------------------------------------------------------

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=99999),  # 000 is the manager: a configuration error
        st.text(alphabet="abcdefghij -_.", max_size=12),
        st.integers(min_value=1, max_value=365),
        st.sampled_from(sorted(UNITS)),
    ),
    max_size=12,
    unique_by=lambda row: row[0],
)


@settings(max_examples=60)
@given(rows, st.booleans())
def test_generated_agent_rows_parse_back_to_the_same_ids_and_intervals(
    generated: list[tuple[int, str, int, str]], header: bool
) -> None:
    lines = ["agent_id,label,interval"] if header else []
    lines += [f"{number},{label},{amount}{unit}" for number, label, amount, unit in generated]
    with tempfile.TemporaryDirectory() as tmp:
        targets = load_targets(make_settings(Path(tmp), "\n".join(lines) + "\n"))
    assert [(t.agent_id, t.interval_s) for t in targets] == [
        (str(number).zfill(3), float(amount * UNITS[unit])) for number, _, amount, unit in generated
    ]


@settings(max_examples=100)
@given(st.text(max_size=200), st.text(max_size=100))
def test_arbitrary_csv_text_raises_nothing_but_config_error(agents: str, files: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            targets = load_targets(make_settings(Path(tmp), agents, files))
        except ConfigError as exc:
            assert exc.problems
            return
    assert all(t.interval_s > 0 and t.threshold_s > 0 for t in targets)


def test_a_bad_pattern_rule_is_a_configuration_error_naming_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text("# rules\nerrors,max,critical,5m,10,ERROR|Traceback\noops,sometimes,x,1m,1,a\n")
    header = "path,service,threshold,maintenance,format,high_margin,low_fraction,patterns\n"
    files = header + "/var/log/app.log,app,,,,,,rules.txt\n"
    with pytest.raises(ConfigError) as caught:
        load_targets(make_settings(tmp_path, None, files))
    assert any("rules.txt:3" in problem and "kind" in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    ("agents", "files", "where"),
    [
        ("001,web,9999999d\n", None, "agents.csv:1: interval"),
        ("agent_id,label,interval,threshold\n001,web,15m,99999999999999999999\n", None, "agents.csv:2: threshold"),
        (None, "/var/log/app.log,app,366d\n", "files.csv:1: threshold"),
    ],
)
def test_a_target_duration_over_365_days_is_a_config_error_naming_file_and_line(
    tmp_path: Path, agents: str | None, files: str | None, where: str
) -> None:
    problems = problems_of(make_settings(tmp_path, agents, files))
    assert any(where in p and "at most 365d" in p for p in problems), problems


def test_a_pattern_window_of_400_nines_is_a_config_error_naming_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text(f"huge,heartbeat,warning,{'9' * 400},0,BEAT\nyear,max,warning,366d,1,x\n")
    header = "path,service,threshold,maintenance,format,high_margin,low_fraction,patterns\n"
    with pytest.raises(ConfigError) as caught:
        load_targets(make_settings(tmp_path, None, header + "/var/log/app.log,app,,,,,,rules.txt\n"))
    problems = caught.value.problems
    assert any("rules.txt:1" in p and "window" in p for p in problems), problems
    assert any("rules.txt:2" in p and "window" in p for p in problems), problems
