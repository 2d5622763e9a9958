"""Rules between keys, run once every key is read: the 5.x schema's defaults, backends given whole, partner keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from log_monitor.config.keys import SCHEMA_5X_DEFAULTS
from log_monitor.config.shown import show_duration

if TYPE_CHECKING:
    from log_monitor.config.envfile import EnvHandler

MAX_INDEXING_DELAY_S = 3600.0  # INDEXING_DELAY: an indexing lag longer than this is an outage, not a margin


def apply_schema(handler: EnvHandler) -> None:
    """WAZUH_SCHEMA=5.x: the 5.0 pattern and field names for the keys not set (REALITY.md §7)."""
    if handler.values["WAZUH_SCHEMA"] != "5.x":
        return
    for name, value in SCHEMA_5X_DEFAULTS.items():
        if handler.values[name] is None:
            handler.values[name] = value


def check_backends(handler: EnvHandler) -> None:
    """A backend's URL, user and password given whole; a warning with no backend, no indexer or TLS unverified."""
    values = handler.values
    _require_together(handler, "WAZUH_API")
    _require_together(handler, "WAZUH_INDEXER")
    if values["WAZUH_API_URL"] is None and values["WAZUH_INDEXER_URL"] is None:
        handler.warnings.append(
            f"{handler.env_file}: neither WAZUH_INDEXER_URL nor WAZUH_API_URL is set: agents cannot be checked "
            "and are reported UNKNOWN"
        )
    elif values["WAZUH_INDEXER_URL"] is None and handler.raw("WAZUH_INDEXER_URL") is None:
        # The API alone gives each agent's connection status, not its events: a bare legacy WAZUH_URL
        # (a host, no `_count`) lands here, and every agent would be UNKNOWN with no word why.
        handler.warnings.append(
            f"{handler.env_file}: no indexer configured: events are not counted; agents are judged by their "
            'keepalive alone ("keepalive only", last event "not counted": a disconnected agent alerts, a '
            "silent connected one does not); set WAZUH_INDEXER_URL, WAZUH_INDEXER_USER and WAZUH_INDEXER_PASSWORD"
        )
    if not values["VERIFY_TLS"]:
        handler.warnings.append(
            f"{handler.env_file}: VERIFY_TLS=false: TLS certificates are NOT verified; anyone on the network "
            "path can read the Wazuh credentials. Use VERIFICATION_FILE with the CA bundle instead."
        )


def check_alerting(handler: EnvHandler) -> None:
    """Keys that only make sense together: reminders, the SMTP fallback, the Slack bot."""
    values = handler.values
    delay = values["INDEXING_DELAY"]
    # The delay is taken off every silence: as long as a threshold, a silent agent would read OK.
    if delay > MAX_INDEXING_DELAY_S:
        handler.problem(
            "INDEXING_DELAY", f"must be at most 1h (it is taken off every silence), got {show_duration(delay)}"
        )
    elif delay >= values["DEFAULT_CHECK_INTERVAL"] / 2:
        handler.warnings.append(
            f"{handler.env_file}: INDEXING_DELAY={show_duration(delay)} is half of DEFAULT_CHECK_INTERVAL (the "
            "default silence threshold) or more: it is taken off every silence, so an agent silent that long "
            "reads OK"
        )
    if values["REMINDER_MAX"] < values["REMINDER_INITIAL"]:
        handler.problem("REMINDER_MAX", "must not be shorter than REMINDER_INITIAL")
    smtp_host, smtp_from, smtp_to = values["SMTP_HOST"], values["SMTP_FROM"], values["SMTP_TO"]
    if smtp_from is not None and "@" not in smtp_from:
        handler.problem("SMTP_FROM", f"expected an email address, got {smtp_from!r}")
    if smtp_host is not None:
        missing = [k for k, v in (("SMTP_FROM", smtp_from), ("SMTP_TO", smtp_to)) if not v]
        if missing:
            handler.problem("SMTP_HOST", f"is set, so {' and '.join(missing)} must be set too")
    elif smtp_from or smtp_to:
        handler.problem("SMTP_HOST", "SMTP_FROM/SMTP_TO are set but SMTP_HOST is not")
    if (values["SMTP_USER"] is None) != (values["SMTP_PASSWORD"] is None):
        handler.problem("SMTP_USER", "SMTP_USER and SMTP_PASSWORD must be given together")
    slack_token, slack_channel = values["SLACK_BOT_TOKEN"], values["SLACK_CHANNEL"]
    if slack_token is not None and slack_channel is None:
        handler.problem("SLACK_CHANNEL", "SLACK_BOT_TOKEN is set, so SLACK_CHANNEL must be set too")
    if slack_channel is not None and slack_token is None:
        handler.problem("SLACK_BOT_TOKEN", "SLACK_CHANNEL is set, so SLACK_BOT_TOKEN must be set too")


def _require_together(handler: EnvHandler, prefix: str) -> None:
    # A URL given but refused is reported as such, not as missing as well.
    url = f"{prefix}_URL"
    given = {url: handler.values[url] is not None or handler.raw(url) is not None}
    given[f"{prefix}_USER"] = handler.values[f"{prefix}_USER"] is not None
    given[f"{prefix}_PASSWORD"] = handler.values[f"{prefix}_PASSWORD"] is not None
    if any(given.values()) and not all(given.values()):
        missing = [k for k, v in given.items() if not v]
        present = [k for k, v in given.items() if v]
        handler.problem(missing[0], f"{', '.join(present)} set but {', '.join(missing)} missing; give all three")
