"""A stalled database holds the usage timer, never an API answer or a probe; the usage counts and the
request log's rows wait in the buffer (below its bound) and are all written once it answers.

The SQLite file is held by another process's ``BEGIN IMMEDIATE`` for longer than the busy timeout
(20 s): every write waits, then fails. Readers go on (WAL), so a key verified once keeps answering
from the cache and the database. Needs nothing but this project (no PostgreSQL, no Redis).
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request

import pytest

from tests.faults.test_faults import Traffic, call, outcomes, stop_gunicorn
from tests.helpers.deployment import manage_commands, new_key_command, production_env, start_gunicorn

pytestmark = pytest.mark.faults

HOLD_SECONDS = 30  # longer than SQLite's busy timeout (20 s): a flush fails and is tried again


def usage_total(db_path, key_id: str) -> int:
    with sqlite3.connect(db_path, timeout=30) as db:
        (total,) = db.execute(
            "SELECT coalesce(sum(total), 0) FROM keys_keyusageday WHERE key_id = ?", [key_id.replace("-", "")]
        ).fetchone()
    return total


def logged_requests(db_path, key_id: str) -> int:
    with sqlite3.connect(db_path, timeout=30) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM keys_requestlogentry WHERE key_id = ?", [key_id.replace("-", "")]
        ).fetchone()
    return rows


def metric(url: str, line_start: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def test_requests_and_probes_answer_while_the_database_is_held(tmp_path):
    db_path = tmp_path / "db.sqlite3"
    env = production_env(f"sqlite:///{db_path}", "stall", USAGE_FLUSH_SECONDS="1")
    outputs = manage_commands(env)(
        ["migrate", "--noinput", "-v0"],
        ["seed_demo", "--no-keys"],
        new_key_command("stalled", "--scope", "api-keys:read", "--rate-limit", "1000000"),
    )
    key = json.loads(outputs[-1])
    log = tmp_path / "gunicorn.log"
    server, url = start_gunicorn(env, stdout=log.open("w"))
    try:
        traffic = Traffic(url, key["key"], ["/api/v1/key"], clients=2)
        time.sleep(2.0)
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock: every writer waits, readers go on
        held_at = time.monotonic()
        probes = []
        while time.monotonic() < held_at + HOLD_SECONDS:
            probes.append(call(url + "/healthz")[0])
            time.sleep(1.0)
        released_at = time.monotonic()
        holder.rollback()
        holder.close()
        time.sleep(1.0)
        traffic.stop()
        served = traffic.served()
        during = [a for a in served if held_at + 1 < a[0] < released_at]
        deadline = time.monotonic() + 20  # the next ticks write what waited
        while (
            min(usage_total(db_path, key["id"]), logged_requests(db_path, key["id"])) < len(served)
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        counted = usage_total(db_path, key["id"])
        logged = logged_requests(db_path, key["id"])
        failed_flushes = metric(url, 'akp_usage_flushes_total{outcome="failed"}')
        failed_log_flushes = metric(url, 'akp_request_log_flushes_total{outcome="failed"}')
        dropped = metric(url, "akp_request_log_dropped_total")
    finally:
        stop_gunicorn(server)
    print(
        f"\ndatabase held {HOLD_SECONDS} s: {len(served)} served ({len(during)} while held), "
        f"{counted} counted, {logged} in the request log, {failed_flushes:.0f} usage and "
        f"{failed_log_flushes:.0f} request log flushes failed and were retried; "
        f"outcomes {outcomes(traffic.answers)}; /healthz while held: {sorted(set(probes))}"
    )
    assert set(outcomes(traffic.answers)) == {"200"}, outcomes(traffic.answers)
    # Before the timer, each worker's next keyed request waited 20 s for its flush: a handful of
    # answers in 30 s. Now they keep coming from start to end.
    assert len(during) > 100, len(during)
    assert set(probes) == {200} and len(probes) >= HOLD_SECONDS - 2, probes
    assert failed_flushes >= 1, "the flushes never waited out the busy timeout"
    assert counted == len(served), (counted, len(served), log.read_text()[-3000:])
    # Below the buffer's bound nothing of the request log is lost either: every answer is a row.
    # (Its flush comes after usage's in the same tick, so it may wait out the rest of the hold.)
    assert dropped == 0
    assert logged == len(served), (logged, len(served), log.read_text()[-3000:])
