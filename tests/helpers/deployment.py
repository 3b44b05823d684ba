"""A throw-away deployment for tests that need real processes: production settings on a database of
the test's own, manage.py commands against it, and gunicorn started on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(database_url: str, name: str, **extra: str) -> dict[str, str]:
    """This process's environment without its database and cache, in production mode."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL"}}
    env.update(
        DEBUG="0",
        SECRET_KEY=f"{name}-" + "k" * 60,
        KEY_PEPPERS=f"{name}-pepper",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="portal.settings",
        **extra,
    )
    return env


def manage_command(env: dict[str, str]) -> Callable[..., str]:
    """``manage("seed_demo")``: runs manage.py in ``env``, fails the test on a non-zero exit."""

    def manage(*args: str) -> str:
        return _run(env, "manage.py", *args).stdout

    return manage


def _run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    """A Python command of this project in ``env``; fails the test on a non-zero exit."""
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    return result


_RUN_COMMANDS = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
outputs = []
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    call_command(*args, stdout=out)
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""


def manage_commands(env: dict[str, str]) -> Callable[..., list[str]]:
    """``manage_all(["migrate", "--noinput"], ["seed_demo"])``: the same commands as ``manage``, one
    after the other in a single process (one start of Django instead of one each); their outputs."""

    def manage_all(*commands: Sequence[str]) -> list[str]:
        result = _run(env, "-c", _RUN_COMMANDS, json.dumps([list(command) for command in commands]))
        return json.loads(result.stdout.splitlines()[-1])

    return manage_all


def start_gunicorn(env: dict[str, str], *, extra_args: Sequence[str] = (), stdout=subprocess.DEVNULL):
    """gunicorn with 2 workers in its own session; returns (process, base URL) once /healthz answers."""
    port = free_port()
    process = subprocess.Popen(
        [GUNICORN, "portal.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2", *extra_args],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            return process, url
        except (OSError, http.client.HTTPException):  # refused, reset, timed out, cut mid-answer
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def worker_pids(process: subprocess.Popen) -> list[int]:
    """The pids of the gunicorn master's children (its workers)."""
    found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def new_key_command(name: str, *options: str) -> list[str]:
    """The `create_api_key` command for a key of the demo organization Acme, answering in JSON."""
    return ["create_api_key", "--organization", "acme", "--name", name, *options, "--json"]


def new_key(manage: Callable[..., str], name: str, *options: str) -> dict:
    """A key of the demo organization Acme made by `create_api_key`; its 201 body, secret included."""
    return json.loads(manage(*new_key_command(name, *options)))
