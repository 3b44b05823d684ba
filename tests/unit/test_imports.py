"""The layering of the project's own modules, read from their source: no import cycle, arrows that
point down only, and no import hidden inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("paging", "accounts", "audit", "keys", "portal")

# Imports inside a function, allowed because Django asks for them there: an app's ready() connects
# signal receivers and checks once the app registry is loaded.
DEFERRED_ALLOWED = {("accounts.apps", "ready"), ("audit.apps", "ready"), ("keys.apps", "ready")}

# The HTTP doors: nothing in the domain may import them.
HTTP_LAYERS = ("keys.api", "keys.web", "keys.hotpath.middleware", "audit.web", "portal")
DOMAIN = (
    "accounts.models",
    "accounts.actors",
    "accounts.permissions",
    "accounts.catalogue",
    "accounts.sessions",
    "accounts.throttling",
    "audit.models",
    "audit.services",
    "audit.selectors",
    "audit.describe",
    "keys.state",
    "keys.models",
    "keys.credentials",
    "keys.scopes",
    "keys.errors",
    "keys.refusals",
    "keys.services",
    "keys.selectors",
    "keys.filters",
    "keys.policy",
    "keys.networks",
    "keys.names",
    "keys.members",
    "keys.lineage",
    "keys.notifications",
    "keys.redaction",
    "keys.hotpath.verification",
    "keys.hotpath.ratelimit",
    "keys.hotpath.usage",
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in, or None for a third-party one."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> tuple[set[str], list[tuple[str, int]]]:
    """(project modules imported at module level, [(function, line)] of imports inside functions)."""
    tree = ast.parse(MODULES[module].read_text())
    top: set[str] = set()
    deferred: list[tuple[str, int]] = []

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            return [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        return []

    def visit(node: ast.AST, function: str | None, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name, type_checking)
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, function, True)
                continue
            found = {m for n in names(child) if (m := _resolve(n)) and m != module}
            if found and not type_checking:
                if function is None:
                    top.update(found)
                else:
                    deferred.append((function, child.lineno))
            visit(child, function, type_checking)

    visit(tree, None, False)
    return top, deferred


GRAPH = {module: _imports(module)[0] for module in MODULES}


def test_the_graph_is_read():
    assert "keys.services" in GRAPH and "accounts.permissions" in GRAPH["keys.services"]
    assert "keys.hotpath.verification" in GRAPH["keys.services"]


def test_no_import_cycle():
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                walk(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            walk(module)


def test_paging_imports_no_app():
    """Paging is below every app: the audit log and the key lists all page with it."""
    for module, targets in GRAPH.items():
        if module.startswith("paging"):
            assert not targets, module


def test_accounts_imports_no_other_app():
    for module, targets in GRAPH.items():
        if module.startswith("accounts"):
            assert not {t for t in targets if not t.startswith(("accounts", "paging"))}, module


def test_audit_domain_does_not_import_keys():
    for module, targets in GRAPH.items():
        if module.startswith("audit") and not module.startswith("audit.web"):
            assert not {t for t in targets if t.startswith("keys")}, module


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_imports_no_http_layer(module):
    assert module in GRAPH, f"{module} moved: update this list"
    bad = {t for t in GRAPH[module] if t.startswith(HTTP_LAYERS)}
    assert not bad, f"{module} imports {bad}"


def test_no_import_hidden_in_a_function():
    hidden = [
        f"{module}:{line} in {function}()"
        for module in MODULES
        for function, line in _imports(module)[1]
        if (module, function) not in DEFERRED_ALLOWED
    ]
    assert not hidden, hidden
