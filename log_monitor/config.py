"""EnvHandler: the env file (and process environment) turned into typed, validated Settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from log_monitor.models import Secret

DEFAULT_ENV_FILE = Path("env-files/log_monitor.env")


@dataclass(frozen=True)
class Settings:
    """Every key of DESIGN.md section 3, typed; durations in seconds, paths absolute."""

    env_file: Path
    base_dir: Path  # the env file's folder; relative paths are relative to it
    wazuh_api_url: str | None = None
    wazuh_api_user: str | None = None
    wazuh_api_password: Secret | None = None
    wazuh_api_max_rpm: int = 200
    wazuh_indexer_url: str | None = None
    wazuh_indexer_user: str | None = None
    wazuh_indexer_password: Secret | None = None
    wazuh_index_pattern: str = "wazuh-alerts-4.x-*"
    agent_id_field: str = "agent.id"
    timestamp_field: str = "timestamp"
    location_field: str = "location"
    verification_file: Path | None = None
    verify_tls: bool = True
    agent_list_file: Path = Path("config/agents.csv")
    agent_discovery: bool = False  # AGENT_DISCOVERY=active
    default_check_interval_s: float = 900.0
    agent_check_intervals: Mapping[str, float] = field(default_factory=dict)  # agent id -> seconds
    critical_multiplier: float = 2.0
    indexing_delay_s: float = 30.0
    lookback_s: float = 7 * 86400.0
    pipeline_silence_ratio: float = 0.5
    maintenance_tz: str | None = None  # IANA zone name; None = the host's zone
    reminder_initial_s: float = 1800.0
    reminder_factor: float = 2.0
    reminder_max_s: float = 86400.0
    local_files_list: Path | None = None
    state_db: Path = Path("state/log_monitor.sqlite3")
    restart_interval_s: float = 3600.0
    slack_bot_token: Secret | None = None
    slack_channel: str | None = None
    slack_webhook_url: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_security: str = "starttls"  # starttls, ssl, none
    teams_webhook_url: Secret | None = None
    status_addr: tuple[str, int] | None = None
    log_file_path: Path | None = None
    logging_level: int = 20  # logging.INFO
    log_format: str = "text"  # text, json
    warnings: tuple[str, ...] = ()  # legacy keys and risky settings, logged at every start

    def secrets(self) -> list[str]:
        """Every secret value in these settings, for redaction."""
        values = [
            self.wazuh_api_password,
            self.wazuh_indexer_password,
            self.slack_bot_token,
            self.slack_webhook_url,
            self.smtp_password,
            self.teams_webhook_url,
        ]
        return [v.reveal() for v in values if v is not None and v.reveal()]


def load_settings(env_file: Path, environ: Mapping[str, str]) -> Settings:
    """Read and validate the env file; raise ConfigError listing every problem at once."""
    raise NotImplementedError  # being written
