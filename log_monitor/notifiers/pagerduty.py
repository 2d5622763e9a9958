"""The PagerDuty channel: Events API v2, `trigger` per alert and `resolve` on recovery, one `dedup_key` per target."""

from __future__ import annotations

from typing import Any

import httpx

from log_monitor.errors import NotifierError
from log_monitor.httpboundary import read_json
from log_monitor.models import Notification, NotificationKind, Secret, Severity
from log_monitor.notifiers import render
from log_monitor.notifiers.http import HTTPChannel, retry_after

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
RESOLVING = frozenset(
    {NotificationKind.RECOVERY, NotificationKind.BACKEND_RESTORED, NotificationKind.PIPELINE_RESTORED}
)
MAX_SUMMARY = 1024  # the API refuses a longer payload.summary
MAX_DEDUP_KEY = 255


def severity(value: Severity) -> str:
    """PagerDuty's severity (critical, error, warning, info): CRITICAL pages, the rest is a warning."""
    return "critical" if value is Severity.CRITICAL else "warning" if value is not Severity.OK else "info"


def dedup_key(n: Notification) -> str:
    """The target's key: every alert of one target is one PagerDuty alert, and its recovery resolves it."""
    key = "pipeline" if n.kind in (NotificationKind.PIPELINE_SILENT, NotificationKind.PIPELINE_RESTORED) else ""
    return (key or n.target_key)[:MAX_DEDUP_KEY]


def event(routing_key: str, n: Notification) -> dict[str, Any]:
    """The Events API v2 body for one notification."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if n.kind in RESOLVING else "trigger",
        "dedup_key": dedup_key(n),
    }
    if body["event_action"] == "trigger":
        body["payload"] = {
            "summary": render.one_line(render.title(n))[:MAX_SUMMARY],
            "source": n.agent_name or n.label or n.host,
            "severity": severity(n.severity),
            "timestamp": n.created_at.isoformat(),
            "component": n.location or n.target_key,
            "group": n.agent_id or "",
            "class": n.condition.value,
            "custom_details": {name: value for name, value in render.fields(n)} | {"detail": n.detail},
        }
        body["client"] = f"log_monitor on {n.host}"
    return body


class PagerDutyNotifier(HTTPChannel):
    """POSTs events; 202 is accepted, 400 (invalid event) is permanent, 429 and 5xx are retried later."""

    name = "pagerduty"
    title = "PagerDuty"

    def __init__(
        self,
        *,
        routing_key: Secret,
        url: str = EVENTS_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self._routing_key = routing_key
        self._url = url

    def __repr__(self) -> str:
        return "PagerDutyNotifier(routing_key=***)"

    def send(self, notification: Notification) -> None:
        response = self._request("POST", self._url, json=event(self._routing_key.reveal(), notification))
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 400:
            # The API names what it refused ("errors"); a routing key it does not know is refused the same way.
            raise NotifierError(f"PagerDuty refused the event: {_errors(response)} (HTTP 400)", permanent=True)
        raise NotifierError(
            f"PagerDuty answered HTTP {status}",
            permanent=not (status == 429 or status >= 500),
            retry_after_s=retry_after(response) if status == 429 else None,
        )


def _errors(response: httpx.Response) -> str:
    try:
        body = read_json(response.content)
    except (ValueError, RecursionError):
        return "invalid event"
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return render.one_line("; ".join(str(e) for e in errors))[:300]
    return str(body.get("message", "invalid event")) if isinstance(body, dict) else "invalid event"
