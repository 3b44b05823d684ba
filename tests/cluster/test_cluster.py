"""Two portal nodes on PostgreSQL and Redis behind HAProxy, with the files in deploy/ as they are:
the nodes run the ExecStart of deploy/systemd/portal.service, HAProxy runs deploy/haproxy.cfg with
the addresses in its environment. Run with `make test-cluster` (CI does, with the PostgreSQL + Redis
suite); it needs DATABASE_URL (PostgreSQL: a database ``<its name>_cluster`` is made and dropped
next to it), REDIS_URL and HAProxy (installed by the target when run as root).

A bounded load loop calls through HAProxy for the whole module; each check runs under it.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.helpers.deployment import GUNICORN, ROOT, free_port, manage_commands, production_env
from tests.helpers.slow_clients import HALF_BODY, HALF_HEADER, closed_by_server, open_slow_connections

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
PASSWORD = "cluster-demo-password"
WORKERS, THREADS = 2, 4
LOAD_THREADS = 4
MAX_CONN_PER_CLIENT = 50
HAPROXY_HTTP_REQUEST_TIMEOUT = 10  # deploy/haproxy.cfg, `timeout http-request`
METRICS_TOKEN = "cluster-metrics-token"

pytestmark = pytest.mark.cluster
_missing = [
    what
    for what, ok in (
        ("haproxy", HAPROXY),
        ("DATABASE_URL pointing at PostgreSQL", DATABASE_URL.startswith("postgres")),
        ("REDIS_URL", REDIS_URL),
    )
    if not ok
]
if _missing:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the two-node test needs {', '.join(_missing)}", pytrace=False)
    pytest.skip(f"needs {', '.join(_missing)}", allow_module_level=True)


def node_command() -> list[str]:
    """deploy/systemd/portal.service's ExecStart, with this checkout in place of /opt/api-key-portal."""
    unit = (ROOT / "deploy" / "systemd" / "portal.service").read_text()
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    command = shlex.split(line.removeprefix("ExecStart="))
    assert command[0] == "/opt/api-key-portal/.venv/bin/gunicorn"
    return [GUNICORN, *command[1:]]


class Node:
    def __init__(self, env: dict[str, str], name: str, port: int, logs: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            node_command(),
            cwd=ROOT,
            env={**env, "BIND": f"127.0.0.1:{port}", "WORKERS": str(WORKERS), "THREADS": str(THREADS)},
            stdout=(logs / f"{name}.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: get(self.url + "/healthz")[0] == 200, 30, f"node {name} did not start")

    def stop(self) -> None:
        """SIGTERM: gunicorn finishes the requests in flight and the workers write their usage."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(40)


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes]:
    """(status, body); 0 when the connection failed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        conn.close()


def wait_until(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(message)


class LoadLoop:
    """LOAD_THREADS clients calling GET /api/v1/key through HAProxy on kept-alive connections, each
    one request at a time, until stopped; every answer is recorded with when it was sent."""

    def __init__(self, url: str, secret: str) -> None:
        self.parts = urlsplit(url)
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.stopping = threading.Event()
        self.results: list[tuple[float, float, int]] = []  # (sent, answered, status; 0: failed)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(LOAD_THREADS)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        conn = None
        while not self.stopping.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=30)
            sent = time.monotonic()
            try:
                conn.request("GET", "/api/v1/key", headers=self.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = None
            with self.lock:
                self.results.append((sent, time.monotonic(), status))
            time.sleep(0.01)  # bounded: about LOAD_THREADS × 100 requests/s at most

    def since(self, start: float, end: float | None = None) -> list[tuple[float, float, int]]:
        with self.lock:
            return [r for r in self.results if r[0] >= start and (end is None or r[0] < end)]

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(40)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("cluster")
    server = urlsplit(DATABASE_URL)
    name = f"{server.path.lstrip('/') or 'portal'}_cluster"
    admin_url = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = server._replace(path=f"/{name}").geturl()
    env = production_env(
        database_url,
        "cluster",
        REDIS_URL=REDIS_URL,
        DEMO_PASSWORD=PASSWORD,
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        PROXY_COUNT="1",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    keys = {
        "admin": ["--scope", "api-keys:read", "--scope", "api-keys:write"],
        "load": ["--scope", "api-keys:read", "--rate-limit", "1000000"],
        "revoked": ["--scope", "api-keys:read"],
        "limited": ["--scope", "api-keys:read", "--rate-limit", "60"],
        "usage": ["--scope", "api-keys:read"],
    }
    outputs = manage_commands(env)(
        ["migrate", "--noinput"],
        ["seed_demo", "--no-keys"],
        ["collectstatic", "--noinput", "-v0"],
        *(["create_api_key", "--organization", "acme", "--name", n, *o, "--json"] for n, o in keys.items()),
    )
    made = {n: json.loads(out) for n, out in zip(keys, outputs[3:], strict=True)}

    ports = {"a": free_port(), "b": free_port(), "front": free_port()}
    nodes = {n: Node(env, n, ports[n], logs) for n in ("a", "b")}
    haproxy_env = {
        **os.environ,
        "HAPROXY_BIND": f"127.0.0.1:{ports['front']}",
        "HAPROXY_LOG_TARGET": "stdout",
        "HAPROXY_MAX_CONN_PER_CLIENT": str(MAX_CONN_PER_CLIENT),
        "PORTAL_HOST": "127.0.0.1",
        "PORTAL_NODE_A": f"127.0.0.1:{ports['a']}",
        "PORTAL_NODE_B": f"127.0.0.1:{ports['b']}",
    }
    haproxy = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        env=haproxy_env,
        stdout=(logs / "haproxy.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    front = f"http://127.0.0.1:{ports['front']}"
    wait_until(lambda: get(front + "/healthz")[0] == 200, 20, "HAProxy did not start")
    load = LoadLoop(front, made["load"]["key"])
    state = {"env": env, "logs": logs, "ports": ports, "nodes": nodes, "front": front, "keys": made}
    state["database_url"] = database_url
    state["load"] = load
    yield state
    load.stop()
    haproxy.terminate()
    haproxy.wait(20)
    for node in state["nodes"].values():
        if node.process.poll() is None:
            node.stop()
    # Under load, from the first check to the last: no request failed but those counted in
    # test_stopping_node_b_fails_only_its_requests_in_flight (its window is excluded here).
    window = state.get("stop_window", (0.0, 0.0))
    outside = [r for r in load.results if not (window[0] <= r[0] < window[1])]
    print(f"\nload loop: {len(load.results)} requests, {Counter(r[2] for r in load.results)}")
    assert Counter(status for *_, status in outside) == {200: len(outside)}
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bearer(cluster, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cluster['keys'][name]['key']}"}


def test_a_key_revoked_through_node_a_is_refused_by_node_b_within_1_s(cluster):
    a, b = cluster["nodes"]["a"], cluster["nodes"]["b"]
    key = cluster["keys"]["revoked"]
    for _ in range(24):  # verified, so cached in B's workers (2 workers of 4 threads)
        assert get(b.url + "/api/v1/key", bearer(cluster, "revoked"))[0] == 200
    status, _ = get(a.url + f"/api/v1/org/api-keys/{key['id']}", bearer(cluster, "admin"), method="DELETE")
    assert status == 204
    revoked_at = time.monotonic()
    while get(b.url + "/api/v1/key", bearer(cluster, "revoked"))[0] == 200:
        assert time.monotonic() - revoked_at < 10
    print(f"\nrevocation through A refused by B after {(time.monotonic() - revoked_at) * 1000:.0f} ms")
    # A worker trusts a verified key for KEY_CACHE_TTL_SECONDS (1 s) from when it verified it, which
    # was before the revocation: after 1 s, no worker of B holds it any more (a monotonic clock).
    time.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))
    statuses = [get(b.url + "/api/v1/key", bearer(cluster, "revoked"))[0] for _ in range(24)]
    assert set(statuses) == {401}


def test_a_60_per_minute_key_gets_exactly_60_through_both_nodes(cluster):
    urls = [cluster["nodes"]["a"].url, cluster["nodes"]["b"].url]
    statuses = Counter(get(urls[i % 2] + "/api/v1/key", bearer(cluster, "limited"))[0] for i in range(90))
    assert statuses == {200: 60, 429: 30}


def _session(base: str, email: str) -> urllib.request.OpenerDirector:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
    )
    page = opener.open(base + "/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD})
    try:
        opener.open(urllib.request.Request(base + "/login/", data=data.encode()))
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.code  # signed in: off to the portal
    return opener


def _status(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    try:
        response = opener.open(url)
        return response.status, ""
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Location", "")


def test_a_member_deactivated_through_node_a_is_signed_out_on_node_b(cluster):
    a, b = cluster["nodes"]["a"].url, cluster["nodes"]["b"].url
    viewer = _session(b, "support@acme.test")
    assert _status(viewer, b + "/settings/api-keys/") == (200, "")

    with psycopg.connect(cluster["database_url"]) as db:
        member_id = db.execute("SELECT id FROM accounts_user WHERE email = 'support@acme.test'").fetchone()[0]
    admin = _session(a, "advanced@acme.test")
    url = a + f"/settings/members/{member_id}/deactivate/"
    page = admin.open(url).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    status, _ = _status(admin, urllib.request.Request(url, data=f"csrfmiddlewaretoken={token}".encode()))
    assert status == 302  # done, back to the members page

    status, location = _status(viewer, b + "/settings/api-keys/")
    assert status == 302 and location.startswith("/login/")


def _usage_total(cluster, key_id: str) -> int:
    with psycopg.connect(cluster["database_url"]) as db:
        row = db.execute("SELECT COALESCE(SUM(total), 0) FROM keys_keyusageday WHERE key_id = %s", [key_id])
        return row.fetchone()[0]


def test_usage_counted_on_both_nodes_sums_exactly(cluster):
    urls = [cluster["nodes"]["a"].url, cluster["nodes"]["b"].url]
    calls = 100
    for i in range(calls):
        assert get(urls[i % 2] + "/api/v1/key", bearer(cluster, "usage"))[0] == 200
    # Each worker writes its counts on a timer or at its next request when due, and always when it
    # stops: a reload (SIGHUP) replaces every worker, so whichever way this branch flushes, the
    # counts reach the database.
    for node in cluster["nodes"].values():
        node.process.send_signal(signal.SIGHUP)
    key_id = cluster["keys"]["usage"]["id"]
    deadline = time.monotonic() + 30
    while (total := _usage_total(cluster, key_id)) < calls and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total == calls


def _rest_requests(url: str) -> float:
    """The REST answers a node's workers have counted (its /metrics)."""
    status, body = get(url + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith("akp_http_requests_total{") and 'surface="rest"' in line
    )


def test_stopping_node_b_fails_only_its_requests_in_flight(cluster):
    load, nodes = cluster["load"], cluster["nodes"]
    start = time.monotonic()
    time.sleep(1)
    stopping = time.monotonic()
    nodes["b"].stop()
    stopped = time.monotonic()
    time.sleep(4)  # HAProxy's checks mark B down (3 × 1 s); meanwhile retries send B's share to A
    during = load.since(stopped)
    assert Counter(status for *_, status in during)[200] > 0  # A served alone

    nodes["b"] = Node(cluster["env"], "b", cluster["ports"]["b"], cluster["logs"])
    back = time.monotonic()
    wait_until(lambda: _rest_requests(nodes["b"].url) > 0, 15, "HAProxy did not send requests to B again")
    rejoined = time.monotonic()
    cluster["stop_window"] = (start, rejoined)

    results = load.since(start, rejoined)
    failed = [r for r in results if r[2] != 200]
    # Only a request B had in flight when it was stopped may fail: sent before B had stopped, while
    # each load client has at most one request out at a time.
    in_flight = [r for r in failed if r[0] < stopped and r[1] >= stopping]
    print(
        f"\nnode B stopped under load: {len(results)} requests, {len(failed)} failed "
        f"({len(in_flight)} in flight at B), rejoined {rejoined - back:.1f} s after its restart"
    )
    assert failed == in_flight
    assert len(in_flight) <= LOAD_THREADS


def test_slow_clients_through_haproxy_hold_nothing(cluster):
    front = cluster["front"]
    parts = urlsplit(front)
    count = 10 * 2 * WORKERS * THREADS
    # From another loopback address: the front end limits connections per client address.
    slow = open_slow_connections(
        (parts.hostname, parts.port), count, payloads=(HALF_HEADER, HALF_BODY), source="127.0.0.2"
    )
    try:
        time.sleep(1)
        started = time.perf_counter()
        assert get(front + "/healthz")[0] == 200
        elapsed_ms = (time.perf_counter() - started) * 1000
        refused = slow.count(None)
        print(f"\n/healthz via HAProxy, {count} slow connections ({refused} refused): {elapsed_ms:.1f} ms")
        assert get(front + "/api/v1/key", bearer(cluster, "load"))[0] == 200
        closed = closed_by_server(slow, within=HAPROXY_HTTP_REQUEST_TIMEOUT + 5)
        assert closed == [True] * count
    finally:
        for conn in filter(None, slow):
            conn.close()
