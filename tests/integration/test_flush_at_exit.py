"""A process without the flusher's timer (a management command, a shell, a one-off script) still
writes the calls it counted and the requests it logged when it exits: the flusher's one at-exit hook
flushes both buffers, as it does in a gunicorn worker.

Run in a child process of its own with a throw-away SQLite file, because an at-exit hook only runs
when an interpreter ends."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import time, uuid
import django
django.setup()
from django.core.management import call_command
from django.test import RequestFactory
call_command("migrate", verbosity=0)
call_command("seed_demo", "--no-keys", verbosity=0)
from keys.metering import requestlog, usage
import io, json
out = io.StringIO()
call_command(
    "create_api_key", "--organization", "acme", "--name", "exit test", "--account", "Acme North",
    "--scope", "api-keys:read", "--json", stdout=out,
)
key_id = uuid.UUID(json.loads(out.getvalue())["id"])
request = RequestFactory().get("/api/v1/key")
request.resolver_match = None
usage.buffer.record(key_id, 200, "192.0.2.7")
requestlog.buffer.record(request, key_id, 200, "", "192.0.2.7", time.perf_counter())
import threading
assert not any(thread.name == "usage-flusher" for thread in threading.enumerate())
print(key_id)
# No flush here: the interpreter's exit must write both.
"""


def test_a_process_without_the_timer_writes_its_buffers_when_it_exits(tmp_path):
    database = tmp_path / "exit.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "REQUEST_LOG": "1",
    }
    env.pop("REDIS_URL", None)
    env.pop("CACHE_URL", None)
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    key_id = child.stdout.strip().splitlines()[-1].replace("-", "")
    with sqlite3.connect(database) as db:
        calls = db.execute("select sum(total) from keys_keyusageday where key_id = ?", (key_id,)).fetchone()
        logged = db.execute(
            "select count(*) from keys_requestlogentry where key_id = ?", (key_id,)
        ).fetchone()
        used = db.execute("select last_used_at from keys_apikey where id = ?", (key_id,)).fetchone()
    assert calls == (1,)
    assert logged == (1,)
    assert used[0] is not None
