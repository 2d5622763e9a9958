"""An HTTP server a flood cannot starve: capped connections, a deadline for the request head, a fixed worker pool."""

from __future__ import annotations

import errno
import io
import logging
import queue
import selectors
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

log = logging.getLogger(__name__)

# Accept errors that mean "no descriptor or memory left": the listening socket stays readable, so without a
# pause the accept loop would spin on them.
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_HEAD_END = (b"\r\n\r\n", b"\n\n")
ACCEPTS_PER_WAKE = 64


def head_received(head: bytearray, data: bytes) -> bool:
    """`data` appended to `head`; whether the head is now complete (a blank line ends it).

    Only the new bytes (and the 3 before them, where an end may begin) are searched: a head trickled a byte
    per segment would otherwise be scanned whole at every read, quadratic in its length.
    """
    start = max(0, len(head) - 3)
    head += data
    return any(head.find(end, start) >= 0 for end in _HEAD_END)


@dataclass(frozen=True)
class ServerLimits:
    """How much of the process one listening port may take, whatever its clients do (docs/status.md)."""

    max_connections: int = 64  # open at once, from accept to the last byte sent; more are closed at once
    head_deadline_s: float = 10.0  # for the request line and headers together, counted from accept
    workers: int = 4  # threads that answer complete requests; waiting for bytes takes none
    max_head_bytes: int = 16 * 1024
    send_timeout_s: float = 10.0  # per write of the answer: a client that stops reading is dropped
    backlog: int = 64  # the kernel's queue of connections not yet accepted (no descriptor of ours each)


@dataclass
class _Waiting:
    """A connection whose request head is still arriving."""

    address: Any
    deadline: float
    head: bytearray = field(default_factory=bytearray)


class BoundedHTTPServer(socketserver.TCPServer):
    """Reads every request head on the serving thread (a selector), then hands complete requests to a fixed pool.

    A connection holds no thread until its request line and headers have arrived, so idle or slow clients
    (slowloris) cost one descriptor each, at most `max_connections` of them, for at most `head_deadline_s`.
    The checks, the state DB and the channels keep the rest of the process's descriptors.
    """

    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[PrefetchedRequestHandler],
        limits: ServerLimits | None = None,
    ) -> None:
        self.limits = limits = limits or ServerLimits()
        self.request_queue_size = limits.backlog
        super().__init__(address, handler)
        self._open = 0  # accepted and not yet closed: waiting for their head, queued or being answered
        self._open_lock = threading.Lock()
        self._ready: queue.Queue[tuple[socket.socket, Any, bytes] | None] = queue.Queue()
        self._local = threading.local()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._workers: list[threading.Thread] = []
        self._exhausted_logged = False
        self._refused = 0  # connections closed at once since the server was last below its cap
        self._evicted = 0  # connections still sending their head closed for newer ones, since then

    # -- the serving thread ---------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        self._workers = [
            threading.Thread(target=self._work, name=f"status-worker-{n}", daemon=True)
            for n in range(self.limits.workers)
        ]
        for worker in self._workers:
            worker.start()
        waiting: dict[socket.socket, _Waiting] = {}
        self.socket.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                while not self._stop.is_set():
                    for key, _ in selector.select(poll_interval):
                        if key.fileobj is self.socket:
                            self._accept_all(selector, waiting)
                        else:
                            conn = key.fileobj
                            assert isinstance(conn, socket.socket)
                            if conn in waiting:  # not closed since the select, to make room for a newer one
                                self._read(selector, waiting, conn)
                    self._expire(selector, waiting)
                for conn in list(waiting):
                    self._drop(selector, waiting, conn)
        finally:
            self._stopped.set()

    def _accept_all(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]) -> None:
        # Drain the backlog in one go: a flood fills a small backlog faster than one accept per wake-up empties it.
        for _ in range(ACCEPTS_PER_WAKE):
            if not self._accept(selector, waiting):
                return

    def _accept(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]) -> bool:
        """Accept one connection (True), or find none waiting (False)."""
        try:
            conn, address = self.socket.accept()
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in _EXHAUSTED:
                if not self._exhausted_logged:
                    log.warning("status server: cannot accept a connection: %s; pausing accepts", exc.strerror)
                    self._exhausted_logged = True
                time.sleep(0.1)
            return False
        self._exhausted_logged = False
        with self._open_lock:
            full = self._open >= self.limits.max_connections
        if full and waiting:
            # The oldest connection still sending its head makes room: idle sockets held open by one client
            # would otherwise keep every probe out until their deadline, and take it again the moment it ends.
            if not self._evicted:
                log.warning(
                    "status server: %d connections open, closing the oldest still sending its request for each "
                    "new one (a client flooding the port?)",
                    self.limits.max_connections,
                )
            self._evicted += 1
            self._drop(selector, waiting, next(iter(waiting)))  # in accept order: the first is the oldest
            self._accepted(selector, waiting, conn, address)
            return True
        if full:
            # Every connection is a complete request, queued or being answered: none to make room, the new one goes.
            if not self._refused:
                log.warning(
                    "status server: %d connections open, closing new ones at once (a client flooding the port?)",
                    self.limits.max_connections,
                )
            self._refused += 1
            conn.close()
            return True
        if self._refused or self._evicted:
            log.info(
                "status server: below its cap again, after closing %d connection(s) at once and %d still sending "
                "their request",
                self._refused,
                self._evicted,
            )
            self._refused = self._evicted = 0
        self._accepted(selector, waiting, conn, address)
        return True

    def _accepted(
        self,
        selector: selectors.BaseSelector,
        waiting: dict[socket.socket, _Waiting],
        conn: socket.socket,
        address: Any,
    ) -> None:
        """`conn` counted as open, its head awaited until the deadline."""
        with self._open_lock:
            self._open += 1
        conn.setblocking(False)
        waiting[conn] = _Waiting(address, time.monotonic() + self.limits.head_deadline_s)
        selector.register(conn, selectors.EVENT_READ)

    def _read(
        self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting], conn: socket.socket
    ) -> None:
        entry = waiting[conn]
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("status server: %s hung up before its request (%s)", entry.address[0], type(exc).__name__)
            self._drop(selector, waiting, conn)
            return
        if not data:
            log.debug("status server: %s hung up before its request", entry.address[0])
            self._drop(selector, waiting, conn)
            return
        if head_received(entry.head, data):
            selector.unregister(conn)
            del waiting[conn]
            conn.setblocking(True)
            conn.settimeout(self.limits.send_timeout_s)
            self._ready.put((conn, entry.address, bytes(entry.head)))
        elif len(entry.head) > self.limits.max_head_bytes:
            log.debug("status server: request head from %s above %d bytes, closed", entry.address[0], len(entry.head))
            self._drop(selector, waiting, conn)

    def _expire(self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting]) -> None:
        now = time.monotonic()
        late = [conn for conn, entry in waiting.items() if entry.deadline <= now]
        for conn in late:
            log.debug(
                "status server: %s sent no complete request within %g s, closed",
                waiting[conn].address[0],
                self.limits.head_deadline_s,
            )
            self._drop(selector, waiting, conn)

    def _drop(
        self, selector: selectors.BaseSelector, waiting: dict[socket.socket, _Waiting], conn: socket.socket
    ) -> None:
        selector.unregister(conn)
        del waiting[conn]
        conn.close()
        self._release()

    # -- the workers ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._ready.get()
            if item is None:
                return
            conn, address, head = item
            self._local.head = head
            try:
                self.finish_request(conn, address)
            except Exception:
                self.handle_error(conn, address)
            finally:
                self._local.head = b""
                self.shutdown_request(conn)
                self._release()

    def take_head(self) -> bytes:
        """The request head the serving thread read for the request this worker thread is answering."""
        head: bytes = getattr(self._local, "head", b"")
        return head

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exception()
        if isinstance(exc, (ConnectionError, TimeoutError)):
            # A client that hung up or stopped reading: its own business, not worth a traceback.
            log.debug("status server: %s hung up (%s)", client_address[0], type(exc).__name__)
        else:
            log.error("status server: answering %s failed", client_address[0], exc_info=exc)

    # -- bookkeeping ----------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        with self._open_lock:
            return self._open

    def _release(self) -> None:
        with self._open_lock:
            self._open -= 1

    def shutdown(self) -> None:
        """Stop serving and wait for the serving thread and the workers (each finishes the answer it is on)."""
        self._stop.set()
        # Bounded: a server whose serving thread never started has nothing to wait for.
        self._stopped.wait(timeout=5.0)
        for _ in self._workers:
            self._ready.put(None)
        for worker in self._workers:
            worker.join(timeout=self.limits.send_timeout_s)


class PrefetchedRequestHandler(BaseHTTPRequestHandler):
    """A request handler that reads the head the server already received instead of the socket."""

    server: BoundedHTTPServer

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        # GET requests only: the head is the whole request, so the socket is never read again.
        self.rfile = io.BytesIO(self.server.take_head())
