"""Reading a backend's answer within a size cap, so a runaway or hostile answer is an error, not a MemoryError."""

from __future__ import annotations

import time

import httpx

from log_monitor.errors import ResponseError, TransportError

# The largest answer read, decoded. A page of 5,000 composite buckets is about 1.5 MB and a page of 500
# agents about 150 KB, so 64 MiB leaves room for any legitimate answer while bounding memory per request.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def read_capped(
    response: httpx.Response,
    *,
    limit: int,
    backend: str,
    what: str,
    deadline_s: float | None = None,
    started: float | None = None,
) -> httpx.Response:
    """`response` (opened with stream=True) read into memory; ResponseError past `limit` bytes.

    A declared Content-Length above the cap is refused before any byte is read; a body without one
    (chunked, or compressed and larger once decoded) is refused as soon as it passes the cap. With
    `deadline_s`, a body still arriving `deadline_s` after `started` (time.monotonic(), default: now) is
    a TransportError: httpx's timeout is per read, so a body dripped a byte at a time would never end.
    The result is a plain, already-read Response. httpx errors while reading (timeouts, a connection cut
    mid-body) propagate for the caller's transport mapping.
    """
    deadline = None if deadline_s is None else (time.monotonic() if started is None else started) + deadline_s
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseError(backend, f"{what}: answer of {int(declared)} bytes is above the {limit} byte cap")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if deadline is not None and time.monotonic() > deadline:
                raise TransportError(
                    backend,
                    f"{what}: answer still incomplete after the {deadline_s:g} s request deadline (sent too slowly)",
                )
            if size > limit:
                raise ResponseError(backend, f"{what}: answer is above the {limit} byte cap")
            chunks.append(chunk)
    except httpx.DecodingError as exc:
        raise ResponseError(backend, f"{what}: answer cannot be decoded ({type(exc).__name__})") from exc
    # The body is decoded already: drop the headers that would make httpx decode or size-check it again.
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding", "content-length")
    ]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request)
