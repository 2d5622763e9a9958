"""The original tool's keys (WAZUH_URL, USERNAME, PASSWORD, AGENT_CHECK_INTERVALS) folded into the modern ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from log_monitor.config.shown import shown_url
from log_monitor.config.values import normalize_agent_id, parse_duration, valid_url
from log_monitor.models import Secret

if TYPE_CHECKING:
    from log_monitor.config.envfile import EnvHandler

LEGACY_FILE_ONLY_KEYS = ("WAZUH_URL", "USERNAME", "PASSWORD")  # never taken from the process environment


def fold_legacy(handler: EnvHandler) -> None:
    """The original tool's keys: one URL and one set of credentials, for whichever backend it is."""
    values = handler.values
    legacy_url, legacy_user, legacy_password = values["WAZUH_URL"], values["USERNAME"], values["PASSWORD"]
    if legacy_url is None:
        if legacy_user is not None or legacy_password is not None:
            handler.deprecated(
                f"{handler.env_file}: USERNAME/PASSWORD ignored: they belong to WAZUH_URL, which is not set; "
                "use WAZUH_API_USER/WAZUH_API_PASSWORD or WAZUH_INDEXER_USER/WAZUH_INDEXER_PASSWORD"
            )
        return
    legacy = _split_legacy_url(legacy_url)
    if legacy is None:
        shown = shown_url(legacy_url)
        handler.problem("WAZUH_URL", f"expected an http:// or https:// URL with a host, got {shown!r}")
        return
    if legacy.is_indexer:
        prefix = "WAZUH_INDEXER"
        pattern_note = f", index pattern {legacy.pattern}" if legacy.pattern else ""
        handler.deprecated(
            f"{handler.env_file}: WAZUH_URL is deprecated: use WAZUH_INDEXER_URL (and WAZUH_INDEX_PATTERN); "
            f"taken for the Wazuh indexer at {shown_url(legacy.base)}{pattern_note} "
            "(it ends in /_count or is on port 9200)"
        )
        if values["WAZUH_INDEXER_URL"] is None and values["WAZUH_INDEX_PATTERN"] is None and legacy.pattern:
            values["WAZUH_INDEX_PATTERN"] = legacy.pattern
    else:
        prefix = "WAZUH_API"
        handler.deprecated(
            f"{handler.env_file}: WAZUH_URL is deprecated: use WAZUH_API_URL; taken for the Wazuh server API "
            f"at {shown_url(legacy.base)} (it neither ends in /_count nor is on port 9200)"
        )
    if values[f"{prefix}_URL"] is None:
        values[f"{prefix}_URL"] = legacy.base
    else:
        handler.deprecated(f"{handler.env_file}: WAZUH_URL ignored: {prefix}_URL is set")
    _legacy_credentials(handler, prefix, legacy_user, legacy_password)


def _legacy_credentials(
    handler: EnvHandler, prefix: str, legacy_user: str | None, legacy_password: Secret | None
) -> None:
    for legacy, key, value in (("USERNAME", "USER", legacy_user), ("PASSWORD", "PASSWORD", legacy_password)):
        if value is None:
            continue
        if handler.values[f"{prefix}_{key}"] is None:
            handler.values[f"{prefix}_{key}"] = value
            handler.deprecated(f"{handler.env_file}: {legacy} is deprecated: use {prefix}_{key}")
        else:
            handler.deprecated(f"{handler.env_file}: {legacy} ignored: {prefix}_{key} is set")


def agent_intervals(handler: EnvHandler) -> dict[str, float]:
    """AGENT_CHECK_INTERVALS=001:10,002:30m (deprecated for agents.csv's interval column): agent id -> seconds."""
    value = handler.raw("AGENT_CHECK_INTERVALS")
    if value is None:
        return {}
    handler.deprecated(
        f"{handler.env_file}: AGENT_CHECK_INTERVALS is deprecated: use the interval column of AGENT_LIST_FILE"
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
            handler.problem(
                "AGENT_CHECK_INTERVALS",
                f"expected AGENT_ID:DURATION entries like 001:10,002:30m, got {entry.strip()!r}",
            )
            continue
        intervals[agent_id] = seconds
    return intervals


@dataclass(frozen=True)
class _LegacyURL:
    base: str
    is_indexer: bool
    pattern: str | None


def _split_legacy_url(url: str) -> _LegacyURL | None:
    """The original tool's WAZUH_URL: the indexer's `_count` URL (or port 9200), else the API."""
    if not valid_url(url):
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
