"""Clients that open connections and never finish their request, and how to tell whether the
server has closed them."""

from __future__ import annotations

import contextlib
import socket
import time

# The blank line that ends the header never comes.
HALF_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
# A whole header announcing a body of which only a part comes.
HALF_BODY = (
    b"POST /api/v1/keys/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"key": '
)


def open_slow_connections(
    address: tuple[str, int], count: int, payloads: tuple[bytes, ...] = (HALF_HEADER,), source: str = ""
) -> list[socket.socket | None]:
    """``count`` connections, each sending one of ``payloads`` in turn and then nothing; ``None`` for
    one the server refused at once (a front end's per-address limit)."""
    connections: list[socket.socket | None] = []
    for i in range(count):
        try:
            conn = socket.create_connection(address, 5, source_address=(source, 0) if source else None)
        except ConnectionError:
            connections.append(None)
            continue
        with contextlib.suppress(OSError):  # already closed by the server: closed_by_server sees it
            conn.sendall(payloads[i % len(payloads)])
        connections.append(conn)
    return connections


def still_open(conn: socket.socket | None) -> bool:
    """No end of stream yet: whatever the server sent (an error answer) is read and dropped."""
    if conn is None:
        return False
    conn.setblocking(False)
    try:
        while True:
            if conn.recv(65536) == b"":
                return False
    except BlockingIOError:
        return True
    except OSError:  # reset
        return False
    finally:
        conn.setblocking(True)


def closed_by_server(connections: list[socket.socket | None], within: float) -> list[bool]:
    """Polls every connection until the server ends it or the time is up."""
    closed = [False] * len(connections)
    deadline = time.monotonic() + within
    while not all(closed) and time.monotonic() < deadline:
        for i, conn in enumerate(connections):
            if not closed[i]:
                closed[i] = not still_open(conn)
        time.sleep(0.2)
    return closed
