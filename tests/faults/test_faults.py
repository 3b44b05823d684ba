"""Faults under traffic, on a private PostgreSQL and a private Redis this module starts and stops.

Run with `make test-faults` (CI does). Needs the PostgreSQL server binaries and redis-server on the
machine (Debian's postgresql and redis-server packages); skipped where they are missing, failing
in CI.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.helpers.deployment import (
    ROOT,
    free_port,
    manage_command,
    new_key,
    production_env,
    start_gunicorn,
    worker_pids,
)

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)
REDIS_SERVER = shutil.which("redis-server")

pytestmark = pytest.mark.faults
if not PG_BIN or not REDIS_SERVER:
    if os.environ.get("CI") == "true":
        pytest.fail(
            "PostgreSQL server binaries and redis-server are needed for the fault tests", pytrace=False
        )
    pytest.skip("needs PostgreSQL server binaries and redis-server", allow_module_level=True)


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


class PrivatePostgres:
    def __init__(self, base: Path) -> None:
        self.dir = base / "pgdata"
        self.port = free_port()
        base.chmod(0o777)
        subprocess.run(
            _as_postgres(f"{PG_BIN}/initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres"),
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            _as_postgres(
                f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "portal"
            ),
            check=True,
            capture_output=True,
        )
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/portal"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                f"{PG_BIN}/pg_ctl",
                "-D",
                str(self.dir),
                "-w",
                "-l",
                str(self.dir.parent / "pg.log"),
                "-o",
                f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(f"{PG_BIN}/pg_ctl", "-D", str(self.dir), "-m", "immediate", "-w", "stop"),
            check=False,
            capture_output=True,
        )


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def stack():
    # Not pytest's tmp_path: its parent is private to root, and PostgreSQL runs as "postgres".
    base = Path(tempfile.mkdtemp(prefix="akp-faults-"))
    pg = PrivatePostgres(base)
    redis = PrivateRedis()
    env = production_env(pg.url, "faults", REDIS_URL=redis.url, USAGE_FLUSH_SECONDS="1", CONN_MAX_AGE="60")
    manage = manage_command(env)

    manage("migrate", "--noinput", "-v0")
    manage("seed_demo")
    key = json.loads(
        manage(
            "create_api_key",
            "--organization",
            "acme",
            "--name",
            "traffic",
            "--scope",
            "api-keys:read",
            "--rate-limit",
            "1000000",
            "--json",
        )
    )
    log = base / "gunicorn.log"
    server, url = start_gunicorn(env, stdout=log.open("w"))
    yield {
        "url": url,
        "secret": key["key"],
        "key_id": key["id"],
        "pg": pg,
        "redis": redis,
        "log": log,
        "server": server,
        "manage": manage,
        "env": env,
    }
    try:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


# Answers that are not HTTP statuses: the server closed the connection without (a whole) answer,
# e.g. its worker was killed mid-request; nothing listened (a master in shutdown closed its socket);
# the client itself failed (a bug in the test: reported, never a dead traffic thread).
DROPPED, REFUSED, CLIENT_ERROR = 0, -1, -2
LABELS = {DROPPED: "connection dropped", REFUSED: "connection refused", CLIENT_ERROR: "client error"}


def call(url: str, secret: str | None = None) -> tuple[int, str, bytes]:
    """One GET; a connection that breaks is an answer too (status DROPPED or REFUSED), never an exception."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (OSError, http.client.HTTPException) as exc:
        # URLError wraps what happened while connecting; RemoteDisconnected, ConnectionResetError,
        # IncompleteRead, TimeoutError (socket.timeout) and friends come while waiting or reading.
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        status = REFUSED if isinstance(reason, ConnectionRefusedError) else DROPPED
        return status, "", repr(exc).encode()


def outcomes(answers) -> dict[str, int]:
    """``{"200": 1520, "connection dropped": 3}``: how the answers ended, for the printed figures."""
    return {LABELS.get(s, str(s)): n for s, n in sorted(Counter(a[2] for a in answers).items())}


class Traffic:
    """Clients calling a list of paths in a loop until stopped; every answer is kept.

    A client thread never dies: a broken connection is recorded as DROPPED or REFUSED (see call) and
    anything else as CLIENT_ERROR, so the test sees it and asserts on it.
    """

    def __init__(self, base: str, secret: str, paths: list[str], clients: int = 4) -> None:
        self.answers: list[tuple[float, str, int, str, bytes]] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(base, secret, paths), daemon=True)
            for _ in range(clients)
        ]
        for t in self._threads:
            t.start()

    def _run(self, base: str, secret: str, paths: list[str]) -> None:
        while not self._stop.is_set():
            for path in paths:
                try:
                    status, ctype, body = call(base + path, secret)
                except Exception as exc:
                    status, ctype, body = CLIENT_ERROR, "", repr(exc).encode()
                self.answers.append((time.monotonic(), path, status, ctype, body))
                if status in (DROPPED, REFUSED, CLIENT_ERROR):
                    self._stop.wait(0.01)  # no busy loop against a closed port

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)
        assert not any(t.is_alive() for t in self._threads), "a traffic client did not stop"

    def served(self) -> list[tuple[float, str, int, str, bytes]]:
        return [a for a in self.answers if a[2] == 200]


def create_key(manage, name: str) -> dict:
    return new_key(manage, name, "--scope", "api-keys:read", "--rate-limit", "1000000")


def usage_total(env: dict[str, str], key_id: str) -> int:
    """The requests of one key counted in the database (KeyUsageDay), read by a fresh process."""
    script = (
        "import django; django.setup(); from django.db.models import Sum; "
        "from keys.models import KeyUsageDay; "
        f"print(KeyUsageDay.objects.filter(key_id='{key_id}').aggregate(s=Sum('total'))['s'] or 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip())


def stop_gunicorn(server: subprocess.Popen) -> None:
    """A graceful stop (SIGTERM: every worker flushes its usage buffer); SIGKILL if it hangs."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def test_postgres_stopped_during_traffic_then_back(stack):
    url, secret = stack["url"], stack["secret"]
    assert call(url + "/api/v1/org/api-keys", secret)[0] == 200
    traffic = Traffic(url, secret, ["/api/v1/org/api-keys", "/api/v1/key"])
    time.sleep(1.0)
    stack["pg"].stop()
    down_at = time.monotonic()
    time.sleep(3.0)
    ready = call(url + "/readyz")
    stack["pg"].start()
    up_at = time.monotonic()
    recovered = None
    deadline = up_at + 20
    while time.monotonic() < deadline:
        if call(url + "/api/v1/org/api-keys", secret)[0] == 200:
            recovered = time.monotonic() - up_at
            break
        time.sleep(0.2)
    time.sleep(1.0)
    traffic.stop()

    print(
        f"\nPostgreSQL outage: {len(traffic.answers)} requests, outcomes {outcomes(traffic.answers)}, "
        f"requests succeeded again {recovered} s after PostgreSQL restarted"
    )
    assert ready[0] == 503 and json.loads(ready[2])["checks"]["database"] == "unavailable"
    assert recovered is not None, "requests did not succeed again after PostgreSQL came back"
    for _, path, status, ctype, body in traffic.answers:
        assert status in (200, 503), (path, status, body[:200])
        assert ctype.startswith("application/json"), (path, status, body[:200])
        if status == 503:
            assert json.loads(body)["error"]["code"] == "service_unavailable"
    during = [a for a in traffic.answers if down_at + 0.5 < a[0] < up_at]
    assert any(a[2] == 503 for a in during), "the outage was not seen"
    # Outage tracebacks are logged on purpose (log.exception); a 500 never is.
    assert "Internal Server Error" not in stack["log"].read_text()


def test_redis_stopped_keys_still_verified_and_readyz_degraded(stack):
    url, secret = stack["url"], stack["secret"]
    assert json.loads(call(url + "/readyz")[2])["status"] == "ready"
    stack["redis"].stop()
    try:
        statuses = [call(url + "/api/v1/key", secret)[0] for _ in range(20)]
        ready = call(url + "/readyz")
    finally:
        stack["redis"].start()
    assert set(statuses) == {200}
    assert ready[0] == 200 and json.loads(ready[2])["status"] == "degraded"
    deadline = time.monotonic() + 15
    while json.loads(call(url + "/readyz")[2])["status"] != "ready":
        assert time.monotonic() < deadline, "readyz did not recover after Redis came back"
        time.sleep(0.5)


def test_worker_killed_mid_flush_loses_at_most_one_interval(stack):
    """USAGE_FLUSH_SECONDS=1 here: a killed worker loses at most ~1 s of its counts."""
    url, env = stack["url"], stack["env"]
    key = create_key(stack["manage"], "counted")
    traffic = Traffic(url, key["key"], ["/api/v1/key"], clients=4)
    time.sleep(3.0)
    victim = worker_pids(stack["server"])[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(2.0)
    traffic.stop()
    ok = traffic.served()
    # The requests the victim was answering when it died: their clients see the connection dropped.
    dropped = sum(1 for a in traffic.answers if a[2] == DROPPED)
    # A clean stop of the other workers flushes their buffers (gunicorn worker_exit); then count.
    stop_gunicorn(stack["server"])
    counted = usage_total(env, key["id"])
    per_second = len(ok) / max(a[0] for a in ok) if ok else 0
    rate = len([a for a in ok if killed_at - 1.0 <= a[0] <= killed_at])  # served in the last second
    lost = len(ok) - counted
    print(
        f"\nworker kill: {len(ok)} served, {counted} counted, {lost} lost "
        f"(bound: one flush interval of one worker, about {rate} requests); "
        f"outcomes {outcomes(traffic.answers)}, {dropped} connection(s) dropped by the kill"
    )
    assert not any(a[2] in (REFUSED, CLIENT_ERROR) for a in traffic.answers), outcomes(traffic.answers)
    # The killed worker's share of one second is at most the whole server's second. A request cut
    # by the kill may have been counted (and even flushed) before its answer was lost: -dropped.
    assert -dropped <= lost <= rate + 20, (lost, rate, per_second, stack["log"].read_text()[-3000:])


def test_reload_under_traffic_loses_no_counts(stack, tmp_path):
    """SIGHUP: gunicorn starts new workers and stops the old ones gracefully (SIGTERM), each old
    worker flushing its usage buffer on the way out (worker_exit). Nothing may be lost or dropped."""
    env = stack["env"]
    key = create_key(stack["manage"], "reloaded")
    log = tmp_path / "gunicorn.log"
    server, url = start_gunicorn(env, stdout=log.open("w"))
    try:
        traffic = Traffic(url, key["key"], ["/api/v1/key"], clients=4)
        time.sleep(1.5)
        generations = [worker_pids(server)]
        reloaded_at = []
        for _ in range(2):
            server.send_signal(signal.SIGHUP)
            reloaded_at.append(time.monotonic())
            deadline = time.monotonic() + 25  # graceful_timeout is 20 s
            while True:
                pids = worker_pids(server)
                if len(pids) == 2 and not set(pids) & set(generations[-1]):
                    break  # the old workers have exited, two new ones serve
                assert time.monotonic() < deadline, (generations, pids, log.read_text()[-3000:])
                time.sleep(0.1)
            generations.append(pids)
            time.sleep(1.5)
        traffic.stop()
        in_database_before_stop = usage_total(env, key["id"])
    finally:
        stop_gunicorn(server)
    # The old generations are gone: what they did not write before exiting is lost for good, so
    # the final graceful stop (flushing only the last generation) cannot hide a loss.
    counted = usage_total(env, key["id"])
    served = traffic.served()
    lost = len(served) - counted
    after_reload = [sum(1 for a in served if a[0] > t) for t in reloaded_at]
    print(
        f"\nreload (SIGHUP) under traffic: {len(served)} served ({after_reload} after each of the "
        f"{len(reloaded_at)} reloads), {counted} counted, {lost} lost; outcomes {outcomes(traffic.answers)}; "
        f"{in_database_before_stop} were in the database before the final stop "
        f"(the rest waited in idle workers' buffers); worker generations {generations}"
    )
    assert all(n > 0 for n in after_reload), "no traffic was served after a reload"
    assert set(outcomes(traffic.answers)) == {"200"}, outcomes(traffic.answers)
    assert lost == 0, (len(served), counted, log.read_text()[-3000:])
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


# The usage table, locked by the test below to hold the workers' flushes in flight.
USAGE_TABLE = "keys_keyusageday"


@pytest.mark.parametrize("quick", [signal.SIGQUIT, signal.SIGINT], ids=["SIGQUIT", "SIGINT"])
def test_quick_shutdown_during_a_flush_loses_no_counts(stack, tmp_path, quick):
    """SIGQUIT/SIGINT: gunicorn's quick shutdown, in which a sync worker raises SystemExit wherever
    it is, even in the middle of a request. worker_exit still flushes. Here the quick shutdown comes
    while every worker is in the middle of writing its usage batch (held back by a table lock, as a
    slow database would): the batch must still be written, not rolled back and forgotten."""
    env, pg_url = stack["env"], stack["pg"].url
    key = create_key(stack["manage"], f"quick {quick.name}")
    log = tmp_path / "gunicorn.log"
    server, url = start_gunicorn(env, stdout=log.open("w"))
    blocked = 0
    try:
        traffic = Traffic(url, key["key"], ["/api/v1/key"], clients=4)
        time.sleep(2.5)  # several 1 s flushes go through first
        with psycopg.connect(pg_url) as locker, psycopg.connect(pg_url, autocommit=True) as watcher:
            locker.execute(f"LOCK TABLE {USAGE_TABLE} IN EXCLUSIVE MODE")  # readers pass, writers wait
            deadline = time.monotonic() + 10
            while blocked < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                blocked = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                    [f"%{USAGE_TABLE}%"],
                ).fetchone()[0]
            server.send_signal(quick)
            time.sleep(1.0)  # the workers have the signal while their writes wait for the lock
            locker.rollback()  # the lock goes; the writes can end
        server.wait(30)
        traffic.stop()
    finally:
        stop_gunicorn(server)
    counted = usage_total(env, key["id"])
    served = traffic.served()
    lost = len(served) - counted
    # Requests cut by the quick shutdown were counted (the view ran) though their client got a 500
    # or a dropped connection: counted may exceed served by those. Refused ones never reached a worker.
    cut = sum(1 for a in traffic.answers if a[2] not in (200, REFUSED))
    print(
        f"\nquick shutdown ({quick.name}) with {blocked} flushes in flight: {len(served)} served, "
        f"{counted} counted, {lost} lost; outcomes {outcomes(traffic.answers)}"
    )
    assert blocked == 2, "the workers' flushes were not held in flight"
    assert not any(a[2] == CLIENT_ERROR for a in traffic.answers), outcomes(traffic.answers)
    assert -cut <= lost <= 0, (len(served), counted, cut, log.read_text()[-3000:])
