"""EnvHandler: the env file (and process environment) turned into typed, validated Settings.

Rules (docs/configuration.md is the user-facing version):

- The env file is read with `dotenv_values()` (no `${VAR}` expansion). Its values win; the process
  environment only fills keys the file leaves unset or empty. The original tool's `WAZUH_URL`,
  `USERNAME` and `PASSWORD` are read from the file only: `USERNAME` is set in many shells.
- A secret key `K` may be given as `K_FILE` instead; the file that gives `K` or `K_FILE` decides.
- Every relative path (written by the user or a built-in default such as `config/agents.csv`) is
  relative to `base_dir`: the parent of the env file's folder when that folder is named `env-files`
  (the project root, as the original tool's `extra-files/...` paths meant), else the env file's folder.
- With no env file named, `env-files/log_monitor.env` is read, or the original tool's
  `env-files/log_counter.env` when only that one exists.
- Every problem is collected and raised at once as ConfigError; each names the env file and the
  key, and never contains a secret value.
- KEYS is the one table of keys (name, Settings field, reader, default, meaning, secret?): it drives the
  reading, `Settings`' defaults (DEFAULTS, also the clients' keyword defaults), check-config's listing
  (`describe`), and the tests of docs/configuration.md and of the fuzzer. Rules between keys (legacy keys,
  backends given whole, SMTP and Slack partners) run after every key is read.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from log_monitor.errors import ConfigError
from log_monitor.hostcheck import unreadable
from log_monitor.models import MAX_DURATION_S, Secret

DEFAULT_ENV_FILE = Path("env-files/log_monitor.env")
LEGACY_ENV_FILE = Path("env-files/log_counter.env")  # the original tool's, read when DEFAULT_ENV_FILE is absent
ENV_FOLDER_NAME = "env-files"  # an env file in a folder of this name takes defaults from the folder above

LEGACY_FILE_ONLY_KEYS = ("WAZUH_URL", "USERNAME", "PASSWORD")  # never taken from the process environment
# Secrets sent in an HTTP header as they are (a bearer token) or compared with one: printable ASCII, no space. A
# line break there makes the HTTP library refuse the request with the whole value in its error text.
TOKEN_KEYS = frozenset({"SLACK_BOT_TOKEN", "STATUS_TOKEN"})

# LOGGING_LEVEL 0-3, the original tool's scale: 0 most verbose.
LOGGING_LEVELS_BY_NUMBER = {0: 10, 1: 20, 2: 30, 3: 40}  # DEBUG, INFO, WARNING, ERROR
LOGGING_LEVELS_BY_NAME = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
LOGGING_LEVEL_NAMES = {level: name for name, level in LOGGING_LEVELS_BY_NAME.items() if name != "WARN"}

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

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)$", re.IGNORECASE)
_UNIT_SECONDS = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

T = TypeVar("T")


def parse_duration(text: str) -> float:
    """Seconds in `30s`, `15m`, `1h`, `1d`, or a bare number of minutes (`10`, `1.5`), at most 365 days.

    ValueError (with a message fit for a person) otherwise: every caller turns it into a ConfigError or a usage error.
    """
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"expected a duration like 30s, 15m, 1h, 1d or a number of minutes, got {_clip(text)!r}")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ValueError(f"expected a duration of at most 365d, got {_clip(text)!r}")
    return seconds


def _clip(text: str, limit: int = 40) -> str:
    """A value shown in a message, cut short: 400 nines say nothing more than 40."""
    return text if len(text) <= limit else text[:limit] + "..."


def normalize_agent_id(text: str) -> str:
    """A Wazuh agent id, zero-padded to three digits (`1` -> `001`, `1234` stays); ValueError otherwise."""
    stripped = text.strip()
    if not stripped or not stripped.isascii() or not stripped.isdigit() or len(stripped) > 12:
        raise ValueError(f"expected an agent id of digits like 001, got {text!r}")
    return str(int(stripped)).zfill(3)


def _parse_host_port(text: str) -> tuple[str, int]:
    if text.strip().startswith(":"):
        text = "127.0.0.1" + text.strip()  # `:PORT` stays on loopback: exposing the status is a choice to write out
    host, sep, port_text = text.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.strip().isdigit():
        raise ValueError(text)
    port = int(port_text)
    if port > 65535:
        raise ValueError(text)
    return host, port


_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _parse_host_names(text: str) -> tuple[str, ...]:
    """`monitor.example.org, monitor`: host names, lower case, without a port."""
    names = tuple(name.strip().lower().rstrip(".") for name in text.split(",") if name.strip())
    if not all(_HOST_NAME.match(name) and len(name) <= 253 for name in names):
        raise ValueError(text)
    return names


def _parse_logging_level(text: str) -> int:
    if text.isdigit():
        return LOGGING_LEVELS_BY_NUMBER[int(text)] if int(text) in LOGGING_LEVELS_BY_NUMBER else _bad(text)
    level = LOGGING_LEVELS_BY_NAME.get(text.upper())
    return level if level is not None else _bad(text)


def _bad(text: str) -> int:
    raise ValueError(text)


Reader = Callable[["EnvHandler", "Key"], Any]


def _plain(value: Any) -> str:
    """A setting's value as check-config shows it; a URL with its `user:password@` masked."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, str) and "://" in value:
        return _shown(value)
    return str(value)


def _read_secret_file(path: Path) -> str:
    """A `*_FILE` secret: a regular file of at most MAX_SECRET_FILE_BYTES, read without waiting.

    ValueError says why another file is refused: a FIFO would block `check-config` and a reload for ever,
    `/dev/zero` would fill the memory.
    """
    # O_NONBLOCK: opening a FIFO with no writer would wait; the file is checked as opened, not by name first.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("is not a regular file")
        data = file.read(MAX_SECRET_FILE_BYTES + 1)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_SECRET_FILE_BYTES} bytes")
    return data.decode("utf-8-sig")


def _show_duration(seconds: Any) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _show_intervals(intervals: Any) -> str:
    return ",".join(f"{agent}:{_show_duration(seconds)}" for agent, seconds in intervals.items())


def _show_addr(addr: Any) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Key:
    """One env key: the Settings field it fills, how it is read, its default, and what it means."""

    name: str
    field: str | None  # None: the original tool's keys, folded into the modern ones by `EnvHandler._fold_legacy`
    read: Reader  # the key's value, or its default; records a problem instead of raising
    default: Any
    doc: str  # one line: what check-config says the key is for
    secret: bool = False  # may be given as KEY_FILE; never shown
    show: Callable[[Any], str] = _plain


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
    return Key(name, field, _duration(positive=positive), default, doc, show=_show_duration)


def _discovery(handler: EnvHandler, key: Key) -> bool:
    if (handler.raw(key.name) or "").strip().lower().startswith(DISCOVERY_GROUPS):
        return True  # `groups:G1|G2`: the groups are read by _discovery_groups
    return handler.choice(key.name, "off", ("off", "active")) == "active"


def _discovery_groups(handler: EnvHandler) -> tuple[str, ...]:
    """AGENT_DISCOVERY=groups:G1|G2's group names (Wazuh's are case-sensitive, so kept as written)."""
    text = (handler.raw("AGENT_DISCOVERY") or "").strip()
    if not text.lower().startswith(DISCOVERY_GROUPS):
        return ()
    groups = tuple(dict.fromkeys(g.strip() for g in text[len(DISCOVERY_GROUPS) :].split("|") if g.strip()))
    if not groups:
        handler.problem("AGENT_DISCOVERY", "groups: names no group; expected groups:linux-servers|domain-controllers")
    return groups


def parse_syslog_addr(text: str) -> tuple[str, str, int]:
    """`udp://host:514` -> ("udp", "host", 514); ValueError when it is not one."""
    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme.lower() not in ("udp", "tcp"):
        raise ValueError(text)
    host, port = _parse_host_port(rest.rstrip("/"))
    return scheme.lower(), host, port


def _show_syslog_addr(addr: Any) -> str:
    scheme, host, port = addr
    return f"{scheme}://{_show_addr((host, port))}"


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
    if name is not None and not _valid_zone(name):
        handler.problem(key.name, f"expected a time zone name like Europe/Berlin, got {name!r}")
        return None
    return name


MAX_SECRET_FILE_BYTES = 8192  # a token, password or webhook URL; a bigger *_FILE is not a secret file
MAX_INDEXING_DELAY_S = 3600.0  # INDEXING_DELAY: an indexing lag longer than this is an outage, not a margin
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
        lambda handler, key: handler.agent_intervals(),
        {},
        "legacy per-agent periods",
        show=_show_intervals,
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
        show=_show_syslog_addr,
    ),
    Key("FINDINGS_LOG", "findings_log", lambda handler, key: handler.path(key.name), None, "JSON lines of changes"),
    Key(
        "STATUS_ADDR",
        "status_addr",
        _parsed(_parse_host_port, "HOST:PORT like 127.0.0.1:9108"),
        None,
        "status server address",
        show=_show_addr,
    ),
    Key("STATUS_TOKEN", "status_token", _secret, None, "status server's bearer token", secret=True),
    Key(
        "STATUS_HOSTS",
        "status_hosts",
        _parsed(_parse_host_names, "comma-separated host names like monitor.example.org"),
        (),
        "host names the status server answers to, besides loopback",
    ),
    Key("HEARTBEAT_URL", "heartbeat_url", _secret_url, None, "dead man's switch", secret=True),
    Key("LOG_FILE_PATH", "log_file_path", lambda handler, key: handler.path(key.name), None, "own log file"),
    Key(
        "LOGGING_LEVEL",
        "logging_level",
        _parsed(_parse_logging_level, _LEVELS),
        20,
        "own log level",
        show=lambda level: LOGGING_LEVEL_NAMES.get(level, str(level)),
    ),
    Key("LOG_FORMAT", "log_format", _choice("text", "json"), "text", "own log format"),
)
SECRET_KEYS = tuple(key.name for key in KEYS if key.secret)
KNOWN_KEYS = frozenset([key.name for key in KEYS] + [f"{name}_FILE" for name in SECRET_KEYS])


# The table's default of each key: Settings' field defaults and the clients' keyword defaults are these.
DEFAULTS: Mapping[str, Any] = {key.name: key.default for key in KEYS}


@dataclass(frozen=True)
class Settings:
    """Every key of DESIGN.md section 3, typed; durations in seconds, paths absolute. Defaults: the KEYS table."""

    env_file: Path
    base_dir: Path  # folder the built-in default paths are relative to (see the module docstring)
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


def service_manager(environ: Mapping[str, str] | None = None) -> tuple[str | None, float | None]:
    """systemd's NOTIFY_SOCKET and watchdog interval in seconds (WATCHDOG_USEC), each None when not meant for us."""
    environ = os.environ if environ is None else environ
    socket_path = environ.get("NOTIFY_SOCKET") or None
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process the watchdog is for; a child that inherited the variables is not it.
    mine = not pid or pid == str(os.getpid())
    watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
    return socket_path, watchdog_s


def resolve_path(folder: Path, text: str) -> Path:
    """`text` made absolute against `folder`, with `~` expanded where the user exists."""
    path = Path(text)
    # `~nobody` (no such user) is taken literally, and reported where the file must exist.
    with contextlib.suppress(RuntimeError):
        path = path.expanduser()
    return Path(os.path.abspath(folder / path))


def default_env_file(cwd: Path | None = None) -> tuple[Path, str | None]:
    """The env file read when none is named, and a note when it is the original tool's one."""
    folder = cwd or Path.cwd()
    if not (folder / DEFAULT_ENV_FILE).exists() and (folder / LEGACY_ENV_FILE).is_file():
        return LEGACY_ENV_FILE, (
            f"{LEGACY_ENV_FILE}: read because {DEFAULT_ENV_FILE} does not exist (the original tool's file; "
            f"rename it to {DEFAULT_ENV_FILE.name} to silence this)"
        )
    return DEFAULT_ENV_FILE, None


def load_settings(env_file: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the env file; raise ConfigError listing every problem at once.

    `env_file` None means the default one (see `default_env_file`). `environ` None means the process
    environment; it only fills keys the file does not set.
    """
    note = None
    if env_file is None:
        env_file, note = default_env_file()
    env_file = Path(env_file)
    if environ is None:
        environ = os.environ
    file_values = _read_env_file(env_file)
    handler = EnvHandler(env_file, file_values, environ)
    if note is not None:
        handler.deprecated(note)
    return handler.load()


def _read_env_file(env_file: Path) -> dict[str, str]:
    if not env_file.exists():
        hidden = unreadable(env_file)  # a folder this user cannot search hides the file: say so, not "not found"
        problem = f"{env_file}: cannot read the env file: {hidden}" if hidden else f"env file not found: {env_file}"
        raise ConfigError([problem])
    if not env_file.is_file():
        raise ConfigError([f"{env_file}: not a file"])
    try:
        text = env_file.read_text(encoding="utf-8-sig")
    except PermissionError:
        why = unreadable(env_file) or "permission denied"
        raise ConfigError([f"{env_file}: cannot read the env file: {why}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{env_file}: cannot read the env file: {type(exc).__name__}"]) from None
    problems = [
        # The statement itself may hold a secret: name the line only.
        f"{env_file}: line {binding.original.line}: not a KEY=VALUE line"
        for binding in parse_stream(io.StringIO(text))
        if binding.error
    ]
    if problems:
        raise ConfigError(problems)
    raw = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in raw.items() if value is not None}


class EnvHandler:
    """One env file turned into Settings by the KEYS table: every accessor records problems instead of raising."""

    def __init__(self, env_file: Path, file_values: Mapping[str, str], environ: Mapping[str, str]) -> None:
        self.env_file = env_file
        self.folder = Path(os.path.abspath(env_file)).parent
        self.base_dir = self.folder.parent if self.folder.name == ENV_FOLDER_NAME else self.folder
        self.file_values = {k: v.strip() for k, v in file_values.items()}
        self.environ = environ
        self.values: dict[str, Any] = {}  # key name -> value, filled in the order of KEYS
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.deprecations: list[str] = []

    # --- raw access -------------------------------------------------------------------------
    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.env_file}: {key}: {message}")

    def deprecated(self, message: str) -> None:
        """A warning about the original tool's keys or files (see Settings.deprecations)."""
        self.warnings.append(message)
        self.deprecations.append(message)

    def raw(self, key: str) -> str | None:
        """The key's value: the file's unless unset or empty there, then the environment's."""
        value = self.file_values.get(key)
        if value:
            return value
        if key in LEGACY_FILE_ONLY_KEYS:
            return None
        env_value = self.environ.get(key, "").strip()
        return env_value or None

    def parsed(self, key: str, default: T, convert: Callable[[str], T], expected: str) -> T:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError:
            self.problem(key, f"expected {expected}, got {value!r}")
            return default

    def non_log_locations(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """NON_LOG_LOCATIONS: the default list when the key is absent; set but empty counts every location."""
        key = "NON_LOG_LOCATIONS"
        if key in self.file_values:
            value: str | None = self.file_values[key]
        else:
            value = self.environ.get(key)
        if value is None:
            return default
        return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw(key)
        return default if value is None else value

    def secret(self, key: str) -> Secret | None:
        """`key` or `key_FILE`, from whichever source (file first, then environment) gives either."""
        file_key = f"{key}_FILE"
        sources: list[tuple[str, Mapping[str, str]]] = [("the env file", self.file_values)]
        if key not in LEGACY_FILE_ONLY_KEYS:
            sources.append(("the environment", self.environ))
        for where, values in sources:
            direct = values.get(key, "").strip()
            path_text = values.get(file_key, "").strip()
            if direct and path_text:
                self.problem(key, f"both {key} and {file_key} are set in {where}: give only one")
                return None
            if direct:
                return self._sendable(key, Secret(direct))
            if path_text:
                return self._sendable(key, self._secret_from_file(key, file_key, path_text))
        return None

    def _secret_from_file(self, key: str, file_key: str, path_text: str) -> Secret | None:
        path = self.user_path(path_text)
        if not path.exists():
            # Not the path: a secret written into the _FILE key by mistake would be printed here.
            self.problem(file_key, f"the file it names does not exist (value not shown: it may be the {key} itself)")
            return None
        try:
            content = _read_secret_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(file_key, f"cannot read the secret file for {key}: {path} ({type(exc).__name__})")
            return None
        except ValueError as exc:
            self.problem(file_key, f"the secret file for {key} {exc}: {path}")
            return None
        value = content.rstrip("\r\n")
        if not value.strip():
            self.problem(file_key, f"the secret file for {key} is empty: {path}")
            return None
        return Secret(value)

    def _sendable(self, key: str, secret: Secret | None) -> Secret | None:
        """The secret if an HTTP request (or SMTP login) can carry it; else a problem naming the key, not the value."""
        if secret is None:
            return None
        value = secret.reveal()
        if key in TOKEN_KEYS or key.endswith("_URL"):
            bad = next((i for i, c in enumerate(value) if not 33 <= ord(c) <= 126), None)
            allowed = "printable ASCII without spaces"
        else:
            bad = next((i for i, c in enumerate(value) if ord(c) < 32 or ord(c) == 127), None)
            allowed = "no control characters"
        if bad is None:
            return secret
        what = "a line break" if value[bad] in "\r\n" else f"character U+{ord(value[bad]):04X}"
        self.problem(key, f"holds {what} at position {bad + 1}, which HTTP cannot carry ({allowed}; value not shown)")
        return None

    def user_path(self, text: str) -> Path:
        """A path the user wrote: relative to base_dir, like the defaults."""
        return resolve_path(self.base_dir, text)

    def path(self, key: str) -> Path | None:
        value = self.raw(key)
        if value is None:
            return None
        path = self.user_path(value)
        if self.base_dir != self.folder and Path(value).parts[:1] == ("..",):
            # Until relative paths followed the original tool's rule, `../x` from env-files/ meant the
            # project's `x`; now it leaves the project: say so rather than quietly use another file.
            self.warnings.append(
                f"{self.env_file}: {key}={value} is relative to the project folder {self.base_dir} "
                f"(the folder above {ENV_FOLDER_NAME}/), so it means {path}; drop the '../' if you meant "
                f"{resolve_path(self.folder, value)}"
            )
        return path

    def path_or_default(self, key: str, default: str) -> Path:
        """A user's path, else the default; both relative to base_dir."""
        return self.path(key) or Path(os.path.abspath(self.base_dir / default))

    # --- typed accessors --------------------------------------------------------------------
    def duration(self, key: str, default: float, *, positive: bool = True) -> float:
        value = self.raw(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return default
        if positive and seconds <= 0:
            self.problem(key, f"expected a duration greater than zero, got {value!r}")
            return default
        return seconds

    def number(self, key: str, default: float, low: float, high: float, *, low_open: bool, expected: str) -> float:
        def convert(text: str) -> float:
            number = float(text)
            if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
                raise ValueError(text)
            return number

        return self.parsed(key, default, convert, expected)

    def whole(self, key: str, default: int, low: int, high: int, expected: str) -> int:
        def convert(text: str) -> int:
            number = int(text)
            if not low <= number <= high:
                raise ValueError(text)
            return number

        return self.parsed(key, default, convert, expected)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        def convert(text: str) -> str:
            if text.lower() not in choices:
                raise ValueError(text)
            return text.lower()

        return self.parsed(key, default, convert, "one of " + ", ".join(choices))

    def boolean(self, key: str, default: bool) -> bool:
        def convert(text: str) -> bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)

        return self.parsed(key, default, convert, "true or false")

    def url(self, key: str, default: str | None = None, *, value: str | None = None) -> str | None:
        value = value if value is not None else self.raw(key)
        if value is None:
            return default
        if not _valid_url(value):
            self.problem(key, f"expected an http:// or https:// URL with a host, got {_shown(value)!r}")
            return default
        return value

    def urls(self, key: str) -> str | None:
        """A comma-separated list of URLs (a cluster's nodes), each checked; given back joined by commas."""
        value = self.raw(key)
        if value is None:
            return None
        parts = [part.strip() for part in value.split(",")]
        bad = [part for part in parts if not _valid_url(part)]
        if bad:
            many = " (a list of the cluster's nodes is separated by commas)" if len(parts) > 1 else ""
            self.problem(key, f"expected http:// or https:// URLs with a host{many}, got {_shown(bad[0])!r}")
            return None
        return ",".join(parts)

    def secret_url(self, key: str) -> Secret | None:
        secret = self.secret(key)
        if secret is not None and not _valid_url(secret.reveal()):
            # The URL itself is the secret (webhooks): never show it.
            self.problem(key, "expected an http:// or https:// URL with a host (value not shown: it is a secret)")
            return None
        return secret

    # --- the whole pass ---------------------------------------------------------------------
    def load(self) -> Settings:
        for name in self.file_values:
            if name in KNOWN_KEYS:
                continue
            meant = nearest_key(name)
            if meant is not None:
                # A misspelt key would otherwise be ignored, and its feature (often the alert channel) silently off.
                self.problem(name, f"unknown key; did you mean {meant}?")
            else:
                self.warnings.append(f"{self.env_file}: {name}: unknown key, ignored (a typo?)")
        for key in KEYS:
            self.values[key.name] = key.read(self, key)
        self._fold_legacy()
        self._apply_schema()
        self._check_backends()
        self._check_alerting()
        fields = {
            key.field: key.default if self.values[key.name] is None else self.values[key.name]
            for key in KEYS
            if key.field is not None
        }
        if self.problems:
            raise ConfigError(self.problems)
        groups = _discovery_groups(self)
        if self.problems:
            raise ConfigError(self.problems)
        return Settings(
            env_file=self.env_file,
            base_dir=self.base_dir,
            discovery_groups=groups,
            warnings=tuple(self.warnings),
            deprecations=tuple(self.deprecations),
            **fields,
        )

    def _apply_schema(self) -> None:
        """WAZUH_SCHEMA=5.x: the 5.0 pattern and field names for the keys not set (REALITY.md §7)."""
        if self.values["WAZUH_SCHEMA"] != "5.x":
            return
        for name, value in SCHEMA_5X_DEFAULTS.items():
            if self.values[name] is None:
                self.values[name] = value

    def _fold_legacy(self) -> None:
        """The original tool's keys: one URL and one set of credentials, for whichever backend it is."""
        values = self.values
        legacy_url, legacy_user, legacy_password = values["WAZUH_URL"], values["USERNAME"], values["PASSWORD"]
        if legacy_url is None:
            if legacy_user is not None or legacy_password is not None:
                self.deprecated(
                    f"{self.env_file}: USERNAME/PASSWORD ignored: they belong to WAZUH_URL, which is not set; "
                    "use WAZUH_API_USER/WAZUH_API_PASSWORD or WAZUH_INDEXER_USER/WAZUH_INDEXER_PASSWORD"
                )
            return
        legacy = _split_legacy_url(legacy_url)
        if legacy is None:
            shown = _shown(legacy_url)
            self.problem("WAZUH_URL", f"expected an http:// or https:// URL with a host, got {shown!r}")
            return
        if legacy.is_indexer:
            prefix = "WAZUH_INDEXER"
            pattern_note = f", index pattern {legacy.pattern}" if legacy.pattern else ""
            self.deprecated(
                f"{self.env_file}: WAZUH_URL is deprecated: use WAZUH_INDEXER_URL (and WAZUH_INDEX_PATTERN); "
                f"taken for the Wazuh indexer at {_shown(legacy.base)}{pattern_note} "
                "(it ends in /_count or is on port 9200)"
            )
            if values["WAZUH_INDEXER_URL"] is None and values["WAZUH_INDEX_PATTERN"] is None and legacy.pattern:
                values["WAZUH_INDEX_PATTERN"] = legacy.pattern
        else:
            prefix = "WAZUH_API"
            self.deprecated(
                f"{self.env_file}: WAZUH_URL is deprecated: use WAZUH_API_URL; taken for the Wazuh server API "
                f"at {_shown(legacy.base)} (it neither ends in /_count nor is on port 9200)"
            )
        if values[f"{prefix}_URL"] is None:
            values[f"{prefix}_URL"] = legacy.base
        else:
            self.deprecated(f"{self.env_file}: WAZUH_URL ignored: {prefix}_URL is set")
        self._legacy_credentials(prefix, legacy_user, legacy_password)

    def _check_backends(self) -> None:
        values = self.values
        self._require_together("WAZUH_API")
        self._require_together("WAZUH_INDEXER")
        if values["WAZUH_API_URL"] is None and values["WAZUH_INDEXER_URL"] is None:
            self.warnings.append(
                f"{self.env_file}: neither WAZUH_INDEXER_URL nor WAZUH_API_URL is set: agents cannot be checked "
                "and are reported UNKNOWN"
            )
        elif values["WAZUH_INDEXER_URL"] is None and self.raw("WAZUH_INDEXER_URL") is None:
            # The API alone gives each agent's connection status, not its events: a bare legacy WAZUH_URL
            # (a host, no `_count`) lands here, and every agent would be UNKNOWN with no word why.
            self.warnings.append(
                f"{self.env_file}: no indexer configured: events are not counted; agents are judged by their "
                'keepalive alone ("keepalive only", last event "not counted": a disconnected agent alerts, a '
                "silent connected one does not); set WAZUH_INDEXER_URL, WAZUH_INDEXER_USER and WAZUH_INDEXER_PASSWORD"
            )
        if not values["VERIFY_TLS"]:
            self.warnings.append(
                f"{self.env_file}: VERIFY_TLS=false: TLS certificates are NOT verified; anyone on the network "
                "path can read the Wazuh credentials. Use VERIFICATION_FILE with the CA bundle instead."
            )

    def _check_alerting(self) -> None:
        """Keys that only make sense together: reminders, the SMTP fallback, the Slack bot."""
        values = self.values
        delay = values["INDEXING_DELAY"]
        # The delay is taken off every silence: as long as a threshold, a silent agent would read OK.
        if delay > MAX_INDEXING_DELAY_S:
            self.problem(
                "INDEXING_DELAY", f"must be at most 1h (it is taken off every silence), got {_show_duration(delay)}"
            )
        elif delay >= values["DEFAULT_CHECK_INTERVAL"] / 2:
            self.warnings.append(
                f"{self.env_file}: INDEXING_DELAY={_show_duration(delay)} is half of DEFAULT_CHECK_INTERVAL (the "
                "default silence threshold) or more: it is taken off every silence, so an agent silent that long "
                "reads OK"
            )
        if values["REMINDER_MAX"] < values["REMINDER_INITIAL"]:
            self.problem("REMINDER_MAX", "must not be shorter than REMINDER_INITIAL")
        smtp_host, smtp_from, smtp_to = values["SMTP_HOST"], values["SMTP_FROM"], values["SMTP_TO"]
        if smtp_from is not None and "@" not in smtp_from:
            self.problem("SMTP_FROM", f"expected an email address, got {smtp_from!r}")
        if smtp_host is not None:
            missing = [k for k, v in (("SMTP_FROM", smtp_from), ("SMTP_TO", smtp_to)) if not v]
            if missing:
                self.problem("SMTP_HOST", f"is set, so {' and '.join(missing)} must be set too")
        elif smtp_from or smtp_to:
            self.problem("SMTP_HOST", "SMTP_FROM/SMTP_TO are set but SMTP_HOST is not")
        if (values["SMTP_USER"] is None) != (values["SMTP_PASSWORD"] is None):
            self.problem("SMTP_USER", "SMTP_USER and SMTP_PASSWORD must be given together")
        slack_token, slack_channel = values["SLACK_BOT_TOKEN"], values["SLACK_CHANNEL"]
        if slack_token is not None and slack_channel is None:
            self.problem("SLACK_CHANNEL", "SLACK_BOT_TOKEN is set, so SLACK_CHANNEL must be set too")
        if slack_channel is not None and slack_token is None:
            self.problem("SLACK_BOT_TOKEN", "SLACK_CHANNEL is set, so SLACK_BOT_TOKEN must be set too")

    def _legacy_credentials(self, prefix: str, legacy_user: str | None, legacy_password: Secret | None) -> None:
        for legacy, key, value in (("USERNAME", "USER", legacy_user), ("PASSWORD", "PASSWORD", legacy_password)):
            if value is None:
                continue
            if self.values[f"{prefix}_{key}"] is None:
                self.values[f"{prefix}_{key}"] = value
                self.deprecated(f"{self.env_file}: {legacy} is deprecated: use {prefix}_{key}")
            else:
                self.deprecated(f"{self.env_file}: {legacy} ignored: {prefix}_{key} is set")

    def _require_together(self, prefix: str) -> None:
        # A URL given but refused is reported as such, not as missing as well.
        url = f"{prefix}_URL"
        given = {url: self.values[url] is not None or self.raw(url) is not None}
        given[f"{prefix}_USER"] = self.values[f"{prefix}_USER"] is not None
        given[f"{prefix}_PASSWORD"] = self.values[f"{prefix}_PASSWORD"] is not None
        if any(given.values()) and not all(given.values()):
            missing = [k for k, v in given.items() if not v]
            present = [k for k, v in given.items() if v]
            self.problem(missing[0], f"{', '.join(present)} set but {', '.join(missing)} missing; give all three")

    def agent_intervals(self) -> dict[str, float]:
        value = self.raw("AGENT_CHECK_INTERVALS")
        if value is None:
            return {}
        self.deprecated(
            f"{self.env_file}: AGENT_CHECK_INTERVALS is deprecated: use the interval column of AGENT_LIST_FILE"
        )
        intervals: dict[str, float] = {}
        for entry in value.split(","):
            if not entry.strip():
                continue
            agent, sep, duration = entry.partition(":")
            try:
                if not sep:
                    raise ValueError("missing ':'")
                agent_id = normalize_agent_id(agent)
                seconds = parse_duration(duration)
                if seconds <= 0:
                    raise ValueError("not positive")
            except ValueError:
                self.problem(
                    "AGENT_CHECK_INTERVALS",
                    f"expected AGENT_ID:DURATION entries like 001:10,002:30m, got {entry.strip()!r}",
                )
                continue
            intervals[agent_id] = seconds
        return intervals

    def addresses(self) -> tuple[str, ...]:
        value = self.raw("SMTP_TO")
        if value is None:
            return ()
        addresses = tuple(a.strip() for a in value.split(",") if a.strip())
        bad = [a for a in addresses if "@" not in a]
        if bad or not addresses:
            self.problem("SMTP_TO", f"expected comma-separated email addresses, got {value!r}")
            return ()
        return addresses


@dataclass(frozen=True)
class _LegacyURL:
    base: str
    is_indexer: bool
    pattern: str | None


def _split_legacy_url(url: str) -> _LegacyURL | None:
    """The original tool's WAZUH_URL: the indexer's `_count` URL (or port 9200), else the API."""
    if not _valid_url(url):
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    path = parts.path.rstrip("/")
    if not (path.endswith("/_count") or port == 9200):
        return _LegacyURL(url.rstrip("/"), False, None)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    base = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    segments = [s for s in path.split("/") if s]
    pattern = segments[0] if segments and not segments[0].startswith("_") else None
    return _LegacyURL(base, True, pattern)


def _valid_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _shown(url: str) -> str:
    """A URL fit for a message: any `user:password@` part masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


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


def invoking_user(environ: Mapping[str, str] | None = None) -> str:
    """Who runs a command, for the record (`silences` lists it): the sudo caller, else the login; "" if unknown."""
    env = os.environ if environ is None else environ
    if env.get("SUDO_USER"):
        return env["SUDO_USER"]  # under sudo the login is root: the person is who called sudo
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container's random uid)
        return ""
