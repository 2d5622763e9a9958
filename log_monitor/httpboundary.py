"""The one place where httpx's errors become ours: a capped, deadline-bound, timed request and its JSON body."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import msgspec

from log_monitor.errors import describe_network_error, is_tls_failure

# The largest answer read, decoded. A page of 5,000 composite buckets is about 1.5 MB and a page of 500
# agents about 150 KB, so 64 MiB leaves room for any legitimate answer while bounding memory per request.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

# Failures a retry cannot fix: the request itself is wrong (its URL, a header character), not the network.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL, httpx.DecodingError)


class Failure(Protocol):
    """Builds the caller's error: `answered` when the peer answered but unusably, `retryable` when a retry may help."""

    def __call__(self, message: str, *, answered: bool, retryable: bool) -> Exception: ...


@dataclass(frozen=True)
class Answer:
    """A response read whole (within the cap) and how long it took, headers to last byte."""

    response: httpx.Response
    seconds: float


@contextmanager
def httpx_errors(what: str, fail: Failure) -> Iterator[None]:
    """Every httpx exception raised inside becomes `fail(...)`, in our words and free of the library's text.

    Timeouts and broken connections are retryable; a TLS failure, a bad URL or header and an undecodable
    body are not (the same request fails the same way). httpx's own text can quote a header or the URL.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        raise fail(f"{what}: timed out", answered=False, retryable=True) from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError) as exc:
        answered = isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects | httpx.HTTPStatusError)
        retryable = isinstance(exc, httpx.TransportError) and not (isinstance(exc, _PERMANENT) or is_tls_failure(exc))
        raise fail(f"{what}: {describe_network_error(exc)}", answered=answered, retryable=retryable) from exc


def fetch(
    client: httpx.Client,
    method: str,
    url: httpx.URL | str,
    *,
    what: str,
    fail: Failure,
    limit: int,
    deadline_s: float,
    **kwargs: Any,
) -> Answer:
    """One request, streamed so an answer above `limit` bytes is refused before it is held in memory.

    httpx's timeout is per read: a body dripped a byte at a time would never end, so the whole request
    is bounded by `deadline_s` too (overshoot: at most one read timeout past it).
    """
    started = time.monotonic()
    with httpx_errors(what, fail), client.stream(method, url, **kwargs) as streamed:
        response = _read_capped(streamed, limit=limit, what=what, fail=fail, started=started, deadline_s=deadline_s)
    return Answer(response, time.monotonic() - started)


def _read_capped(
    response: httpx.Response, *, limit: int, what: str, fail: Failure, started: float, deadline_s: float
) -> httpx.Response:
    """`response` read into memory, refused past `limit` bytes or `deadline_s` after `started` (time.monotonic()).

    A declared Content-Length above the cap is refused before any byte is read; a body without one
    (chunked, or compressed and larger once decoded) is refused as soon as it passes the cap.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise fail(
            f"{what}: answer of {int(declared)} bytes is above the {limit} byte cap", answered=True, retryable=False
        )
    deadline = started + deadline_s
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if time.monotonic() > deadline:
            # Not retried: a retry would cost the whole deadline again.
            raise fail(
                f"{what}: answer still incomplete after the {deadline_s:g} s request deadline (sent too slowly)",
                answered=False,
                retryable=False,
            )
        if size > limit:
            raise fail(f"{what}: answer is above the {limit} byte cap", answered=True, retryable=False)
        chunks.append(chunk)
    # The body is decoded already: drop the headers that would make httpx decode or size-check it again.
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request)


def read_json(content: bytes) -> Any:
    """`json.loads(content)`, read by msgspec where it can (twice as fast on an API page or an odd indexer page).

    The stdlib reads every answer msgspec refuses (NaN, a number beyond a double, nesting past msgspec's
    depth, a UTF-16 body or a byte-order mark, a lone surrogate), so what is JSON, and the objects it gives,
    are `json.loads`'s.
    """
    try:
        return msgspec.json.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(content)


def json_object(response: httpx.Response, *, what: str, fail: Failure) -> dict[str, Any]:
    """The answer's JSON object; `fail` when it is not JSON or not an object."""
    try:
        body = read_json(response.content)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than the parser goes
        raise fail(f"{what}: answer is not JSON", answered=True, retryable=False) from exc
    if not isinstance(body, dict):
        raise fail(f"{what}: answer is not a JSON object", answered=True, retryable=False)
    return body
