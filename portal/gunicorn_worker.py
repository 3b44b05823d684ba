"""gunicorn's ``gthread`` worker, changed so that a slow client holds no thread while it sends its
headers, and must finish them within ``HEADER_TIMEOUT_SECONDS``.

Written by hand because gunicorn (27) has neither: its ``gthread`` worker waits for a new
connection's first bytes in a thread (up to 5 s, then the connection goes back to the poller), and
once bytes arrive a thread reads the request line and headers with a blocking read and no deadline.
A client that sends half a header and stops holds that thread until it gives up, and ``threads``
such clients per worker stop the server (with sync workers, four half-open connections took it down).

Here a thread reads only what has arrived (non-blocking). While the header is incomplete, the
connection goes back to the worker's poller, with what was read kept beside the socket, and a
thread takes it up again when more arrives. The header must be complete within
``HEADER_TIMEOUT_SECONDS`` of its first byte, or the server closes the connection. The body is not
bounded here: the front end (deploy/haproxy.cfg, ``option http-buffer-request``) reads it whole
before a worker sees the request, and the application reads at most 1 MiB of it.

gunicorn.conf.py selects it: ``worker_class = "portal.gunicorn_worker.HeaderTimeoutWorker"``. The
module imports gunicorn only, so the master can load it before Django is set up.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.workers import gthread

HEADER_TIMEOUT_SECONDS = 10.0
# How long a thread waits for more of a header before it hands the connection back to the poller.
THREAD_WAIT_SECONDS = 0.1
# A header this long without its end is left to gunicorn's parser, which refuses it by its limits.
MAX_PREREAD = 64 * 1024


class HeaderTimeout(NoMoreData):
    """The client did not finish its headers in time. A ``NoMoreData``, so that gunicorn's worker
    ends the connection as it does for a client that went away (quietly, without a traceback)."""

    def __str__(self) -> str:
        return f"no complete request header within {HEADER_TIMEOUT_SECONDS:g} s"


class BufferedSocket:
    """A client socket with the bytes read ahead of gunicorn's parser, handed to it first; its reads
    fail once the header deadline has passed. Everything else is the socket's own (the poller,
    ``setblocking``, ``sendall``, ``close`` see the real one through ``__getattr__``)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.pending = b""
        self.deadline: float | None = None  # set while a request's header is being read

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def recv(self, size: int, *args: Any) -> bytes:
        if self.pending:
            # All of it, even beyond `size`: gunicorn's reader keeps what it did not ask for (its
            # read-ahead), where gunicorn looks for a next request already sent (pipelining).
            data, self.pending = self.pending, b""
            return data
        if self.deadline is None:
            return self._sock.recv(size, *args)
        # A read gunicorn's parser makes for a header we did not see whole (pipelined requests):
        # blocking, but not past the deadline.
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise HeaderTimeout()
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv(size, *args)
        except TimeoutError:
            raise HeaderTimeout() from None
        finally:
            self._sock.settimeout(previous)

    def read_header(self) -> bool | None:
        """Reads what has arrived, waiting at most THREAD_WAIT_SECONDS; True once the header is
        whole (or too long to wait for), False if the client closed, None if more must arrive."""
        started = time.monotonic()
        selector = None  # made only when a wait is needed: most requests arrive in one read
        try:
            while True:
                try:
                    data = self._sock.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    data = None
                if data == b"":
                    return bool(self.pending)  # a cut header: the parser ends it
                if data:
                    if self.deadline is None:
                        self.deadline = started + HEADER_TIMEOUT_SECONDS
                    self.pending += data
                    if b"\r\n\r\n" in self.pending or b"\n\n" in self.pending:
                        return True
                    if len(self.pending) > MAX_PREREAD:
                        return True
                    continue
                wait = min(started + THREAD_WAIT_SECONDS, self.deadline or started + 1e9) - time.monotonic()
                if wait <= 0:
                    return None
                if selector is None:
                    selector = selectors.DefaultSelector()
                    selector.register(self._sock, selectors.EVENT_READ)
                if not selector.select(wait):
                    return None
        finally:
            if selector is not None:
                selector.close()


class HeaderTimeoutWorker(gthread.ThreadWorker):
    def accept(self, listener: socket.socket) -> None:
        """gunicorn's accept with the client socket wrapped (the same steps otherwise)."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        if not self.cfg.is_ssl:  # TLS is the front end's job here; a TLS socket is left as it is
            client_sock = BufferedSocket(client_sock)  # type: ignore[assignment]  # a socket through __getattr__
        self.enqueue_req(gthread.TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def handle(self, conn: gthread.TConn) -> Any:
        """Runs in a thread: gunicorn's handling once the request's header is whole."""
        sock = conn.sock
        buffered = conn.parser is not None and conn.parser.unreader.buf.getvalue()  # type: ignore[union-attr]  # HTTP/1: gthread parses no HTTP/2
        if not isinstance(sock, BufferedSocket) or buffered:
            return super().handle(conn)  # TLS, or pipelined requests read ahead by the parser
        if sock.deadline is not None and time.monotonic() >= sock.deadline:
            return False  # closed: no whole header in time
        whole = sock.read_header()
        if whole is None:
            return gthread._DEFER  # type: ignore[attr-defined]  # gunicorn 27, newer than its stubs; back to the poller until more arrives (finish_request)
        if whole is False:
            return False
        conn.data_ready = True  # no wait for a first byte in gunicorn's handle
        return super().handle(conn)

    def handle_request(self, req: Any, conn: gthread.TConn) -> Any:
        """The header is in: the application reads the body without the header deadline, and the
        next request on the connection gets a deadline of its own."""
        if isinstance(conn.sock, BufferedSocket):
            conn.sock.deadline = None
        return super().handle_request(req, conn)

    def finish_request(self, conn: gthread.TConn, fs: Any) -> None:
        super().finish_request(conn, fs)
        if conn in self.pending_conns and isinstance(conn.sock, BufferedSocket) and conn.sock.deadline:
            conn.timeout = min(conn.timeout, conn.sock.deadline)  # type: ignore[type-var]  # a pending connection has a timeout

    def murder_pending(self) -> None:
        """gunicorn's, without relying on the deadlines being in order (they are not here)."""
        now = time.monotonic()
        for conn in [c for c in self.pending_conns if c.timeout <= now]:  # type: ignore[operator]  # pending: a timeout
            self.pending_conns.remove(conn)
            with contextlib.suppress(OSError, KeyError, ValueError):  # already unregistered
                self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()
