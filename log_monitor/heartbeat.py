"""Heartbeat: a dead man's switch URL (healthchecks.io, Uptime Kuma push) requested after each pass, off the loop."""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from log_monitor.httpboundary import deadline_bound, fetch

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024  # a ping's answer is "OK"; nothing bigger is held


class PingError(Exception):
    """A ping that failed, in our words (never the URL, which holds the token)."""


def _ping_error(message: str, *, answered: bool, retryable: bool) -> PingError:
    return PingError(message)


def ping_url(url: str, ok: bool, detail: str = "") -> str:
    """The URL to request for a pass that went well (`ok`) or not.

    healthchecks.io convention: the URL itself, or `URL/fail`. An Uptime Kuma push URL carries
    `status=` in its query (`/api/push/TOKEN?status=up&msg=OK&ping=`): there `status=up` or
    `status=down` and `msg=` say it, and the path is left alone.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "status" for key, _ in query):
        values = {"status": "up" if ok else "down", "msg": "OK" if ok else (detail or "failed")}
        query = [(key, values.pop(key, value)) for key, value in query] + list(values.items())
        return urlunsplit(parts._replace(query=urlencode(query)))
    if ok:
        return url
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def shown(url: str) -> str:
    """The URL fit for a log line: its token is in the path or query, so only scheme and host are shown."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/***"


class Heartbeat:
    """Pings in a background thread; a slot of one (the latest pass wins), so the checks never wait for it."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = TIMEOUT_S,
        min_gap_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        # Passes can follow each other every second; the same news need not be sent that often.
        self._min_gap_s = min_gap_s
        # Deadline-bound (twice the timeout, headers included): a receiver dripping its answer frees the slot.
        self._client = deadline_bound(httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=True))
        self._cond = threading.Condition()
        self._slot: tuple[bool, str] | None = None
        self._busy = False
        self._closed = False
        self._last: tuple[bool, float] | None = None  # outcome and monotonic time of the latest ping sent
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0

    def ping(self, ok: bool, detail: str = "") -> None:
        """Queue a ping for a pass; replaces one not yet sent. Never blocks."""
        with self._cond:
            if self._closed:
                return
            last = self._last
            if last is not None and last[0] == ok and time.monotonic() - last[1] < self._min_gap_s:
                return
            self._slot = (ok, detail)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until the queued ping has been sent (or failed); False when `timeout_s` ran out first."""
        wait = self._timeout_s if timeout_s is None else timeout_s
        with self._cond:
            return self._cond.wait_for(lambda: self._slot is None and not self._busy, wait)

    def close(self, timeout_s: float | None = None) -> None:
        """Send what is queued (waiting at most the request timeout), then stop."""
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is None:
            self._client.close()
        # Else the thread closes the client when it ends; a request still hanging keeps it (a daemon
        # thread), and the process does not wait for it.

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._closed)
                if self._slot is None:
                    self._client.close()
                    return
                ok, detail = self._slot
                self._slot = None
                self._busy = True
            try:
                self._send(ok, detail)
            finally:
                with self._cond:
                    self._busy = False
                    self._last = (ok, time.monotonic())
                    self._cond.notify_all()

    def _send(self, ok: bool, detail: str) -> None:
        try:
            url = ping_url(self._url, ok, detail)
            answer = fetch(
                self._client,
                "GET",
                url,
                what="request",
                fail=_ping_error,
                limit=MAX_ANSWER_BYTES,
                deadline_s=2 * self._timeout_s,
            )
        except PingError as exc:
            # Our words only: httpx messages may quote the URL, and the URL holds the token.
            self.failed += 1
            log.warning("heartbeat %s: %s", shown(self._url), exc)
            return
        response = answer.response
        if response.is_success:
            self.sent += 1
            log.debug("heartbeat %s: %s sent", shown(self._url), "success" if ok else "failure")
        else:
            self.failed += 1
            log.warning("heartbeat %s: answered HTTP %d", shown(self._url), response.status_code)
