"""The one place where httpx's errors become ours: a capped, deadline-bound, timed request and its JSON body."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore
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


# How a request that outran its deadline is described: callers that must tell it apart look for it.
DEADLINE_PASSED = "request deadline"

# The monotonic time by which the request being made in this thread must be over (set by `fetch`).
_DEADLINE: ContextVar[float | None] = ContextVar("log_monitor_http_deadline", default=None)


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` cut to what is left of the request's deadline; `error` once nothing is left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("request deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        limit = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sockets, each bounded by the deadline of the request using it (headers included)."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        limit = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, limit, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_bound(client: httpx.Client) -> httpx.Client:
    """`client`, its sockets bounded by `fetch`'s deadline: httpx's timeout is per read, so headers (or a
    body) dripped a byte at a time would never end. Proxy transports too; a test's own transport is left be.
    """
    # httpx has no public hook for httpcore's network backend: its transports' pools are reached inside.
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None) if isinstance(transport, httpx.HTTPTransport) else None
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return client


@contextmanager
def httpx_errors(what: str, fail: Failure, deadline_s: float | None = None) -> Iterator[None]:
    """Every httpx exception raised inside becomes `fail(...)`, in our words and free of the library's text.

    Timeouts and broken connections are retryable; a TLS failure, a bad URL or header and an undecodable
    body are not (the same request fails the same way). httpx's own text can quote a header or the URL.
    A timeout at the request's deadline (`fetch`'s) is not retried: a retry would cost the whole deadline again.
    """
    try:
        yield
    except httpx.TimeoutException as exc:
        deadline = _DEADLINE.get()
        if deadline_s is not None and deadline is not None and time.monotonic() >= deadline - 0.05:
            raise fail(
                f"{what}: answer still incomplete after the {deadline_s:g} s {DEADLINE_PASSED} (sent too slowly)",
                answered=False,
                retryable=False,
            ) from exc
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

    httpx's timeout is per read: headers or a body dripped a byte at a time would never end, so the whole
    exchange is bounded by `deadline_s` too: on a client made `deadline_bound`, each socket read, write and
    connect ends by it; on others (a test's transport), the body is checked against it between reads.
    """
    started = time.monotonic()
    token = _DEADLINE.set(started + deadline_s)
    try:
        with httpx_errors(what, fail, deadline_s), client.stream(method, url, **kwargs) as streamed:
            response = _read_capped(streamed, limit=limit, what=what, fail=fail, started=started, deadline_s=deadline_s)
    finally:
        _DEADLINE.reset(token)
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
                f"{what}: answer still incomplete after the {deadline_s:g} s {DEADLINE_PASSED} (sent too slowly)",
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


class RepeatedNameError(Exception):
    """A JSON object names a member twice: a JSON reader keeps the last silently, so the answer cannot be trusted."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a JSON object names {name!r} twice")
        self.name = name


def _members_once(items: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(items)
    if len(found) != len(items):
        seen: set[str] = set()
        raise RepeatedNameError(next(name for name, _ in items if name in seen or seen.add(name)))  # type: ignore[func-returns-value]
    return found


def read_json(content: bytes, *, once: bool = False) -> Any:
    """`json.loads(content)`: the one reader of a backend's JSON answer.

    Read by msgspec where it can (twice as fast on an API page or an odd indexer page). The stdlib reads every
    answer msgspec refuses (NaN, a number beyond a double, nesting past msgspec's depth, a UTF-16 body or a
    byte-order mark, a lone surrogate), so what is JSON, and the objects it gives, are `json.loads`'s. With
    `once`, an object naming a member twice raises RepeatedNameError: the stdlib reads it then, whose hook sees
    each object's members (msgspec keeps the last silently).
    """
    if once:
        return json.loads(content, object_pairs_hook=_members_once)
    try:
        return msgspec.json.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return json.loads(content)


def json_object(content: bytes, *, what: str, fail: Failure, once: bool = False) -> dict[str, Any]:
    """The answer's JSON object (`read_json`, `once` as there); `fail` when it is not JSON or not an object."""
    try:
        body = read_json(content, once=once)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than the parser goes
        raise fail(f"{what}: answer is not JSON", answered=True, retryable=False) from exc
    if not isinstance(body, dict):
        raise fail(f"{what}: answer is not a JSON object", answered=True, retryable=False)
    return body
