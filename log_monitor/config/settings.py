"""Settings: every key's value, typed; and `describe`, the keys off their defaults as check-config lists them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from log_monitor.config.keys import DEFAULTS, KEYS
from log_monitor.config.values import resolve_path
from log_monitor.models import Secret


@dataclass(frozen=True)
class Settings:
    """Every key of DESIGN.md section 3, typed; durations in seconds, paths absolute. Defaults: the KEYS table."""

    env_file: Path
    base_dir: Path  # folder the built-in default paths are relative to (see the package docstring)
    wazuh_api_url: str | None = None
    wazuh_api_user: str | None = None
    wazuh_api_password: Secret | None = None
    wazuh_api_max_rpm: int = DEFAULTS["WAZUH_API_MAX_RPM"]
    wazuh_indexer_url: str | None = None
    wazuh_indexer_user: str | None = None
    wazuh_indexer_password: Secret | None = None
    wazuh_schema: str = DEFAULTS["WAZUH_SCHEMA"]  # auto, 4.x, 5.x
    wazuh_index_pattern: str = DEFAULTS["WAZUH_INDEX_PATTERN"]
    agent_id_field: str = DEFAULTS["WAZUH_AGENT_ID_FIELD"]
    timestamp_field: str = DEFAULTS["WAZUH_TIMESTAMP_FIELD"]
    location_field: str = DEFAULTS["WAZUH_LOCATION_FIELD"]
    non_log_locations: tuple[str, ...] = DEFAULTS["NON_LOG_LOCATIONS"]
    verification_file: Path | None = None
    verify_tls: bool = DEFAULTS["VERIFY_TLS"]
    agent_list_file: Path = DEFAULTS["AGENT_LIST_FILE"]
    agent_discovery: bool = DEFAULTS["AGENT_DISCOVERY"]  # AGENT_DISCOVERY=active or groups:...
    discovery_groups: tuple[str, ...] = ()  # AGENT_DISCOVERY=groups:G1|G2: only agents in these groups
    groups_file: Path | None = None
    routes_file: Path | None = None
    default_check_interval_s: float = DEFAULTS["DEFAULT_CHECK_INTERVAL"]
    agent_check_intervals: Mapping[str, float] = field(default_factory=dict)  # agent id -> seconds
    critical_multiplier: float = DEFAULTS["CRITICAL_MULTIPLIER"]
    indexing_delay_s: float = DEFAULTS["INDEXING_DELAY"]
    lookback_s: float = DEFAULTS["LOOKBACK"]
    pipeline_silence_ratio: float = DEFAULTS["PIPELINE_SILENCE_RATIO"]
    restart_grace_s: float = DEFAULTS["RESTART_GRACE"]
    drop_ratio: float = DEFAULTS["DROP_RATIO"]  # rate drop: events in the window below this share of the baseline
    drop_min_baseline: float = DEFAULTS["DROP_MIN_BASELINE"]  # a sparser baseline is judged by silence only
    silence_mode: str = DEFAULTS["SILENCE_MODE"]  # rhythm, fixed
    rhythm_warn_events: float = DEFAULTS["RHYTHM_WARN_EVENTS"]
    rhythm_crit_events: float = DEFAULTS["RHYTHM_CRIT_EVENTS"]
    rhythm_max_silence_s: float = DEFAULTS["RHYTHM_MAX_SILENCE"]
    maintenance_tz: str | None = None  # IANA zone name; None = the host's zone
    reminder_initial_s: float = DEFAULTS["REMINDER_INITIAL"]
    reminder_factor: float = DEFAULTS["REMINDER_FACTOR"]
    reminder_max_s: float = DEFAULTS["REMINDER_MAX"]
    local_files_list: Path | None = None
    state_db: Path = DEFAULTS["STATE_DB"]
    restart_interval_s: float = DEFAULTS["RESTART_INTERVAL"]
    slack_bot_token: Secret | None = None
    slack_channel: str | None = None
    slack_webhook_url: Secret | None = None
    slack_api_url: str = DEFAULTS["SLACK_API_URL"]
    smtp_host: str | None = None
    smtp_port: int = DEFAULTS["SMTP_PORT"]
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_security: str = DEFAULTS["SMTP_SECURITY"]  # starttls, ssl, none
    teams_webhook_url: Secret | None = None
    slack_threads: bool = DEFAULTS["SLACK_THREADS"]
    webhook_url: Secret | None = None
    webhook_secret: Secret | None = None
    pagerduty_routing_key: Secret | None = None
    pagerduty_url: str = DEFAULTS["PAGERDUTY_URL"]
    syslog_addr: tuple[str, str, int] | None = None  # (udp|tcp, host, port)
    findings_log: Path | None = None
    status_addr: tuple[str, int] | None = None
    status_token: Secret | None = None  # bearer token for every status endpoint but /healthz
    status_hosts: tuple[str, ...] = ()  # Host headers answered besides loopback, IP literals and this host's names
    heartbeat_url: Secret | None = None  # dead man's switch pinged after each pass
    log_file_path: Path | None = None
    logging_level: int = DEFAULTS["LOGGING_LEVEL"]  # logging.INFO
    log_format: str = DEFAULTS["LOG_FORMAT"]  # text, json
    warnings: tuple[str, ...] = ()  # legacy keys and risky settings, logged at every start
    # The subset of `warnings` about the original tool's keys and files: shown by check-config and at a
    # daemon start, but not on every cron `once` pass, where nobody reads them and they would only fill mail.
    deprecations: tuple[str, ...] = ()

    def secrets(self) -> list[str]:
        """Every secret value in these settings, for redaction."""
        values: list[Secret | None] = [getattr(self, key.field) for key in KEYS if key.secret and key.field]
        return [v.reveal() for v in values if v is not None and v.reveal()]


def describe(settings: Settings) -> list[str]:
    """`KEY=value (meaning)` for each key off its default, a secret as `(set, not shown)`: check-config lists them."""
    lines = []
    for key in KEYS:
        if key.field is None:
            continue
        value = getattr(settings, key.field)
        default = key.default
        if isinstance(default, Path):
            default = resolve_path(settings.base_dir, str(default))
        if value is None or value == default:
            continue
        shown = "(set, not shown)" if key.secret else key.show(value)
        lines.append(f"{key.name}={shown} ({key.doc})")
    return lines
