"""The Microsoft Teams channel: an Adaptive Card posted to a Teams Workflows webhook with httpx."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from log_monitor.errors import NotifierError
from log_monitor.models import Notification, Secret, Severity
from log_monitor.notifiers import render
from log_monitor.notifiers.http import HTTPChannel

# Adaptive Card text colours for the headline.
_COLOUR = {
    Severity.OK: "Good",
    Severity.WARNING: "Warning",
    Severity.CRITICAL: "Attention",
    Severity.UNKNOWN: "Default",
    Severity.MAINTENANCE: "Accent",
}

# Teams refuses a message over about 28 KB (HTTP 413); a grouped card stops short of it with room to spare.
MAX_CARD_BYTES = 27_000
_MAX_TEXT = 2000  # one title, fact or group line; the detail may be longer
_MAX_DETAIL = 8000


def _text(raw: str, limit: int = _MAX_TEXT) -> str:
    """Card text from raw text: cut to `limit` characters, then Markdown-escaped (see render.teams_escape)."""
    return render.teams_escape(raw if len(raw) <= limit else raw[: limit - 1] + "…")


def payload_size(payload: dict[str, Any]) -> int:
    """The bytes of the JSON body as httpx sends it (UTF-8, compact separators)."""
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def card(n: Notification) -> dict[str, Any]:
    """The message payload: one Adaptive Card 1.4 with the title, a fact set, the detail and the host.

    TextBlock text and Fact titles and values render a subset of Markdown (emphasis, links, lists), so every
    string is escaped: a label like `[Click to fix](https://evil.example)` shows as text, not as a link.
    Teams does not turn `<at>` text into mentions without an entity.
    """
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _text(render.title(n)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _COLOUR.get(n.severity, "Default"),
        },
        {
            "type": "FactSet",
            "facts": [
                {"title": _text(name), "value": _text(value)}
                for name, value in render.fields(n)
                if name != "Monitor host"
            ],
        },
    ]
    if n.detail.strip():
        body.append({"type": "TextBlock", "text": _text(n.detail.strip(), _MAX_DETAIL), "wrap": True})
    body.append(
        {
            "type": "TextBlock",
            "text": _text(
                f"log_monitor on {render.one_line(n.host)} · {render.format_utc(n.created_at)} · {n.kind.value}"
            ),
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    return _message(body)


def group_card(notes: Sequence[Notification]) -> dict[str, Any]:
    """Several notifications in one card: the headline, then one plain TextBlock per notification.

    The card stays under MAX_CARD_BYTES: lines that do not fit are counted in a last "… and N more" line
    (worst first, so what is cut is the least urgent).
    """
    ordered = render.group_order(notes)
    head = {
        "type": "TextBlock",
        "text": _text(render.group_title(notes)),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": True,
        "color": _COLOUR.get(ordered[0].severity, "Default"),
    }
    foot = {
        "type": "TextBlock",
        "text": _text(f"log_monitor on {render.one_line(ordered[0].host)}"),
        "isSubtle": True,
        "size": "Small",
        "wrap": True,
    }
    lines = [
        {"type": "TextBlock", "text": _text(render.group_line(n)), "wrap": True, "spacing": "None"} for n in ordered
    ]
    # Sizes add up block by block (each one more comma in the body list); the room for the "more" line is kept.
    room = MAX_CARD_BYTES - payload_size(_message([head, _more(len(ordered)), foot]))
    shown = 0
    for line in lines:
        room -= payload_size(line) + 1
        if room < 0:
            break
        shown += 1
    if shown == len(lines):
        return _message([head, *lines, foot])
    return _message([head, *lines[:shown], _more(len(lines) - shown), foot])


def _more(count: int) -> dict[str, Any]:
    return {"type": "TextBlock", "text": f"… and {count} more", "wrap": True, "spacing": "None"}


def _message(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


class TeamsNotifier(HTTPChannel):
    """Posts an Adaptive Card to a Teams Workflows ("When a Teams webhook request is received") URL.

    Error answers: 429 (throttled) and 5xx are Teams' temporary trouble; any other 4xx means the URL was
    deleted or revoked or the card was refused (HTTPChannel.permanent).
    """

    name = "teams"
    title = "Teams webhook"

    def __init__(
        self, *, webhook_url: Secret, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not webhook_url:
            raise ValueError("Teams needs a webhook URL")
        super().__init__(timeout=timeout, transport=transport)
        self._url = webhook_url

    def __repr__(self) -> str:
        return "TeamsNotifier(webhook_url=***)"

    def send(self, notification: Notification) -> None:
        self._post(self._url.reveal(), card(notification))

    def send_group(self, notifications: Sequence[Notification]) -> None:
        self._post(self._url.reveal(), group_card(notifications))

    def check(self) -> str:
        """Reach the webhook's host (DNS, TCP, TLS, proxy) with a HEAD on `/`, never on the webhook itself.

        A Workflows webhook has no way to be checked without running the flow: any request to its URL may
        post a message, and an operator running `check-config --connect` expects none. `test-alert` posts.
        """
        try:
            url = httpx.URL(self._url.reveal())
            root = httpx.URL(scheme=url.scheme, host=url.host, port=url.port, path="/")
        except httpx.InvalidURL as exc:
            raise NotifierError("Teams webhook URL is not a valid URL", permanent=True) from exc
        response = self._request("HEAD", root)
        return (
            f"webhook host reachable (HTTP {response.status_code} on /); the webhook itself was not called, "
            "since any call posts a message: `test-alert` sends one"
        )
