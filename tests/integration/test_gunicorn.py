"""The portal served as gunicorn.conf.py configures it: 2 worker processes on a throw-away SQLite
database.

Proves what a single-process test cannot: a revocation reaches every worker within the verified-key
cache TTL (1 s), with Redis a rate limit holds across workers, and gunicorn's own logs never carry
a secret.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.helpers.deployment import (
    manage_command,
    manage_commands,
    new_key,
    new_key_command,
    production_env,
    start_gunicorn,
    worker_pids,
)
from tests.helpers.graphql import GRAPHQL, fan_out
from tests.helpers.scanning import GITHUB_PATH, Partner, report
from tests.helpers.threads import start_and_join

REDIS_URL = os.environ.get("REDIS_URL", "")
KEY_SCOPES = ("--scope", "api-keys:read", "--scope", "api-keys:write")
KEYS = ("revocation target", "revoking admin", "logged by mistake", "disable target")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A database with the demo data and the keys the tests use (made by `create_api_key`), and a
    way to start gunicorn on it."""
    work = tmp_path_factory.mktemp("workers")
    env = production_env(f"sqlite:///{work / 'db.sqlite3'}", "workers-test")
    outputs = manage_commands(env)(
        ["migrate", "--noinput", "-v0"],
        ["seed_demo"],
        *(new_key_command(name, *KEY_SCOPES) for name in KEYS),
    )
    keys = {name: json.loads(output) for name, output in zip(KEYS, outputs[2:], strict=True)}
    return work, env, manage_command(env), keys


def _new_key(manage, name: str, *extra: str) -> dict:
    return new_key(manage, name, *KEY_SCOPES, *extra)


class Gunicorn:
    def __init__(self, work: Path, env: dict[str, str], name: str) -> None:
        self.access_log = work / f"{name}-access.log"
        self.proc, self.url = start_gunicorn(
            env,
            extra_args=["--access-logfile", str(self.access_log), "--access-logformat", "%(p)s %(s)s %(U)s"],
        )

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(20)

    def status(self, path: str, secret: str, method: str = "GET") -> int:
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"Bearer {secret}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def pids_by_status(self, since_line: int = 0) -> dict[int, set[str]]:
        seen: dict[int, set[str]] = {}
        lines = self.access_log.read_text().splitlines()[since_line:]
        for line in lines:
            pid, status, path = line.split(" ", 2)
            if path == "/api/v1/key":
                seen.setdefault(int(status), set()).add(pid)
        return seen

    def log_lines(self) -> int:
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0


def _parallel(fn, n: int) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    start_and_join([threading.Thread(target=run, args=(i,)) for i in range(n)])
    return results


def _until_both_workers(server: Gunicorn, secret: str, status: int, since_line: int = 0) -> list[int]:
    """Keep 8 clients calling until both workers have answered ``status`` (at most 10 s)."""
    statuses: list[int] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses += _parallel(lambda: server.status("/api/v1/key", secret), 8)
        if len(server.pids_by_status(since_line).get(status, set())) == 2:
            return statuses
    raise AssertionError(f"only one worker answered {status}: {server.pids_by_status(since_line)}")


def _refused_by_every_worker_one_second_after(
    server: Gunicorn, secret: str, *, method: str, path: str, by: str, answer: int
) -> None:
    """Both workers verify the key and keep it in their caches; the request ``method path`` made
    with the key ``by`` then stops it. From one TTL (1 s) after it answered, every worker refuses
    the key: each cached it before, and CLOCK_MONOTONIC is one clock for every process."""
    assert set(_until_both_workers(server, secret, 200)) == {200}
    assert server.status(path, by, method) == answer
    changed_at = time.monotonic()
    mark = server.log_lines()
    time.sleep(max(0.0, changed_at + 1.0 - time.monotonic()))
    assert set(_until_both_workers(server, secret, 401, mark)) == {401}


def test_revocation_reaches_every_worker_within_one_second(deployment):
    work, env, _, keys = deployment
    target, admin = keys["revocation target"], keys["revoking admin"]
    server = Gunicorn(work, env, "revocation")
    try:
        _refused_by_every_worker_one_second_after(
            server,
            target["key"],
            method="DELETE",
            path=f"/api/v1/org/api-keys/{target['id']}",
            by=admin["key"],
            answer=204,
        )
    finally:
        server.stop()


def test_disabling_reaches_every_worker_within_one_second_and_enabling_at_once(deployment):
    work, env, _, keys = deployment
    target, admin = keys["disable target"], keys["revoking admin"]
    server = Gunicorn(work, env, "disable")
    url = f"/api/v1/org/api-keys/{target['id']}"
    try:
        _refused_by_every_worker_one_second_after(
            server, target["key"], method="POST", path=f"{url}/disable", by=admin["key"], answer=200
        )
        # A refused key is never cached: enabled, the same secret works in every worker at once.
        assert server.status(f"{url}/enable", admin["key"], "POST") == 200
        assert set(_until_both_workers(server, target["key"], 200, server.log_lines())) == {200}
    finally:
        server.stop()


def test_a_signed_leak_report_stops_the_key_in_every_worker_within_one_second(deployment, tmp_path):
    work, env, manage, _ = deployment
    target = _new_key(manage, "leaked on a public repository")
    partner = Partner.at(tmp_path)
    server = Gunicorn(work, {**env, "SECRET_SCANNING_PUBLIC_KEYS": str(partner.path)}, "leak")
    try:
        assert set(_until_both_workers(server, target["key"], 200)) == {200}
        body = report(target["key"])
        request = urllib.request.Request(
            server.url + GITHUB_PATH,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **partner.headers(body)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            labels = json.load(response)
        reported_at = time.monotonic()
        assert [label["label"] for label in labels] == ["true_positive"]
        mark = server.log_lines()
        time.sleep(max(0.0, reported_at + 1.0 - time.monotonic()))
        assert set(_until_both_workers(server, target["key"], 401, mark)) == {401}
    finally:
        server.stop()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL")
def test_rate_limit_holds_across_workers_with_redis(deployment):
    work, env, manage, _ = deployment
    server = Gunicorn(work, {**env, "REDIS_URL": REDIS_URL}, "ratelimit")
    try:
        for attempt in range(5):
            limited = _new_key(manage, f"limited to ten {attempt}", "--rate-limit", "10")
            mark = server.log_lines()
            secret = limited["key"]
            statuses = _parallel(lambda secret=secret: server.status("/api/v1/key", secret), 50)
            # Under 200/minute every request is counted in Redis itself: no batching overshoot.
            assert statuses.count(200) == 10, statuses
            assert statuses.count(429) == 40
            if (
                len(server.pids_by_status(mark).get(200, set()) | server.pids_by_status(mark).get(429, set()))
                == 2
            ):
                break
        else:
            pytest.fail("the 50 requests never reached both workers")
        pids = server.pids_by_status(mark)
        assert len(pids[200] | pids[429]) == 2  # the count was shared, not per worker
    finally:
        server.stop()


def test_a_graphql_fragment_fan_out_is_refused_at_once_and_the_worker_lives_on(deployment):
    """A fragment spread twice per level for 24 levels (900 bytes) kept a worker busy past
    gunicorn's 30 s timeout: the worker was killed and the client got gunicorn's HTML 500."""
    work, env, _, keys = deployment
    secret = keys["revoking admin"]["key"]
    server = Gunicorn(work, env, "fan-out")

    def post(query: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            server.url + GRAPHQL,
            data=json.dumps({"query": query}).encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            content = exc.read()
            is_json = exc.headers.get_content_type() == "application/json"
            return exc.code, json.loads(content) if is_json else {"not JSON": content.decode()[:300]}

    try:
        for _ in range(3):  # a few times, as either worker may answer
            status, body = post(fan_out(24))
            codes = [e["extensions"]["code"] for e in body.get("errors", [])]
            assert (status, codes) == (400, ["query_too_complex"]), body
        assert post("{ currentKey { name } }") == (200, {"data": {"currentKey": {"name": "revoking admin"}}})
    finally:
        server.stop()


def test_gunicorn_logs_never_carry_a_secret(deployment):
    """A client may put a secret where gunicorn logs it (a URL, a Referer); gunicorn.conf.py's
    logger replaces it in the access log and the error log alike."""
    work, env, _, keys = deployment
    secret = keys["logged by mistake"]["key"]
    access_log, error_log = work / "scrub-access.log", work / "scrub-error.log"
    process, url = start_gunicorn(
        env, extra_args=["--access-logfile", str(access_log), "--error-logfile", str(error_log)]
    )
    try:
        request = urllib.request.Request(
            f"{url}/api/v1/key?api_key={secret}", headers={"Referer": f"{url}/settings/api-keys/?q={secret}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401  # a key in the URL is refused
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    logged = access_log.read_text()
    assert "GET /api/v1/key?api_key=sk_…[redacted] HTTP/1.1" in logged and " 401 " in logged
    assert secret[8:30] not in logged + error_log.read_text()


def _usage_in_database(work: Path, key_id: str) -> int:
    with sqlite3.connect(work / "db.sqlite3") as db:
        row = db.execute(
            "SELECT coalesce(sum(total), 0) FROM keys_keyusageday WHERE key_id = ?", [key_id.replace("-", "")]
        ).fetchone()
    return row[0]


def test_an_idle_worker_writes_its_usage_on_the_timer(deployment):
    """Usage reaches the database after the traffic stops, without another request: each worker's
    timer writes it (USAGE_FLUSH_SECONDS), not the next request that happens to come."""
    work, env, manage, _ = deployment
    key = _new_key(manage, "counted then idle")
    server = Gunicorn(work, {**env, "USAGE_FLUSH_SECONDS": "0.5"}, "idle")
    try:
        statuses = _parallel(lambda: server.status("/api/v1/key", key["key"]), 8)
        assert statuses == [200] * 8
        deadline = time.monotonic() + 15  # no request from here on
        while _usage_in_database(work, key["id"]) < 8 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _usage_in_database(work, key["id"]) == 8
    finally:
        server.stop()


def test_every_line_is_json_with_log_format_json(deployment, tmp_path):
    """gunicorn's own lines (boot, signal, worker exits) and its access log go through the project's
    JSON formatter; the access line carries the request id, surface, route, status, duration and key
    id, never the secret. No control socket is left in the home directory."""
    _, env, manage, _ = deployment
    key = _new_key(manage, "json logged")
    home = tmp_path / "home"
    home.mkdir()
    json_env = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
    json_env.update(LOG_FORMAT="json", LOG_LEVEL="INFO", HOME=str(home))
    output = tmp_path / "gunicorn.log"
    process, url = start_gunicorn(json_env, extra_args=["--access-logfile", "-"], stdout=output.open("w"))
    try:
        request = urllib.request.Request(
            url + "/api/v1/key",
            headers={"Authorization": f"Bearer {key['key']}", "X-Request-ID": "trace-json-1"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    text = output.read_text()
    for line in text.splitlines():
        assert line.startswith("{"), text
    lines = [json.loads(line) for line in text.splitlines()]
    messages = [line["message"] for line in lines if line["logger"] == "gunicorn.error"]
    for expected in (
        "Starting gunicorn",
        "Booting worker",
        "Handling signal: term",
        "Worker exiting",
        "Shutting down",
    ):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    keyed = next(line for line in access if line["request_id"] == "trace-json-1")
    assert {k: keyed[k] for k in ("surface", "method", "route", "status", "key_id")} == {
        "surface": "rest",
        "method": "GET",
        "route": "api/v1/key",
        "status": 200,
        "key_id": key["id"],
    }
    assert keyed["duration_ms"] >= 0
    assert key["key"][8:30] not in text
    assert not (home / ".gunicorn").exists()


def test_metrics_carry_each_workers_process_metrics(deployment):
    """Multiprocess mode: whichever worker answers the scrape, process_* covers both, by pid."""
    work, env, _, _ = deployment
    server = Gunicorn(work, env, "process-metrics")
    try:
        workers = {str(pid) for pid in worker_pids(server.proc)}
        request = urllib.request.Request(
            server.url + "/metrics", headers={"Accept": "application/openmetrics-text"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    finally:
        server.stop()
    assert len(workers) == 2
    cpu = families["process_cpu_seconds"]
    assert {sample.labels["pid"] for sample in cpu.samples} == workers
    assert all(sample.value > 0 for sample in cpu.samples)
    memory = families["process_resident_memory_bytes"]
    assert {sample.labels["pid"] for sample in memory.samples} == workers
