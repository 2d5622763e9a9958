"""The generic webhook channel: a documented, versioned JSON payload signed with HMAC-SHA256 (a shared secret)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from log_monitor.errors import NotifierError
from log_monitor.models import Notification, Secret
from log_monitor.notifiers import render
from log_monitor.notifiers.base import transient_status
from log_monitor.notifiers.http import HTTPChannel, retry_after

PAYLOAD_VERSION = 1  # docs/notifiers.md describes version 1; a field removed or changed in meaning raises it
SIGNATURE_HEADER = "X-Log-Monitor-Signature"


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body (docs/notifiers.md, "Webhook payload"): every notification field, times in ISO 8601 UTC."""
    return {
        "version": PAYLOAD_VERSION,
        "id": n.id,
        "kind": n.kind.value,
        "severity": n.severity.name,
        "condition": n.condition.value,
        "target": n.target_key,
        "label": n.label,
        "title": render.title(n),
        "agent_id": n.agent_id,
        "agent_name": n.agent_name,
        "location": n.location,
        "last_event": n.last_event.isoformat() if n.last_event else None,
        "silent_for_s": n.silent_for_s,
        "detail": n.detail,
        "related": list(n.related),
        "host": n.host,
        "created_at": n.created_at.isoformat(),
    }


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the shared secret (as GitHub's webhooks do)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(HTTPChannel):
    """POSTs one JSON document per notification; 2xx accepts it, 429 and 5xx are retried, other 4xx are permanent.

    The receiver deduplicates by `id` (a notification sent again after a crash keeps its id).
    """

    name = "webhook"
    title = "webhook"

    def __init__(
        self,
        *,
        url: Secret,
        secret: Secret | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(timeout=timeout, transport=transport)
        self._url = url
        self._secret = secret

    def __repr__(self) -> str:
        return "WebhookNotifier(url=***)"

    def send(self, notification: Notification) -> None:
        body = json.dumps(payload(notification), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "log_monitor"}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret.reveal(), body)
        response = self._request("POST", self._url.reveal(), content=body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            raise NotifierError(
                f"webhook answered HTTP {status}",
                permanent=not transient_status(status),
                retry_after_s=retry_after(response) if status == 429 else None,
            )
