"""KEYS, the one table of env keys: name, Settings field, reader with its bounds, default, meaning, secret or not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from log_monitor.config.legacy import agent_intervals
from log_monitor.config.shown import (
    plain,
    show_addr,
    show_duration,
    show_intervals,
    show_logging_level,
    show_syslog_addr,
)
from log_monitor.config.values import (
    parse_host_names,
    parse_host_port,
    parse_logging_level,
    parse_syslog_addr,
    resolve_path,
    valid_zone,
)
from log_monitor.models import Secret

if TYPE_CHECKING:
    from log_monitor.config.envfile import EnvHandler

# Alert locations that carry an agent's id but are not its logs (REALITY.md §2): FIM, SCA, rootcheck, the
# manager's own 503/504/506 alerts, wodles, and outputs Wazuh itself writes. `command_*` is a prefix.
DEFAULT_NON_LOG_LOCATIONS = (
    "wazuh-monitord",
    "wazuh-remoted",
    "wazuh-agent",
    "vulnerability-detector",
    "syscheck",
    "rootcheck",
    "sca",
    "syscollector",
    "wodle_cis-cat",
    "osquery",
    "command_*",
    "Wazuh-Docker",
    "Wazuh-AWS",
    "aws-s3",
    "upgrade_module",
    "logcollector",
    "/var/ossec/logs/active-responses.log",
    "active-response\\active-responses.log",
    "df -P",
    "netstat listening ports",
    "last -n 20",
)

Reader = Callable[["EnvHandler", "Key"], Any]


@dataclass(frozen=True)
class Key:
    """One env key: the Settings field it fills, how it is read, its default, and what it means."""

    name: str
    field: str | None  # None: the original tool's keys, folded into the modern ones by `legacy.fold_legacy`
    read: Reader  # the key's value, or its default; records a problem instead of raising
    default: Any
    doc: str  # one line: what check-config says the key is for
    secret: bool = False  # may be given as KEY_FILE; never shown
    show: Callable[[Any], str] = plain


def _text(handler: EnvHandler, key: Key) -> str | None:
    return handler.text(key.name)  # None when unset: the table's default fills in once cross-key rules ran


def _url(handler: EnvHandler, key: Key) -> str | None:
    return handler.url(key.name)


def _urls(handler: EnvHandler, key: Key) -> str | None:
    return handler.urls(key.name)


def _secret(handler: EnvHandler, key: Key) -> Secret | None:
    return handler.secret(key.name)


def _secret_url(handler: EnvHandler, key: Key) -> Secret | None:
    return handler.secret_url(key.name)


def _raw(handler: EnvHandler, key: Key) -> str | None:
    return handler.raw(key.name)


def _project_path(handler: EnvHandler, key: Key) -> Path:
    return handler.path_or_default(key.name, str(key.default))


def _boolean(handler: EnvHandler, key: Key) -> bool:
    return handler.boolean(key.name, key.default)


def _duration(*, positive: bool = True) -> Reader:
    return lambda handler, key: handler.duration(key.name, key.default, positive=positive)


def _number(low: float, high: float, *, low_open: bool, expected: str) -> Reader:
    return lambda handler, key: handler.number(key.name, key.default, low, high, low_open=low_open, expected=expected)


def _whole(low: int, high: int, expected: str) -> Reader:
    return lambda handler, key: handler.whole(key.name, key.default, low, high, expected)


def _choice(*choices: str) -> Reader:
    return lambda handler, key: handler.choice(key.name, key.default, choices)


def _parsed(convert: Callable[[str], Any], expected: str) -> Reader:
    return lambda handler, key: handler.parsed(key.name, key.default, convert, expected)


def _seconds(name: str, field: str, default: float, doc: str, *, positive: bool = True) -> Key:
    """A duration key: read as seconds, shown in its largest whole unit."""
    return Key(name, field, _duration(positive=positive), default, doc, show=show_duration)


def _discovery(handler: EnvHandler, key: Key) -> bool:
    if (handler.raw(key.name) or "").strip().lower().startswith(DISCOVERY_GROUPS):
        return True  # `groups:G1|G2`: the groups are read by discovery_groups
    return handler.choice(key.name, "off", ("off", "active")) == "active"


def discovery_groups(handler: EnvHandler) -> tuple[str, ...]:
    """AGENT_DISCOVERY=groups:G1|G2's group names (Wazuh's are case-sensitive, so kept as written)."""
    text = (handler.raw("AGENT_DISCOVERY") or "").strip()
    if not text.lower().startswith(DISCOVERY_GROUPS):
        return ()
    groups = tuple(dict.fromkeys(g.strip() for g in text[len(DISCOVERY_GROUPS) :].split("|") if g.strip()))
    if not groups:
        handler.problem("AGENT_DISCOVERY", "groups: names no group; expected groups:linux-servers|domain-controllers")
    return groups


def _smtp_port(handler: EnvHandler, key: Key) -> int:
    default = SMTP_SSL_PORT if handler.values.get("SMTP_SECURITY") == "ssl" else key.default
    return handler.whole(key.name, default, 1, 65535, "a port number (1-65535)")


def _ca_bundle(handler: EnvHandler, key: Key) -> Path | None:
    path = handler.path(key.name)
    if path is not None and not path.is_file():
        handler.problem(key.name, f"CA bundle not found: {path}")
        return None
    return path


def _files_list(handler: EnvHandler, key: Key) -> Path | None:
    path: Path | None = _file_if_present(DEFAULT_FILES_LIST)(handler, key)
    return path


def _file_if_present(default: str) -> Reader:
    """The key's path; unset, the default file when it exists (else None)."""

    def read(handler: EnvHandler, key: Key) -> Path | None:
        path = handler.path(key.name)
        if path is None:
            candidate = resolve_path(handler.base_dir, default)
            path = candidate if candidate.is_file() else None
        return path

    return read


def _zone(handler: EnvHandler, key: Key) -> str | None:
    name = handler.text(key.name)
    if name is not None and not valid_zone(name):
        handler.problem(key.name, f"expected a time zone name like Europe/Berlin, got {name!r}")
        return None
    return name


# WAZUH_SCHEMA=5.x: Wazuh 5.0's data streams and field names, for the keys not set.
SCHEMA_5X_DEFAULTS = {
    "WAZUH_INDEX_PATTERN": "wazuh-events-v5*",
    "WAZUH_AGENT_ID_FIELD": "wazuh.agent.id",
    "WAZUH_TIMESTAMP_FIELD": "@timestamp",
    "WAZUH_LOCATION_FIELD": "wazuh.protocol.location",
}
SMTP_SSL_PORT = 465  # SMTP_PORT's default with SMTP_SECURITY=ssl
DEFAULT_FILES_LIST = "config/files.csv"  # LOCAL_FILES_LIST when that file exists
DISCOVERY_GROUPS = "groups:"  # AGENT_DISCOVERY=groups:G1|G2
_AT_LEAST_1 = _number(1.0, 1e6, low_open=False, expected="a number of at least 1")
_SHARE = _number(0.0, 1.0, low_open=True, expected="a share above 0 and at most 1")
_RATIO = _number(0.0, 1.0, low_open=False, expected="a share from 0 (off) to 1, like 0.1")
_LEVELS = "0-3 (0 DEBUG, 1 INFO, 2 WARNING, 3 ERROR) or a level name"

# Every key log_monitor reads (docs/configuration.md's table lists the same ones: a test compares them).
# A key is read after the ones above it: SMTP_PORT's default depends on SMTP_SECURITY.
KEYS: tuple[Key, ...] = (
    Key("WAZUH_API_URL", "wazuh_api_url", _url, None, "Wazuh server API"),
    Key("WAZUH_API_USER", "wazuh_api_user", _text, None, "API user"),
    Key("WAZUH_API_PASSWORD", "wazuh_api_password", _secret, None, "API user's password", secret=True),
    Key(
        "WAZUH_API_MAX_RPM",
        "wazuh_api_max_rpm",
        _whole(1, 300, "a whole number of requests per minute (1-300)"),
        200,
        "our share of the API's 300 requests/minute",
    ),
    Key("WAZUH_INDEXER_URL", "wazuh_indexer_url", _urls, None, "Wazuh indexer"),
    Key("WAZUH_INDEXER_USER", "wazuh_indexer_user", _text, None, "indexer user"),
    Key("WAZUH_INDEXER_PASSWORD", "wazuh_indexer_password", _secret, None, "indexer user's password", secret=True),
    Key("WAZUH_SCHEMA", "wazuh_schema", _choice("auto", "4.x", "5.x"), "auto", "Wazuh event schema"),
    Key("WAZUH_INDEX_PATTERN", "wazuh_index_pattern", _text, "wazuh-alerts-4.x-*", "index pattern"),
    Key("WAZUH_AGENT_ID_FIELD", "agent_id_field", _text, "agent.id", "agent id field"),
    Key("WAZUH_TIMESTAMP_FIELD", "timestamp_field", _text, "timestamp", "event time field"),
    Key("WAZUH_LOCATION_FIELD", "location_field", _text, "location", "log location field"),
    Key(
        "NON_LOG_LOCATIONS",
        "non_log_locations",
        lambda handler, key: handler.non_log_locations(key.default),
        DEFAULT_NON_LOG_LOCATIONS,
        "locations that are not logs",
    ),
    Key("WAZUH_URL", None, _raw, None, "the original tool's URL"),
    Key("USERNAME", None, _raw, None, "the original tool's user"),
    Key("PASSWORD", None, _secret, None, "the original tool's password", secret=True),
    Key("VERIFICATION_FILE", "verification_file", _ca_bundle, None, "CA bundle for both TLS connections"),
    Key("VERIFY_TLS", "verify_tls", _boolean, True, "TLS certificate verification"),
    Key("AGENT_LIST_FILE", "agent_list_file", _project_path, Path("config/agents.csv"), "agents CSV"),
    Key(
        "AGENT_DISCOVERY",
        "agent_discovery",
        _discovery,
        False,
        "also monitor every active agent (active) or every agent of some Wazuh groups (groups:G1|G2)",
    ),
    Key("GROUPS_FILE", "groups_file", _file_if_present("config/groups.csv"), None, "per-Wazuh-group policies CSV"),
    Key("ROUTES_FILE", "routes_file", _file_if_present("config/routes.csv"), None, "routes CSV"),
    _seconds("DEFAULT_CHECK_INTERVAL", "default_check_interval_s", 900.0, "check period"),
    Key(
        "AGENT_CHECK_INTERVALS",
        "agent_check_intervals",
        lambda handler, key: agent_intervals(handler),
        {},
        "legacy per-agent periods",
        show=show_intervals,
    ),
    Key("CRITICAL_MULTIPLIER", "critical_multiplier", _AT_LEAST_1, 2.0, "CRITICAL when silent for threshold x this"),
    _seconds("INDEXING_DELAY", "indexing_delay_s", 30.0, "margin for late events", positive=False),
    _seconds("LOOKBACK", "lookback_s", 7 * 86400.0, "how far back events are looked for"),
    Key("PIPELINE_SILENCE_RATIO", "pipeline_silence_ratio", _SHARE, 0.5, "share of silent agents: pipeline silent"),
    _seconds("RESTART_GRACE", "restart_grace_s", 900.0, "no per-agent alert this long after a manager restart"),
    Key("DROP_RATIO", "drop_ratio", _RATIO, 0.1, "rate drop below this share of the 7-day median; 0 off"),
    Key(
        "DROP_MIN_BASELINE",
        "drop_min_baseline",
        _number(0.0, 1e12, low_open=False, expected="a number of events, like 20"),
        20.0,
        "sparser baselines are judged by silence only",
    ),
    Key(
        "SILENCE_MODE",
        "silence_mode",
        _choice("rhythm", "fixed"),
        "rhythm",
        "rhythm: silence judged by the events the target's own hours expect; fixed: the threshold alone",
    ),
    Key("RHYTHM_WARN_EVENTS", "rhythm_warn_events", _AT_LEAST_1, 20.0, "WARNING once this many events expected"),
    Key("RHYTHM_CRIT_EVENTS", "rhythm_crit_events", _AT_LEAST_1, 100.0, "CRITICAL once this many events expected"),
    _seconds("RHYTHM_MAX_SILENCE", "rhythm_max_silence_s", 86400.0, "rhythm mode: CRITICAL after this silence anyway"),
    Key("MAINTENANCE_TZ", "maintenance_tz", _zone, None, "time zone of maintenance windows"),
    _seconds("REMINDER_INITIAL", "reminder_initial_s", 1800.0, "first repeat of an unresolved alert"),
    Key("REMINDER_FACTOR", "reminder_factor", _AT_LEAST_1, 2.0, "each repeat waits this much longer"),
    _seconds("REMINDER_MAX", "reminder_max_s", 86400.0, "longest wait between repeats"),
    Key("LOCAL_FILES_LIST", "local_files_list", _files_list, None, "local files CSV"),
    Key("STATE_DB", "state_db", _project_path, Path("state/log_monitor.sqlite3"), "SQLite state file"),
    _seconds("RESTART_INTERVAL", "restart_interval_s", 3600.0, "daemon re-exec period"),
    Key("SLACK_BOT_TOKEN", "slack_bot_token", _secret, None, "Slack bot token", secret=True),
    Key("SLACK_CHANNEL", "slack_channel", _text, None, "Slack channel"),
    Key("SLACK_WEBHOOK_URL", "slack_webhook_url", _secret_url, None, "Slack incoming webhook", secret=True),
    Key("SLACK_API_URL", "slack_api_url", _url, "https://slack.com/api/", "Slack Web API base"),
    Key("SMTP_HOST", "smtp_host", _text, None, "email fallback's server"),
    Key("SMTP_SECURITY", "smtp_security", _choice("starttls", "ssl", "none"), "starttls", "SMTP security"),
    Key("SMTP_PORT", "smtp_port", _smtp_port, 587, "SMTP port"),
    Key("SMTP_USER", "smtp_user", _text, None, "SMTP login"),
    Key("SMTP_PASSWORD", "smtp_password", _secret, None, "SMTP password", secret=True),
    Key("SMTP_FROM", "smtp_from", _text, None, "sender address"),
    Key("SMTP_TO", "smtp_to", lambda handler, key: handler.addresses(), (), "recipients"),
    Key("TEAMS_WEBHOOK_URL", "teams_webhook_url", _secret_url, None, "Teams Workflows webhook", secret=True),
    Key("SLACK_THREADS", "slack_threads", _boolean, True, "one Slack thread per incident (bot token)"),
    Key("WEBHOOK_URL", "webhook_url", _secret_url, None, "generic JSON webhook receiver", secret=True),
    Key("WEBHOOK_SECRET", "webhook_secret", _secret, None, "the webhook's HMAC-SHA256 signing secret", secret=True),
    Key("PAGERDUTY_ROUTING_KEY", "pagerduty_routing_key", _secret, None, "PagerDuty integration key", secret=True),
    Key(
        "PAGERDUTY_URL",
        "pagerduty_url",
        _url,
        "https://events.pagerduty.com/v2/enqueue",
        "PagerDuty Events API v2 endpoint",
    ),
    Key(
        "SYSLOG_ADDR",
        "syslog_addr",
        _parsed(parse_syslog_addr, "udp://HOST:PORT or tcp://HOST:PORT"),
        None,
        "RFC 5424 syslog receiver",
        show=show_syslog_addr,
    ),
    Key("FINDINGS_LOG", "findings_log", lambda handler, key: handler.path(key.name), None, "JSON lines of changes"),
    Key(
        "STATUS_ADDR",
        "status_addr",
        _parsed(parse_host_port, "HOST:PORT like 127.0.0.1:9108"),
        None,
        "status server address",
        show=show_addr,
    ),
    Key("STATUS_TOKEN", "status_token", _secret, None, "status server's bearer token", secret=True),
    Key(
        "STATUS_HOSTS",
        "status_hosts",
        _parsed(parse_host_names, "comma-separated host names like monitor.example.org"),
        (),
        "host names the status server answers to, besides loopback",
    ),
    Key("HEARTBEAT_URL", "heartbeat_url", _secret_url, None, "dead man's switch", secret=True),
    Key("LOG_FILE_PATH", "log_file_path", lambda handler, key: handler.path(key.name), None, "own log file"),
    Key(
        "LOGGING_LEVEL",
        "logging_level",
        _parsed(parse_logging_level, _LEVELS),
        20,
        "own log level",
        show=show_logging_level,
    ),
    Key("LOG_FORMAT", "log_format", _choice("text", "json"), "text", "own log format"),
)
SECRET_KEYS = tuple(key.name for key in KEYS if key.secret)
KNOWN_KEYS = frozenset([key.name for key in KEYS] + [f"{name}_FILE" for name in SECRET_KEYS])


# The table's default of each key: Settings' field defaults and the clients' keyword defaults are these.
DEFAULTS: Mapping[str, Any] = {key.name: key.default for key in KEYS}


TYPO_DISTANCE = 2  # an unknown key this close to a known one is taken for a misspelling of it


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest single-character insertions, deletions and substitutions from a to b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def nearest_key(name: str) -> str | None:
    """The known key an unknown one probably means (within TYPO_DISTANCE edits), else None."""
    upper = name.upper()
    close = [
        (edit_distance(upper, known), known) for known in KNOWN_KEYS if abs(len(known) - len(upper)) <= TYPO_DISTANCE
    ]
    close = [pair for pair in close if pair[0] <= TYPO_DISTANCE]
    return min(close)[1] if close else None
