"""Load: wrk at full speed for LOAD_SECONDS (60) with 20 valid keys against 2 gunicorn workers.

Zero 5xx, zero errors in the server log, and each worker's memory flat (start and end RSS printed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.deployment import ROOT, manage_command, production_env, start_gunicorn

SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))

pytestmark = pytest.mark.faults
if not shutil.which("wrk"):
    if os.environ.get("CI") == "true":
        pytest.fail("wrk is needed for the load test", pytrace=False)
    pytest.skip("needs wrk", allow_module_level=True)

LUA = """
local keys = {%s}
local paths = {"/api/v1/key", "/api/v1/scopes", "/api/v1/org/api-keys?limit=5"}
request = function()
  local k = keys[math.random(#keys)]
  local p = paths[math.random(#paths)]
  return wrk.format("GET", p, {["Authorization"] = "Bearer " .. k})
end
"""


MAKE_KEYS = """
import django
django.setup()
from accounts.models import Application, Organization
from accounts.actors import Actor
from keys.services import create_key
org = Organization.objects.get(slug="acme")
portal = Application.objects.get(organization=org, is_portal=True)
root = org.accounts.get(parent__isnull=True)
for i in range(20):
    issued = create_key(actor=Actor.system(org.pk), application=portal, account=root, role=50,
                        name=f"load {i}", scopes=["api-keys:read"], rate_limit=1_000_000)
    print(issued.secret)
"""


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def test_sustained_load_has_no_errors_and_flat_memory(tmp_path):
    env = production_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", "load")
    manage = manage_command(env)
    manage("migrate", "--noinput", "-v0")
    manage("seed_demo")
    made = subprocess.run(
        [sys.executable, "-c", MAKE_KEYS], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    secrets = made.stdout.split()
    assert len(secrets) == 20
    script = tmp_path / "keys.lua"
    script.write_text(LUA % ", ".join(f'"{s}"' for s in secrets))
    log = tmp_path / "server.log"
    server, url = start_gunicorn(env, stdout=log.open("w"))
    try:
        subprocess.run(
            ["wrk", "-t2", "-c16", "-d3s", "-s", str(script), url], check=True, capture_output=True
        )
        workers = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        start = {pid: _rss_kb(pid) for pid in workers}
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{SECONDS}s", "--latency", "-s", str(script), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        end = {pid: _rss_kb(pid) for pid in workers}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = re.search(r"Socket errors: (.*)", out)
    text = log.read_text()
    print(
        f"\nload: {requests:,} requests in {SECONDS} s, non-2xx {non2xx}, socket errors: "
        f"{errors.group(1) if errors else 'none'}"
    )
    for pid in workers:
        print(f"worker {pid}: RSS {start[pid] / 1024:.1f} MiB at start, {end[pid] / 1024:.1f} MiB at end")
    assert non2xx == 0, out
    assert errors is None, out
    assert "ERROR" not in text and "Traceback" not in text, text[-3000:]
    for pid in workers:
        assert end[pid] - start[pid] < 20 * 1024, (pid, start[pid], end[pid])
