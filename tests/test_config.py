"""The config package: the env file contract of DESIGN.md section 3, read from real files in tmp_path."""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from log_monitor.app import policy_settings
from log_monitor.config import Settings, load_settings
from log_monitor.config.envfile import EnvHandler
from log_monitor.config.keys import DEFAULTS, KEYS, KNOWN_KEYS, Key
from log_monitor.config.settings import describe
from log_monitor.config.values import normalize_agent_id, parse_duration, resolve_path
from log_monitor.errors import ConfigError
from log_monitor.models import MAX_DURATION_S, Secret
from log_monitor.policy import PolicySettings
from log_monitor.wazuh.api import WazuhAPIHandler
from log_monitor.wazuh.indexer import WazuhIndexer


def write_env(folder: Path, text: str, name: str = "log_monitor.env") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(write_env(tmp_path / "env-files", text), environ or {})


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return caught.value.problems


# --- durations and ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("10", 600.0),
        ("1.5", 90.0),
        (" 2H ", 7200.0),
        ("0", 0.0),
    ],
)
def test_durations_accept_units_and_bare_minutes(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "-5m", "5x", "m", "1e3", "1 h 2", "inf", "nan"])
def test_a_malformed_duration_raises_value_error_quoting_it(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["s", "m", "h", "d", "S", "M", "H", "D", ""]),
    st.sampled_from(["", " "]),
)
def test_generated_durations_parse_back_to_their_seconds(number: int, unit: str, pad: str) -> None:
    factor = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}[unit.lower()]
    if number * factor > MAX_DURATION_S:
        with pytest.raises(ValueError, match="at most 365d"):
            parse_duration(f"{pad}{number}{unit}{pad}")
    else:
        assert parse_duration(f"{pad}{number}{unit}{pad}") == number * factor


# Text in general, and the texts that look like durations: long digit runs, decimals and units.
_DURATION_LIKE = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda digits, frac, unit, pad: f"{pad}{digits}{frac}{unit}{pad}",
        st.text(alphabet="0123456789", min_size=1, max_size=500),
        st.sampled_from(["", ".", ".5", ".000001"]),
        st.sampled_from(["", "s", "m", "h", "d", "D"]),
        st.sampled_from(["", " "]),
    ),
)


@given(_DURATION_LIKE)
def test_parse_duration_gives_a_value_within_365_days_or_raises_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert "duration" in str(exc)
        return
    assert 0 <= seconds <= MAX_DURATION_S


@hypothesis_settings(max_examples=60, deadline=None)
@given(_DURATION_LIKE)
def test_any_text_as_a_duration_key_loads_within_bounds_or_is_a_config_error_naming_the_key(text: str) -> None:
    if "\n" in text or "\r" in text or "#" in text or "'" in text or '"' in text:
        text = "x"  # dotenv syntax, not durations, is what such text would test
    with tempfile.TemporaryDirectory() as tmp:
        env_file = write_env(Path(tmp), f"LOOKBACK={text}\nREMINDER_INITIAL={text}\nREMINDER_MAX=365d\n")
        try:
            loaded = load_settings(env_file, {})
        except ConfigError as exc:
            assert all(": LOOKBACK: " in p or ": REMINDER_INITIAL: " in p for p in exc.problems), exc.problems
            return
    assert 0 < loaded.lookback_s <= MAX_DURATION_S
    assert 0 < loaded.reminder_initial_s <= MAX_DURATION_S


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("REMINDER_INITIAL", "9999999d"),
        ("LOOKBACK", "9999999999d"),
        ("DEFAULT_CHECK_INTERVAL", "99999999999999999999"),
        ("RESTART_INTERVAL", "366d"),
        ("INDEXING_DELAY", "9" * 400),
    ],
)
def test_a_duration_over_365_days_is_a_config_error_naming_the_key(tmp_path: Path, key: str, value: str) -> None:
    problems = problems_of(tmp_path, f"{key}={value}\n")
    assert any(f": {key}: " in p and "at most 365d" in p for p in problems), problems
    assert all(len(p) < 300 for p in problems)  # a value of 400 digits is cut short, not echoed whole


@pytest.mark.parametrize("value", ["2d", "365d", "61m", "3601s"])
def test_an_indexing_delay_over_an_hour_is_a_config_error_naming_the_key(tmp_path: Path, value: str) -> None:
    problems = problems_of(tmp_path, f"INDEXING_DELAY={value}\n")
    assert any(": INDEXING_DELAY: " in p and "at most 1h" in p for p in problems), problems


def test_an_indexing_delay_of_half_the_default_threshold_loads_with_a_warning(tmp_path: Path) -> None:
    settings = load(tmp_path, "INDEXING_DELAY=1h\nDEFAULT_CHECK_INTERVAL=1h\n")
    assert settings.indexing_delay_s == 3600
    assert any("INDEXING_DELAY=1h is half of DEFAULT_CHECK_INTERVAL" in w for w in settings.warnings)
    assert not any("INDEXING_DELAY" in w for w in load(tmp_path, "INDEXING_DELAY=5m\n").warnings)


def test_a_secret_file_that_is_a_device_a_fifo_or_too_big_is_a_config_error_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo)  # nobody writes: reading it would wait for ever
    big = tmp_path / "big.txt"
    big.write_text("x" * 100_000)
    problems = problems_of(
        tmp_path,
        f"SLACK_BOT_TOKEN_FILE={fifo}\nWAZUH_API_PASSWORD_FILE=/dev/zero\nWAZUH_INDEXER_PASSWORD_FILE={big}\n",
    )
    assert any(": SLACK_BOT_TOKEN_FILE: " in p and "not a regular file" in p for p in problems), problems
    assert any(": WAZUH_API_PASSWORD_FILE: " in p and "not a regular file" in p for p in problems), problems
    assert any(": WAZUH_INDEXER_PASSWORD_FILE: " in p and "larger than 8192 bytes" in p for p in problems), problems


def test_status_hosts_are_host_names_and_anything_else_is_a_config_error(tmp_path: Path) -> None:
    settings = load(tmp_path, "STATUS_HOSTS=Monitor.Example.org, monitor.\n")
    assert settings.status_hosts == ("monitor.example.org", "monitor")
    problems = problems_of(tmp_path, "STATUS_HOSTS=monitor.example.org:9108\n")
    assert any(": STATUS_HOSTS: " in p for p in problems), problems


def test_a_duration_of_exactly_365_days_is_accepted(tmp_path: Path) -> None:
    settings = load(tmp_path, "LOOKBACK=365d\nREMINDER_MAX=8760h\n")
    assert settings.lookback_s == settings.reminder_max_s == MAX_DURATION_S


def test_a_legacy_agent_interval_over_365_days_is_a_config_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "AGENT_CHECK_INTERVALS=001:99999999999d\n")
    assert any("AGENT_CHECK_INTERVALS" in p for p in problems)


@pytest.mark.parametrize(("text", "normal"), [("1", "001"), ("001", "001"), (" 42 ", "042"), ("1234", "1234")])
def test_agent_ids_are_zero_padded_to_three_digits(text: str, normal: str) -> None:
    assert normalize_agent_id(text) == normal


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.0", "٣"])
def test_a_non_numeric_agent_id_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="agent id"):
        normalize_agent_id(text)


# --- defaults and every key -----------------------------------------------------------------


def test_an_empty_env_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path, "")
    assert settings.base_dir == tmp_path
    assert settings.agent_list_file == tmp_path / "config" / "agents.csv"
    assert settings.state_db == tmp_path / "state" / "log_monitor.sqlite3"
    assert settings.local_files_list is None
    assert settings.wazuh_api_max_rpm == 200
    assert settings.wazuh_index_pattern == "wazuh-alerts-4.x-*"
    assert (settings.agent_id_field, settings.timestamp_field, settings.location_field) == (
        "agent.id",
        "timestamp",
        "location",
    )
    assert settings.verify_tls is True
    assert settings.agent_discovery is False
    assert settings.default_check_interval_s == 900.0
    assert settings.critical_multiplier == 2.0
    assert settings.indexing_delay_s == 30.0
    assert settings.lookback_s == 7 * 86400.0
    assert settings.pipeline_silence_ratio == 0.5
    assert settings.maintenance_tz is None
    assert (settings.reminder_initial_s, settings.reminder_factor, settings.reminder_max_s) == (1800.0, 2.0, 86400.0)
    assert settings.restart_interval_s == 3600.0
    assert settings.slack_api_url == "https://slack.com/api/"
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")
    assert settings.status_addr is None
    assert settings.log_file_path is None
    assert (settings.logging_level, settings.log_format) == (20, "text")


def test_every_key_is_parsed_into_typed_settings(tmp_path: Path) -> None:
    ca = tmp_path / "extra-files" / "ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load(
        tmp_path,
        """
WAZUH_API_URL=https://manager:55000
WAZUH_API_USER=monitor
WAZUH_API_PASSWORD=api-pass
WAZUH_API_MAX_RPM=120
WAZUH_INDEXER_URL=https://indexer:9200
WAZUH_INDEXER_USER=reader
WAZUH_INDEXER_PASSWORD=idx-pass
WAZUH_INDEX_PATTERN=wazuh-archives-4.x-*
WAZUH_AGENT_ID_FIELD=wazuh.agent.id
WAZUH_TIMESTAMP_FIELD=@timestamp
WAZUH_LOCATION_FIELD=wazuh.protocol.location
VERIFICATION_FILE=extra-files/ca.pem
VERIFY_TLS=true
AGENT_LIST_FILE=lists/agents.csv
AGENT_DISCOVERY=active
DEFAULT_CHECK_INTERVAL=5m
CRITICAL_MULTIPLIER=3
INDEXING_DELAY=1m
LOOKBACK=2d
PIPELINE_SILENCE_RATIO=0.8
MAINTENANCE_TZ=Europe/Berlin
REMINDER_INITIAL=1h
REMINDER_FACTOR=1.5
REMINDER_MAX=12h
LOCAL_FILES_LIST=/etc/log_monitor/files.csv
STATE_DB=/var/lib/log_monitor/state.sqlite3
RESTART_INTERVAL=2h
SLACK_BOT_TOKEN=xoxb-token
SLACK_CHANNEL=#soc
SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T/B/X
SLACK_API_URL=http://127.0.0.1:8080/api/
SMTP_HOST=mail.example.org
SMTP_PORT=2525
SMTP_USER=mailer
SMTP_PASSWORD=smtp-pass
SMTP_FROM=monitor@example.org
SMTP_TO=soc@example.org, oncall@example.org
SMTP_SECURITY=SSL
TEAMS_WEBHOOK_URL=https://example.webhook.office.com/x
STATUS_ADDR=127.0.0.1:9108
LOG_FILE_PATH=logs/monitor.log
LOGGING_LEVEL=0
LOG_FORMAT=json
""",
    )
    assert settings.wazuh_api_url == "https://manager:55000"
    assert settings.wazuh_api_user == "monitor"
    assert settings.wazuh_api_password == Secret("api-pass")
    assert settings.wazuh_api_max_rpm == 120
    assert settings.wazuh_indexer_url == "https://indexer:9200"
    assert settings.wazuh_indexer_user == "reader"
    assert settings.wazuh_indexer_password == Secret("idx-pass")
    assert settings.wazuh_index_pattern == "wazuh-archives-4.x-*"
    assert settings.agent_id_field == "wazuh.agent.id"
    assert settings.timestamp_field == "@timestamp"
    assert settings.location_field == "wazuh.protocol.location"
    assert settings.verification_file == ca
    assert settings.verify_tls is True
    assert settings.agent_list_file == tmp_path / "lists" / "agents.csv"
    assert settings.agent_discovery is True
    assert settings.default_check_interval_s == 300.0
    assert settings.critical_multiplier == 3.0
    assert settings.indexing_delay_s == 60.0
    assert settings.lookback_s == 2 * 86400.0
    assert settings.pipeline_silence_ratio == 0.8
    assert settings.maintenance_tz == "Europe/Berlin"
    assert (settings.reminder_initial_s, settings.reminder_factor, settings.reminder_max_s) == (3600.0, 1.5, 43200.0)
    assert settings.local_files_list == Path("/etc/log_monitor/files.csv")
    assert settings.state_db == Path("/var/lib/log_monitor/state.sqlite3")
    assert settings.restart_interval_s == 7200.0
    assert settings.slack_bot_token == Secret("xoxb-token")
    assert settings.slack_channel == "#soc"
    assert settings.slack_webhook_url == Secret("https://hooks.slack.com/services/T/B/X")
    assert settings.slack_api_url == "http://127.0.0.1:8080/api/"
    assert settings.smtp_host == "mail.example.org"
    assert settings.smtp_port == 2525
    assert settings.smtp_user == "mailer"
    assert settings.smtp_password == Secret("smtp-pass")
    assert settings.smtp_from == "monitor@example.org"
    assert settings.smtp_to == ("soc@example.org", "oncall@example.org")
    assert settings.smtp_security == "ssl"
    assert settings.teams_webhook_url == Secret("https://example.webhook.office.com/x")
    assert settings.status_addr == ("127.0.0.1", 9108)
    assert settings.log_file_path == tmp_path / "logs" / "monitor.log"
    assert settings.logging_level == 10
    assert settings.log_format == "json"
    assert settings.warnings == ()
    assert sorted(settings.secrets()) == sorted(
        [
            "api-pass",
            "idx-pass",
            "xoxb-token",
            "https://hooks.slack.com/services/T/B/X",
            "smtp-pass",
            "https://example.webhook.office.com/x",
        ]
    )


@pytest.mark.parametrize(
    ("text", "level"), [("0", 10), ("1", 20), ("2", 30), ("3", 40), ("warning", 30), ("ERROR", 40)]
)
def test_logging_level_takes_zero_to_three_or_a_level_name(tmp_path: Path, text: str, level: int) -> None:
    assert load(tmp_path, f"LOGGING_LEVEL={text}").logging_level == level


def test_smtp_over_ssl_defaults_to_port_465(tmp_path: Path) -> None:
    settings = load(tmp_path, "SMTP_HOST=mail\nSMTP_FROM=a@b.c\nSMTP_TO=d@e.f\nSMTP_SECURITY=ssl\n")
    assert settings.smtp_port == 465


def test_defaults_are_relative_to_the_env_files_own_folder_when_it_is_not_named_env_files(tmp_path: Path) -> None:
    settings = load_settings(write_env(tmp_path / "etc", "STATE_DB=state.db\n"), {})
    assert settings.base_dir == tmp_path / "etc"
    assert settings.agent_list_file == tmp_path / "etc" / "config" / "agents.csv"
    assert settings.state_db == tmp_path / "etc" / "state.db"


def test_paths_in_an_env_files_folder_are_relative_to_the_project_root_like_the_original_tool(
    tmp_path: Path,
) -> None:
    (tmp_path / "extra-files").mkdir()
    (tmp_path / "extra-files" / "root-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load(
        tmp_path,
        "VERIFICATION_FILE=extra-files/root-ca.pem\nAGENT_LIST_FILE=extra-files/agents.txt\n"
        "LOG_FILE_PATH=logs/monitor.log\nSTATE_DB=state/x.db\n",
    )
    assert settings.verification_file == tmp_path / "extra-files" / "root-ca.pem"
    assert settings.agent_list_file == tmp_path / "extra-files" / "agents.txt"
    assert settings.log_file_path == tmp_path / "logs" / "monitor.log"
    assert settings.state_db == tmp_path / "state" / "x.db"


def test_a_path_climbing_out_of_the_project_folder_is_warned_about_naming_both_readings(tmp_path: Path) -> None:
    settings = load(tmp_path, "STATE_DB=../state/x.db\n")
    assert settings.state_db == tmp_path.parent / "state" / "x.db"
    [warning] = [w for w in settings.warnings if "STATE_DB" in w]
    assert str(tmp_path / "state" / "x.db") in warning
    assert "drop the '../'" in warning
    elsewhere = load_settings(write_env(tmp_path / "etc", "STATE_DB=../x.db\n"), {})
    assert not [w for w in elsewhere.warnings if "STATE_DB" in w]


def test_without_an_env_file_named_the_original_tools_log_counter_env_is_read_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(tmp_path / "env-files", "DEFAULT_CHECK_INTERVAL=10\n", name="log_counter.env")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {})
    assert settings.env_file == Path("env-files/log_counter.env")
    assert settings.default_check_interval_s == 600.0
    notes = [w for w in settings.deprecations if "log_counter.env" in w]
    assert len(notes) == 1
    assert notes[0] in settings.warnings
    write_env(tmp_path / "env-files", "DEFAULT_CHECK_INTERVAL=20\n")
    modern = load_settings(None, {})
    assert modern.env_file == Path("env-files/log_monitor.env")
    assert modern.default_check_interval_s == 1200.0
    assert modern.deprecations == ()


def test_local_files_list_defaults_to_config_files_csv_only_when_it_exists(tmp_path: Path) -> None:
    assert load(tmp_path, "").local_files_list is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "files.csv").write_text("/var/log/syslog,syslog\n")
    assert load(tmp_path, "").local_files_list == tmp_path / "config" / "files.csv"


def test_verify_tls_false_is_accepted_with_a_warning(tmp_path: Path) -> None:
    settings = load(tmp_path, "VERIFY_TLS=false\n")
    assert settings.verify_tls is False
    assert any("VERIFY_TLS=false" in w and "NOT verified" in w for w in settings.warnings)


def test_a_missing_env_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.env"
    with pytest.raises(ConfigError, match="env file not found") as caught:
        load_settings(missing, {})
    assert str(missing) in caught.value.problems[0]


def test_a_line_that_is_not_key_value_is_reported_by_number_without_its_content(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "VERIFY_TLS=true\nthis is not ok 'hunter2\n")
    assert len(problems) == 1
    assert "line 2" in problems[0]
    assert "hunter2" not in problems[0]


# --- sources: file, environment, _FILE --------------------------------------------------------


def test_a_value_in_the_file_beats_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERNAME", "shell-user")
    monkeypatch.setenv("WAZUH_API_MAX_RPM", "50")
    text = "WAZUH_URL=https://manager:55000\nUSERNAME=file-user\nPASSWORD=pw\nWAZUH_API_MAX_RPM=100\n"
    settings = load_settings(write_env(tmp_path / "env-files", text))
    assert settings.wazuh_api_user == "file-user"
    assert settings.wazuh_api_max_rpm == 100


def test_the_environment_fills_modern_keys_the_file_leaves_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAZUH_INDEXER_URL", "https://indexer:9200")
    monkeypatch.setenv("WAZUH_INDEXER_USER", "reader")
    monkeypatch.setenv("WAZUH_INDEXER_PASSWORD", "from-env")
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = load_settings(write_env(tmp_path / "env-files", "WAZUH_INDEXER_USER=\nLOG_FORMAT=text\n"))
    assert settings.wazuh_indexer_url == "https://indexer:9200"
    assert settings.wazuh_indexer_user == "reader"  # empty in the file counts as unset
    assert settings.wazuh_indexer_password == Secret("from-env")
    assert settings.log_format == "text"


def test_legacy_username_and_password_are_never_taken_from_the_environment(tmp_path: Path) -> None:
    environ = {"USERNAME": "shell-user", "PASSWORD": "shell-pass", "WAZUH_URL": "https://manager:55000"}
    settings = load(tmp_path, "", environ)
    assert settings.wazuh_api_url is None
    assert settings.wazuh_api_user is None
    assert settings.wazuh_indexer_user is None


def test_a_secret_can_come_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "api.secret"
    secret.write_text("s3cret value\n")
    text = "WAZUH_API_URL=https://m:55000\nWAZUH_API_USER=u\nWAZUH_API_PASSWORD_FILE=api.secret\n"
    assert load(tmp_path, text).wazuh_api_password == Secret("s3cret value")


def test_a_secret_file_can_be_named_in_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("xoxb-from-file")
    settings = load(tmp_path, "SLACK_CHANNEL=#soc\n", {"SLACK_BOT_TOKEN_FILE": str(secret)})
    assert settings.slack_bot_token == Secret("xoxb-from-file")


def test_a_secret_given_both_directly_and_as_file_is_an_error_that_hides_it(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file")
    problems = problems_of(tmp_path, f"SMTP_PASSWORD=plain-secret\nSMTP_PASSWORD_FILE={secret}\n")
    assert any("SMTP_PASSWORD" in p and "only one" in p for p in problems)
    assert not any("plain-secret" in p or "from-file" in p for p in problems)


def test_an_unreadable_secret_file_is_an_error_naming_key_and_path(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir(parents=True)
    problems = problems_of(tmp_path, "TEAMS_WEBHOOK_URL_FILE=a-folder\n")
    assert len(problems) == 1
    assert "TEAMS_WEBHOOK_URL_FILE" in problems[0]
    assert str(tmp_path / "a-folder") in problems[0]


def test_a_secret_written_into_a_file_key_by_mistake_is_not_echoed(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "WAZUH_API_PASSWORD_FILE=hunter2\nSLACK_BOT_TOKEN_FILE=xoxb-123-456-abcdef\n")
    assert len(problems) == 2
    assert any(
        p.startswith(f"{tmp_path / 'env-files' / 'log_monitor.env'}: WAZUH_API_PASSWORD_FILE: ") for p in problems
    )
    assert all("does not exist" in p and "not shown" in p for p in problems)
    assert not any("hunter2" in p or "xoxb-123" in p for p in problems)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-123\\nSECRET-PART"),
        ("SLACK_BOT_TOKEN", "xoxb-123\x7fSECRET-PART"),
        ("SLACK_BOT_TOKEN", "xoxb-123 SECRET-PART"),
        ("STATUS_TOKEN", "tok\\tSECRET-PART"),
        ("WAZUH_API_PASSWORD", "pw\\nSECRET-PART"),
        ("WAZUH_INDEXER_PASSWORD", "pw\x00SECRET-PART"),
        ("SMTP_PASSWORD", "pw\\rSECRET-PART"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0\\nSECRET-PART"),
        ("TEAMS_WEBHOOK_URL", "https://example.webhook.office.com/x\\tSECRET-PART"),
    ],
)
def test_a_secret_http_cannot_carry_is_a_config_error_naming_the_key_not_the_value(
    tmp_path: Path, key: str, value: str
) -> None:
    problems = problems_of(tmp_path, f'{key}="{value}"\n')
    assert any(f": {key}: " in p and "value not shown" in p for p in problems), problems
    assert not any("SECRET-PART" in p for p in problems)


def test_a_secret_file_with_a_second_line_is_a_config_error_naming_the_file_key(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxb-123-456\nSECRET-PART\n")
    problems = problems_of(tmp_path, "SLACK_BOT_TOKEN_FILE=token\nSLACK_CHANNEL=#soc\n")
    assert any(": SLACK_BOT_TOKEN: " in p and "line break" in p for p in problems), problems
    assert not any("SECRET-PART" in p for p in problems)


def test_a_password_with_spaces_and_letters_beyond_ascii_is_accepted(tmp_path: Path) -> None:
    settings = load(
        tmp_path, 'WAZUH_API_URL=https://m:55000\nWAZUH_API_USER=u\nWAZUH_API_PASSWORD="pässwort mit Leerzeichen"\n'
    )
    assert settings.wazuh_api_password == Secret("pässwort mit Leerzeichen")


# --- legacy keys ------------------------------------------------------------------------------


def test_the_original_tools_env_file_still_works_with_warnings(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "WAZUH_URL=https://indexer:9200/wazuh-alerts-*/_count\nUSERNAME=admin\nPASSWORD=secret\n"
        "DEFAULT_CHECK_INTERVAL=10\nAGENT_CHECK_INTERVALS=001:10,2:30\n",
    )
    assert settings.wazuh_indexer_url == "https://indexer:9200"
    assert settings.wazuh_index_pattern == "wazuh-alerts-*"
    assert settings.wazuh_indexer_user == "admin"
    assert settings.wazuh_indexer_password == Secret("secret")
    assert settings.wazuh_api_url is None
    assert settings.default_check_interval_s == 600.0
    assert settings.agent_check_intervals == {"001": 600.0, "002": 1800.0}
    joined = "\n".join(settings.warnings)
    assert settings.deprecations == settings.warnings  # every one of them is about a legacy key
    assert "WAZUH_URL is deprecated: use WAZUH_INDEXER_URL" in joined
    assert "taken for the Wazuh indexer at https://indexer:9200, index pattern wazuh-alerts-*" in joined
    assert "WAZUH_INDEXER_USER" in joined
    assert "WAZUH_INDEXER_PASSWORD" in joined
    assert "AGENT_CHECK_INTERVALS is deprecated" in joined
    assert "secret" not in joined.replace("_PASSWORD", "")


def test_a_legacy_url_on_another_port_is_the_api(tmp_path: Path) -> None:
    settings = load(tmp_path, "WAZUH_URL=https://manager:55000\nUSERNAME=wazuh\nPASSWORD=pw\n")
    assert settings.wazuh_api_url == "https://manager:55000"
    assert settings.wazuh_api_user == "wazuh"
    assert settings.wazuh_api_password == Secret("pw")
    assert settings.wazuh_indexer_url is None
    assert any("use WAZUH_API_URL" in w for w in settings.warnings)
    assert any("taken for the Wazuh server API at https://manager:55000" in w for w in settings.deprecations)


@pytest.mark.parametrize("url", ["https://wazuh:55000", "https://10.0.0.5"])
def test_a_bare_legacy_host_is_the_api_and_the_missing_indexer_is_said(tmp_path: Path, url: str) -> None:
    settings = load(tmp_path, f"WAZUH_URL={url}\nUSERNAME=wazuh\nPASSWORD=pw\n")
    assert settings.wazuh_api_url == url
    missing = [w for w in settings.warnings if "no indexer configured" in w]
    assert len(missing) == 1
    assert "set WAZUH_INDEXER_URL" in missing[0]
    assert missing[0] not in settings.deprecations  # a real gap, said at every start


def test_a_legacy_count_url_on_a_proxy_port_is_still_the_indexer(tmp_path: Path) -> None:
    settings = load(tmp_path, "WAZUH_URL=https://proxy:443/_count\nUSERNAME=a\nPASSWORD=b\n")
    assert settings.wazuh_indexer_url == "https://proxy:443"
    assert settings.wazuh_index_pattern == "wazuh-alerts-4.x-*"


def test_modern_keys_win_over_legacy_ones_with_a_warning(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "WAZUH_INDEXER_URL=https://new:9200\nWAZUH_INDEXER_USER=new\nWAZUH_INDEXER_PASSWORD=newpw\n"
        "WAZUH_URL=https://old:9200/_count\nUSERNAME=old\nPASSWORD=oldpw\n",
    )
    assert settings.wazuh_indexer_url == "https://new:9200"
    assert settings.wazuh_indexer_user == "new"
    assert settings.wazuh_indexer_password == Secret("newpw")
    assert any("WAZUH_URL ignored" in w for w in settings.warnings)
    assert any("USERNAME ignored" in w for w in settings.warnings)


# --- problems, all at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once_naming_file_and_key(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        "WAZUH_API_MAX_RPM=abc\nDEFAULT_CHECK_INTERVAL=soon\nCRITICAL_MULTIPLIER=0.5\n"
        "PIPELINE_SILENCE_RATIO=0\nREMINDER_FACTOR=0.9\nMAINTENANCE_TZ=Mars/Olympus\nLOG_FORMAT=xml\n"
        "LOGGING_LEVEL=7\nAGENT_DISCOVERY=maybe\nSMTP_SECURITY=tls\nSTATUS_ADDR=9108\nVERIFY_TLS=perhaps\n"
        "WAZUH_INDEXER_URL=ftp://indexer\nLOOKBACK=0\nVERIFICATION_FILE=nope.pem\nAGENT_CHECK_INTERVALS=x:1\n"
        "DROP_RATIO=1.5\nDROP_MIN_BASELINE=-1\n",
    )
    env_file = str(tmp_path / "env-files" / "log_monitor.env")
    keys = [
        "WAZUH_API_MAX_RPM",
        "DEFAULT_CHECK_INTERVAL",
        "CRITICAL_MULTIPLIER",
        "PIPELINE_SILENCE_RATIO",
        "REMINDER_FACTOR",
        "MAINTENANCE_TZ",
        "LOG_FORMAT",
        "LOGGING_LEVEL",
        "AGENT_DISCOVERY",
        "SMTP_SECURITY",
        "STATUS_ADDR",
        "VERIFY_TLS",
        "WAZUH_INDEXER_URL",
        "LOOKBACK",
        "VERIFICATION_FILE",
        "AGENT_CHECK_INTERVALS",
        "DROP_RATIO",
        "DROP_MIN_BASELINE",
    ]
    for key in keys:
        assert any(p.startswith(f"{env_file}: {key}: ") for p in problems), key
    assert f"{env_file}: WAZUH_API_MAX_RPM: expected a whole number of requests per minute (1-300), got 'abc'" in (
        problems
    )


def test_channel_keys_that_need_a_partner_are_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "SLACK_BOT_TOKEN=xoxb-1\nSMTP_HOST=mail\nSMTP_USER=u\n")
    text = "\n".join(problems)
    assert "SLACK_CHANNEL" in text
    assert "SMTP_FROM and SMTP_TO" in text
    assert "SMTP_PASSWORD" in text
    assert "xoxb-1" not in text


def test_a_backend_url_without_credentials_is_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "WAZUH_API_URL=https://manager:55000\n")
    assert any("WAZUH_API_USER" in p and "WAZUH_API_PASSWORD" in p for p in problems)


def test_no_secret_value_appears_in_any_config_error(tmp_path: Path) -> None:
    secrets = {
        "WAZUH_API_PASSWORD": "pw-api-1",
        "WAZUH_INDEXER_PASSWORD": "pw-idx-2",
        "SLACK_BOT_TOKEN": "xoxb-tok-3",
        "SLACK_WEBHOOK_URL": "not-a-url-hook-4",
        "SMTP_PASSWORD": "pw-smtp-5",
        "TEAMS_WEBHOOK_URL": "ftp://teams-hook-6",
        "PASSWORD": "pw-legacy-7",
    }
    text = "".join(f"{k}={v}\n" for k, v in secrets.items())
    text += "WAZUH_API_URL=https://user:pw-url-8@manager\nWAZUH_INDEXER_URL=nope://user:pw-url-9@x\n"
    text += "WAZUH_URL=bad\nSMTP_HOST=h\n"
    problems = problems_of(tmp_path, text)
    joined = "\n".join(problems)
    for value in [*secrets.values(), "pw-url-8", "pw-url-9"]:
        assert value not in joined
    assert "SLACK_WEBHOOK_URL" in joined
    assert "TEAMS_WEBHOOK_URL" in joined


def test_unknown_keys_in_the_file_are_warned_about(tmp_path: Path) -> None:
    settings = load(tmp_path, "SITE_NOTE=100\n")
    assert any("SITE_NOTE" in w and "unknown" in w for w in settings.warnings)


def test_an_unknown_key_two_edits_from_a_known_one_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "WAZUH_API_MAX_RMP=100\n")
    assert any("WAZUH_API_MAX_RMP: unknown key; did you mean WAZUH_API_MAX_RPM?" in p for p in caught.value.problems)


# --- one table of keys --------------------------------------------------------------------

# A value off the default for every key that fills a Settings field, all of them valid together.
OFF_DEFAULT = {
    "WAZUH_API_URL": "https://manager:55000",
    "WAZUH_API_USER": "monitor",
    "WAZUH_API_PASSWORD": "pw-api-1",
    "WAZUH_API_MAX_RPM": "120",
    "WAZUH_INDEXER_URL": "https://indexer:9200",
    "WAZUH_INDEXER_USER": "reader",
    "WAZUH_INDEXER_PASSWORD": "pw-idx-2",
    "WAZUH_INDEX_PATTERN": "wazuh-archives-4.x-*",
    "WAZUH_AGENT_ID_FIELD": "wazuh.agent.id",
    "WAZUH_TIMESTAMP_FIELD": "@timestamp",
    "WAZUH_LOCATION_FIELD": "wazuh.protocol.location",
    "WAZUH_SCHEMA": "4.x",
    "NON_LOG_LOCATIONS": "syscheck",
    "VERIFICATION_FILE": "ca.pem",
    "VERIFY_TLS": "false",
    "AGENT_LIST_FILE": "lists/agents.csv",
    "AGENT_DISCOVERY": "active",
    "DEFAULT_CHECK_INTERVAL": "10",
    "AGENT_CHECK_INTERVALS": "001:10",
    "CRITICAL_MULTIPLIER": "3",
    "INDEXING_DELAY": "1m",
    "LOOKBACK": "2d",
    "PIPELINE_SILENCE_RATIO": "0.8",
    "DROP_RATIO": "0.05",
    "DROP_MIN_BASELINE": "100",
    "SILENCE_MODE": "fixed",
    "RHYTHM_WARN_EVENTS": "50",
    "RHYTHM_CRIT_EVENTS": "500",
    "RHYTHM_MAX_SILENCE": "12h",
    "MAINTENANCE_TZ": "Europe/Berlin",
    "REMINDER_INITIAL": "1h",
    "REMINDER_FACTOR": "1.5",
    "REMINDER_MAX": "12h",
    "LOCAL_FILES_LIST": "files.csv",
    "STATE_DB": "state.db",
    "RESTART_INTERVAL": "6h",
    "RESTART_GRACE": "20m",
    "SLACK_BOT_TOKEN": "xoxb-tok-3",
    "SLACK_CHANNEL": "#soc",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/hook-4",
    "SLACK_API_URL": "http://127.0.0.1:1/api/",
    "SMTP_HOST": "mail.example.org",
    "SMTP_SECURITY": "ssl",
    "SMTP_PORT": "2525",
    "SMTP_USER": "mailer",
    "SMTP_PASSWORD": "pw-smtp-5",
    "SMTP_FROM": "monitor@example.org",
    "SMTP_TO": "soc@example.org",
    "TEAMS_WEBHOOK_URL": "https://teams.example.org/hook-6",
    "GROUPS_FILE": "groups.csv",
    "ROUTES_FILE": "routes.csv",
    "SLACK_THREADS": "false",
    "WEBHOOK_URL": "https://hooks.example.org/soc-7",
    "WEBHOOK_SECRET": "webhook-signing-secret-8",
    "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0000000000000000000009",
    "PAGERDUTY_URL": "https://pd-proxy.example.org/v2/enqueue",
    "SYSLOG_ADDR": "tcp://127.0.0.1:6514",
    "FINDINGS_LOG": "findings.json",
    "STATUS_ADDR": ":9108",
    "STATUS_TOKEN": "status-tok-7",
    "STATUS_HOSTS": "monitor.example.org",
    "HEARTBEAT_URL": "https://hc-ping.com/uuid-8",
    "LOG_FILE_PATH": "monitor.log",
    "LOGGING_LEVEL": "0",
    "LOG_FORMAT": "json",
}


def _table_default(key: Key, base_dir: Path) -> object:
    return resolve_path(base_dir, str(key.default)) if isinstance(key.default, Path) else key.default


def test_every_key_of_the_table_that_fills_a_field_reaches_it(tmp_path: Path) -> None:
    assert set(OFF_DEFAULT) == {key.name for key in KEYS if key.field is not None}, "a key without a sample value"
    (tmp_path / "ca.pem").write_text("not checked here\n")
    settings = load(tmp_path, "".join(f"{k}={v}\n" for k, v in OFF_DEFAULT.items()))
    for key in KEYS:
        if key.field is not None:
            assert getattr(settings, key.field) != _table_default(key, tmp_path), key.name


def test_an_empty_env_file_and_settings_built_by_hand_both_take_the_tables_defaults(tmp_path: Path) -> None:
    loaded = load(tmp_path, "")
    by_hand = Settings(env_file=tmp_path / "x.env", base_dir=tmp_path)
    for key in KEYS:
        if key.field is not None:
            assert getattr(loaded, key.field) == _table_default(key, tmp_path), key.name
            assert getattr(by_hand, key.field) == key.default, key.name
    assert DEFAULTS["SMTP_PORT"] == 587 and load(tmp_path, "SMTP_SECURITY=ssl\n").smtp_port == 465


def test_the_policy_and_the_clients_take_their_values_from_the_settings(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        PolicySettings()  # type: ignore[call-arg]  # no defaults of its own: they live in the KEYS table
    settings = load(tmp_path, "".join(f"{k}={OFF_DEFAULT[k]}\n" for k in OFF_DEFAULT if k != "VERIFICATION_FILE"))
    policy = policy_settings(settings, host="soc")
    assert (policy.critical_multiplier, policy.indexing_delay_s, policy.lookback_s) == (3.0, 60.0, 2 * 86400.0)
    assert (policy.reminder_initial_s, policy.reminder_factor, policy.reminder_max_s) == (3600.0, 1.5, 43200.0)
    indexer = inspect.signature(WazuhIndexer).parameters
    assert indexer["index_pattern"].default == DEFAULTS["WAZUH_INDEX_PATTERN"]
    assert indexer["agent_id_field"].default == DEFAULTS["WAZUH_AGENT_ID_FIELD"]
    assert inspect.signature(WazuhAPIHandler).parameters["max_rpm"].default == DEFAULTS["WAZUH_API_MAX_RPM"]


def test_every_secret_of_the_table_is_redacted_and_every_secret_may_be_a_file(tmp_path: Path) -> None:
    settings = load(tmp_path, "".join(f"{k}={OFF_DEFAULT[k]}\n" for k in OFF_DEFAULT if k != "VERIFICATION_FILE"))
    secret_keys = [key for key in KEYS if key.secret and key.field is not None]
    assert sorted(settings.secrets()) == sorted(OFF_DEFAULT[key.name] for key in secret_keys)
    assert {f"{key.name}_FILE" for key in KEYS if key.secret} <= KNOWN_KEYS


def test_check_config_lists_each_key_off_its_default_with_its_meaning_and_no_secret(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not checked here\n")
    settings = load(tmp_path, "".join(f"{k}={v}\n" for k, v in OFF_DEFAULT.items()))
    lines = describe(settings)
    for key in KEYS:
        if key.field is not None:
            assert any(line.startswith(f"{key.name}=") and f"({key.doc})" in line for line in lines), key.name
    assert "LOOKBACK=2d (how far back events are looked for)" in lines
    assert "STATUS_ADDR=127.0.0.1:9108 (status server address)" in lines
    joined = "\n".join(lines)
    for key in KEYS:
        if key.secret and key.field is not None:
            assert OFF_DEFAULT[key.name] not in joined
            assert f"{key.name}=(set, not shown)" in joined
    assert describe(load(tmp_path / "empty", "")) == []


def test_the_env_handler_turns_an_env_file_into_settings(tmp_path: Path) -> None:
    handler = EnvHandler(tmp_path / "x.env", {"LOOKBACK": "2d"}, {"LOG_FORMAT": "json"})
    settings = handler.load()
    assert (settings.lookback_s, settings.log_format, settings.base_dir) == (2 * 86400.0, "json", tmp_path)
