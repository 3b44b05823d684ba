"""The TypeScript tools client developers use, against the running server (tests/clients/graphql):
graphql-codegen generates types from the served schema by introspection, and ``tsc --strict``
compiles a client written against them (REST's enums as GraphQL enums, DateTime as a string,
nullable root fields); graphql-inspector's diff finds no change between the served schema and
docs/schema.graphql, and does find one in an edited copy.

The tools are installed by ``npm ci`` in tests/clients/graphql (``.ci/run`` does it). Without node
the tests are skipped, saying so; in CI (``CI`` set) a missing install fails instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tests" / "clients" / "graphql"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the TypeScript client tools need it"
)


@pytest.fixture
def tools():
    if not (TOOLS / "node_modules").is_dir():
        message = "the GraphQL client tools are not installed: run npm ci in tests/clients/graphql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return TOOLS


@pytest.fixture
def served(transactional_db, make_key, live_server):
    """The environment the tools read: the running server's GraphQL URL and a key for it."""
    caller = make_key(name="typescript client")
    return {**os.environ, "GRAPHQL_URL": f"{live_server.url}/api/graphql", "GRAPHQL_KEY": caller.secret}


def run(tools: Path, env: dict, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NODE, *command], cwd=tools, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_codegen_types_compile_under_strict_tsc(tools, served):
    generated = run(tools, served, "node_modules/@graphql-codegen/cli/cjs/bin.js", "--config", "codegen.mjs")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    types = (tools / "generated" / "types.ts").read_text()
    assert "export type KeyRole =" in types and "'ADMIN_API'" in types
    assert "DateTime: { input: string; output: string; }" in types
    compiled = run(tools, served, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_inspector_finds_no_change_from_the_checked_in_schema(tools, served, tmp_path):
    same = run(tools, served, "diff.mjs", str(ROOT / "docs" / "schema.graphql"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout == ""
    edited = tmp_path / "schema.graphql"
    text = (ROOT / "docs" / "schema.graphql").read_text()
    edited.write_text(text.replace("  apiKey(id: ID!): ApiKey\n", "  apiKey(id: ID!): ApiKey!\n", 1))
    changed = run(tools, served, "diff.mjs", str(edited))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    [change] = [json.loads(line) for line in changed.stdout.splitlines()]
    assert change["type"] == "FIELD_TYPE_CHANGED" and "Query.apiKey" in change["message"]
