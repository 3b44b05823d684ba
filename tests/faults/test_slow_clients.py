"""Slow clients against gunicorn as gunicorn.conf.py runs it: connections that send half a header
and stop hold no worker, and the server closes them once the header time is up."""

from __future__ import annotations

import runpy
import socket
import time
import urllib.request

import pytest

from portal.gunicorn_worker import HEADER_TIMEOUT_SECONDS
from tests.helpers.deployment import ROOT, manage_command, new_key, production_env, start_gunicorn
from tests.helpers.slow_clients import closed_by_server, open_slow_connections, still_open

pytestmark = pytest.mark.faults

CONFIG = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
WORKERS = 2  # start_gunicorn's


def answers(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


@pytest.fixture
def server(tmp_path):
    env = production_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", "slow")
    manage = manage_command(env)
    manage("migrate", "--noinput")
    manage("seed_demo", "--no-keys")
    key = new_key(manage, "slow clients", "--scope", "api-keys:read")
    log = tmp_path / "gunicorn.log"
    process, url = start_gunicorn(env, stdout=log.open("w"))
    yield url, key
    process.terminate()
    process.wait(20)


def test_half_headers_hold_no_worker_and_are_closed_by_the_server(server):
    url, key = server
    assert CONFIG["worker_class"] == "portal.gunicorn_worker.HeaderTimeoutWorker"
    host, port = url.removeprefix("http://").split(":")
    slow = open_slow_connections((host, int(port)), 2 * WORKERS * CONFIG["threads"])
    try:
        time.sleep(1)  # every slow connection has been accepted and read by now
        started = time.perf_counter()
        assert answers(url + "/healthz") == 200
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"\n/healthz with {len(slow)} half headers held: {elapsed_ms:.1f} ms")
        assert answers(url + "/api/v1/key", {"Authorization": f"Bearer {key['key']}"}) == 200
        # Answered while every slow client still holds its connection: none of them held a worker
        # (with sync workers, or a thread per header, the answers waited for them to be dropped).
        assert [still_open(conn) for conn in slow] == [True] * len(slow)

        closed = closed_by_server(slow, within=HEADER_TIMEOUT_SECONDS + 5)
        assert closed == [True] * len(slow)
        assert answers(url + "/healthz") == 200
    finally:
        for conn in slow:
            conn.close()


def test_a_header_sent_slowly_but_in_time_is_answered(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            conn.sendall(part)
            time.sleep(0.5)  # each part in its own read, the connection back in the poller between
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b'"status": "ok"' in body


def test_pipelined_requests_in_one_write_are_all_answered(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(request * 2 + last)  # read ahead of the parser by the header read
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200") == 3
