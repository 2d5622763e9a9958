"""The monitor's own logging: text or JSON lines, to stderr or a file, with every secret masked."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from log_monitor.printable import printable

MASK = "***"
# Shorter secrets are not masked: `wazuh` would mask `wazuh-alerts-4.x-*`. Our own messages never hold a secret
# (configuration errors name the key, library errors are put in our words); masking only backs that up.
MIN_MASKED_LENGTH = 8


class RedactingFilter(logging.Filter):
    """Replaces any known secret (MIN_MASKED_LENGTH characters or more) in a message and traceback with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_MASKED_LENGTH}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, one line per record: control characters in the message are shown escaped.

    Agent names, labels and locations come from outside; `web\\n2026-12-02 ERROR forged` must not write a
    line of its own, and ESC must not recolour the terminal. A traceback keeps its own lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return printable(super().formatMessage(record))


# Attributes every LogRecord has; anything else came in through `extra=` and is shown under "fields".
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (time, level, event, target, fields): the own log can be shipped into Wazuh.

    `target` and `fields` come from `extra={"target": key, "fields": {...}}`; any other `extra` key is
    added to `fields`. Both keys are always present (null / {}), so a decoder in Wazuh needs no cases.
    """

    def __init__(self, redactor: RedactingFilter | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {}
        given = getattr(record, "fields", None)
        if isinstance(given, dict):
            fields.update(given)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in ("target", "fields"):
                fields[key] = value
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "target": getattr(record, "target", None),
            "fields": self._clean(fields),
        }
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str)

    def _clean(self, value: object) -> object:
        """Extra fields bypass the message filter: mask secrets in them here."""
        if self._redactor is None:
            return value
        if isinstance(value, str):
            return self._redactor.redact(value)
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        return self._redactor.redact(str(value)) if not isinstance(value, (int, float, bool, type(None))) else value


def setup_logging(
    *, level: int, fmt: str = "text", file: Path | None = None, secrets: Iterable[str] = ()
) -> RedactingFilter:
    """Configure the root logger once; returns the redacting filter so late secrets can be added."""
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)  # OSError when it cannot be: the caller names the key
    handler: logging.Handler = logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(redactor))
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party clients log request details (URLs, bodies) at DEBUG; keep them at WARNING.
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # slack_sdk logs an ERROR line for each failure it then raises; the dispatcher reports that failure once,
    # with the channel and whether it is permanent. Its own lines are kept for LOGGING_LEVEL=DEBUG only.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING if level <= logging.DEBUG else logging.CRITICAL)
    # Not even at DEBUG for these two: their ERROR line on a failed request quotes the request headers (the
    # token, escaped, so masking misses it); the Slack channel reports every failure itself, without secrets.
    logging.getLogger("slack_sdk.web.base_client").setLevel(logging.CRITICAL)
    logging.getLogger("slack_sdk.webhook.client").setLevel(logging.CRITICAL)
    return redactor
