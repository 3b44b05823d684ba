"""The layering of the project's own modules, read from their source: no import cycle, arrows that
point down only, and no import hidden inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The README's "Code layout", bottom first: each package imports only the ones before it.
PACKAGES = ("paging", "accounts", "audit", "pages", "keys", "portal")

# Inside keys, the doors above the domain, bottom first: the command-line door prints the API's key
# object, so it sits above the API; the API and the portal pages sit beside each other.
KEY_DOORS = (("keys.api", "keys.web", "keys.admin"), ("keys.management",))


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


def _imports(module: str) -> tuple[set[str], list[tuple[str, int]], set[str]]:
    """(project modules imported at module level, [(function, line)] of imports inside functions,
    project modules imported for the type checker only)."""
    tree = ast.parse(MODULES[module].read_text())
    top: set[str] = set()
    deferred: list[tuple[str, int]] = []
    typing_only: set[str] = set()

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
            if type_checking:
                typing_only.update(found)
            elif found:
                if function is None:
                    top.update(found)
                else:
                    deferred.append((function, child.lineno))
            visit(child, function, type_checking)

    visit(tree, None, False)
    return top, deferred, typing_only


GRAPH = {module: _imports(module)[0] for module in MODULES}
# What the layer order is checked on: an import for the type checker only still points somewhere.
ALL_IMPORTS = {module: _imports(module)[0] | _imports(module)[2] for module in MODULES}


def _package(module: str) -> int:
    return PACKAGES.index(module.partition(".")[0])


def _key_door(module: str) -> int | None:
    """The door level of a keys module (0, 1, …), or None for the domain."""
    for level, doors in enumerate(KEY_DOORS):
        if any(module == door or module.startswith(f"{door}.") for door in doors):
            return level
    return None


def test_the_graph_is_read():
    assert "keys.services" in GRAPH and "accounts.permissions" in GRAPH["keys.services"]
    assert "keys.authentication.verification" in GRAPH["keys.services"]


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


def test_every_module_is_in_a_layer():
    assert {module.partition(".")[0] for module in MODULES} == set(PACKAGES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_packages(module):
    """paging ↓ accounts ↓ audit ↓ pages ↓ keys ↓ portal: no import up, none beside."""
    up = {t for t in ALL_IMPORTS[module] if _package(t) > _package(module)}
    assert not up, f"{module} imports {up}, above it"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("keys")))
def test_keys_domain_imports_no_door_and_doors_point_down(module):
    level = _key_door(module)
    for target in ALL_IMPORTS[module]:
        if not target.startswith("keys"):
            continue
        target_level = _key_door(target)
        if target_level is None:
            continue
        assert level is not None, f"the domain module {module} imports the door {target}"
        same_door = target.split(".")[:2] == module.split(".")[:2]
        assert same_door or target_level < level, f"the door {module} imports {target}, beside or above it"


def test_metering_does_not_ask_authentication():
    """Metering counts and limits whatever authentication let through; it never asks it."""
    for module, targets in ALL_IMPORTS.items():
        if module.startswith("keys.metering"):
            assert not {t for t in targets if t.startswith("keys.authentication")}, module


def test_no_import_hidden_in_a_function():
    """The one place an import waits for a function is an app's ready(): Django loads the apps'
    models before it calls ready(), and a module that connects signal receivers or registers a
    check imports models, so importing it from apps.py at module level would run before the
    registry is ready (AppRegistryNotReady)."""
    hidden = [
        f"{module}:{line} in {function}()"
        for module in MODULES
        for function, line in _imports(module)[1]
        if not (module.endswith(".apps") and function == "ready")
    ]
    assert not hidden, hidden
