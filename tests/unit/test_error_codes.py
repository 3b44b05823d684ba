"""Error codes live in one enum (``keys.errors.ErrorCode``): no other module spells one, read from
the source; each REST code is in the OpenAPI document, as ``ErrorDetail.code``'s enum and in the
description of the answers with its status; each code's status and GraphQL name are what the
surfaces answer with."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from keys.errors import ErrorCode, ServiceError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("paging", "accounts", "audit", "keys", "portal")
ERROR_MODULE = ROOT / "keys" / "errors.py"
SPELLINGS = {code.value for code in ErrorCode} | {code.graphql for code in ErrorCode}


def _sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path != ERROR_MODULE
    )


def _allowed(node: ast.Constant, parent: ast.AST) -> bool:
    """Where the same word names something else: a dict key or an index (``{"error": ...}``, the
    body's key; ``row["rate_limited"]``, a usage counter), and a list of names that are not all
    codes (the usage columns, the outcomes /metrics counts)."""
    if isinstance(parent, ast.Dict) and any(key is node for key in parent.keys):
        return True
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return True
    if isinstance(parent, ast.Tuple | ast.List | ast.Set):
        words = [e.value for e in parent.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return any(word not in SPELLINGS for word in words)
    return False


def bare_codes(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in SPELLINGS and not _allowed(node, parents[node])
    ]


def test_the_scan_finds_a_code_and_lets_other_words_be():
    assert bare_codes('raise ServiceError("validation_error", "No.")') == [(1, "validation_error")]
    assert bare_codes('CODE = "bad_user_input"\nif code == "not_found": pass') == [
        (1, "bad_user_input"),
        (2, "not_found"),
    ]
    assert bare_codes('{400: "forbidden"}') == [(1, "forbidden")]
    assert bare_codes('x = {"error": {"code": c}}\nrow["rate_limited"]\nF = ("calls", "rate_limited")') == []
    assert bare_codes('ALL = ("unauthorized", "rate_limited")') == [(1, "unauthorized"), (1, "rate_limited")]


def test_no_module_spells_an_error_code():
    found = [
        f"{path.relative_to(ROOT)}:{line} {code!r}"
        for path in _sources()
        for line, code in bare_codes(path.read_text())
    ]
    assert not found, "use keys.errors.ErrorCode: " + ", ".join(found)


def test_each_code_is_spelled_once():
    assert len({code.value for code in ErrorCode}) == len(ErrorCode)
    graphql = [code.graphql for code in ErrorCode]
    assert len(set(graphql)) == len(graphql)
    # A GraphQL name is never another code's REST name: a client reading both sees one meaning.
    renamed = {code.graphql for code in ErrorCode if code.graphql != code.value}
    assert not renamed & {code.value for code in ErrorCode}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "validation_error"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (413, "payload_too_large"),
        (429, "rate_limited"),
        (500, "internal_error"),
        (502, "internal_error"),
        (503, "service_unavailable"),
        (418, "error"),
    ],
)
def test_a_status_alone_is_named_by_its_general_code(status, code):
    assert ErrorCode.for_status(status) == code
    if code != "error":
        assert ErrorCode.for_status(status).status in (status, 500)


def test_a_refusal_answers_with_its_codes_status():
    assert ServiceError(ErrorCode.KEY_NOT_ACTIVE, "No.").status == 409
    assert ServiceError(ErrorCode.NOT_FOUND, "No.").status == 404
    assert ServiceError(ErrorCode.FORBIDDEN, "No.", status=404).status == 404
    with pytest.raises(ValueError):
        ServiceError("no_such_code", "No.")


def test_the_codes_only_graphql_answers_are_in_the_readme():
    """REST's codes are described in the OpenAPI document (tests/integration/test_openapi.py);
    GraphQL's own in the README's table of GraphQL errors."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("Errors are GraphQL's") :]
    table = table[: table.index("\n\n", table.index("| code |"))]
    for code in ErrorCode:
        if not code.rest:
            assert f"`{code.graphql}`" in table, code
