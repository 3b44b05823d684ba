"""What an integrator does: generate a Python client from the live OpenAPI document with
openapi-python-client, then create → get → regenerate → revoke a key through it against gunicorn.
Any warning of the generator fails the test: it means a part of the API the client cannot call."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.helpers.deployment import manage_commands, new_key_command, production_env, start_gunicorn

PACKAGE = "api_key_portal_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("generated-client")
    # No verification cache: a revoked key is refused at once by both workers (with it, within 1 s).
    env = production_env(f"sqlite:///{work / 'db.sqlite3'}", "generated-client", KEY_CACHE_TTL_SECONDS="0")
    scopes = ("--scope", "api-keys:read", "--scope", "api-keys:write")
    outputs = manage_commands(env)(
        ["migrate", "--noinput", "-v0"], ["seed_demo", "--no-keys"], new_key_command("integrator", *scopes)
    )
    process, url = start_gunicorn(env)
    yield url, json.loads(outputs[-1])["key"]
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)


@pytest.fixture(scope="module")
def generated(server, tmp_path_factory):
    """The client package, generated from the document the server serves, and imported."""
    work = tmp_path_factory.mktemp("client")
    with urllib.request.urlopen(server[0] + "/api/v1/openapi.json", timeout=10) as response:
        document = json.load(response)
    (work / "openapi.json").write_text(json.dumps(document))
    environment = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    generate = ["generate", "--path", str(work / "openapi.json"), "--output-path", str(work / PACKAGE)]
    result = subprocess.run(
        [str(GENERATOR), *generate, "--meta", "none"],
        capture_output=True,
        text=True,
        env=environment,  # its post-generation hooks run ruff, from this virtualenv
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output
    sys.path.insert(0, str(work))
    try:
        yield document, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_generated_modules_read_like_the_api(generated):
    api_keys = importlib.import_module(f"{PACKAGE}.api.api_keys")
    modules = {p.stem for p in Path(api_keys.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert modules == {
        "list_api_keys",
        "create_api_key",
        "get_api_key",
        "get_api_key_usage",
        "list_api_key_requests",
        "regenerate_api_key",
        "revoke_api_key",
        "disable_api_key",
        "enable_api_key",
        "look_up_api_key",
    }
    for module in (
        "current_key.get_current_api_key",
        "current_key.list_scopes",
        "verification.verify_api_key",
        "secret_scanning.report_leaked_secrets_git_hub",
    ):
        importlib.import_module(f"{PACKAGE}.api.{module}")
    models = importlib.import_module(f"{PACKAGE}.models")
    assert [s.value for s in models.KeyStatus] == ["active", "disabled", "expired", "revoked"]
    assert hasattr(models, "RegenerateKeyIn") and hasattr(models, "KeyRole")


def test_create_get_regenerate_revoke_through_the_generated_client(generated, server):
    document, _ = generated
    _, secret = server
    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    calls = {
        name: importlib.import_module(f"{PACKAGE}.api.api_keys.{name}")
        for name in ("create_api_key", "get_api_key", "regenerate_api_key", "revoke_api_key", "list_api_keys")
    }
    current = importlib.import_module(f"{PACKAGE}.api.current_key.get_current_api_key")
    base_url = document["servers"][0]["url"]  # the address the document says it is served from
    integrator = client_module.AuthenticatedClient(base_url=base_url, token=secret)

    created = calls["create_api_key"].sync(
        client=integrator,
        body=models.CreateKeyIn(name="made by a generated client", scopes=["api-keys:read"]),
    )
    assert isinstance(created, models.IssuedKeyOut), created
    assert isinstance(created.id, uuid.UUID) and created.status is models.KeyStatus.ACTIVE
    assert created.role is models.KeyRole.ADVANCED_ADMIN and created.key.startswith("sk_")

    fetched = calls["get_api_key"].sync_detailed(created.id, client=integrator)
    assert fetched.status_code == 200 and fetched.parsed.id == created.id
    assert fetched.parsed.created_at == created.created_at
    assert int(fetched.headers["RateLimit-Remaining"]) >= 0

    listed = calls["list_api_keys"].sync(client=integrator, status=models.KeyStatus.ACTIVE, limit=100)
    assert created.id in {key.id for key in listed.data}

    regenerated = calls["regenerate_api_key"].sync(
        created.id, client=integrator, body=models.RegenerateKeyIn(grace_period_seconds=60)
    )
    assert isinstance(regenerated, models.IssuedKeyOut) and regenerated.key != created.key
    for new_or_old in (regenerated.key, created.key):  # the old one works through its grace period
        own = current.sync(client=client_module.AuthenticatedClient(base_url=base_url, token=new_or_old))
        assert own.id == created.id and own.rate_limit.limit > 0

    revoked = calls["revoke_api_key"].sync_detailed(created.id, client=integrator)
    assert revoked.status_code == 204
    assert calls["get_api_key"].sync(created.id, client=integrator).status is models.KeyStatus.REVOKED
    refused = current.sync(client=client_module.AuthenticatedClient(base_url=base_url, token=regenerated.key))
    assert isinstance(refused, models.ErrorOut) and refused.error.code == "unauthorized"

    missing = calls["get_api_key"].sync(uuid.uuid4(), client=integrator)
    assert isinstance(missing, models.ErrorOut) and missing.error.code == "not_found"
