"""The package's layers, kept by an AST walk of every import (README: "How it works").

A module may import its own group and the groups of lower layers, never a higher one;
two groups of one layer (``order`` and ``report``) do not import each other; ``worker``
(what runs inside each worker) imports nothing of the package but itself; and the
imports that run when a module loads form no circle. Imports under ``if TYPE_CHECKING:``
never run, so they do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
import subprocess
import sys

import pytest

import pytest_delegation


PACKAGE = Path(pytest_delegation.__file__).parent

#: group -> layer, lowest first; a module's group is its subpackage, or its own name
LAYERS = {
    "vocab": 0,
    "worker": 0,
    "plan": 1,
    "options": 2,
    "collect": 3,
    "checks": 4,
    "order": 5,
    "report": 5,
    "run": 6,
    #: CI jobs and combine: beside run, never importing it
    "ci": 6,
    "branches": 7,
    "session": 8,
    "hookspecs": 8,
    "fixtures": 9,
    "plugin": 10,
    "cli": 10,
    "__main__": 11,
    "__init__": 10,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 2:
        parts = parts[:-1]
    return ".".join(parts)


def group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported package module, line, at load time?) for every import that runs."""

    def walk(nodes: list[ast.stmt], top: bool) -> Iterator[tuple[str, int, bool]]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from walk(node.orelse, top)
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno, top
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.split(".")[: -node.level] if node.level else []
                    base = ".".join([*package, base] if base else package)
                for alias in node.names:
                    yield f"{base}.{alias.name}", node.lineno, top
                    yield base, node.lineno, top
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.AST):
                    at_load = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    yield from walk([n for n in inner if isinstance(n, ast.stmt)], at_load)
                    for handler in inner:
                        if isinstance(handler, ast.ExceptHandler):
                            yield from walk(handler.body, at_load)

    yield from walk(tree.body, True)


def package_graph() -> dict[str, list[tuple[str, int, bool]]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, list[tuple[str, int, bool]]] = {}
    for name, path in modules.items():
        found = []
        for target, line, top in imports(ast.parse(path.read_text()), name):
            if target in modules and target != name:
                found.append((target, line, top))
        graph[name] = found
    return graph


def violations(graph: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        mine = group(module)
        for target, line, _ in targets:
            theirs = group(target)
            if theirs == mine:
                continue
            where = f"{module.replace('.', '/')}.py:{line}"
            if mine == "worker":
                problems.append(f"{where}: worker/ imports {target}; it may import only worker/")
            elif theirs == "__init__":
                problems.append(f"{where}: imports the package root {target}")
            elif LAYERS[theirs] > LAYERS[mine]:
                problems.append(f"{where}: {mine} (layer {LAYERS[mine]}) imports {target} "
                                f"({theirs}, layer {LAYERS[theirs]})")  # fmt: skip
            elif LAYERS[theirs] == LAYERS[mine]:
                problems.append(f"{where}: {mine} imports {target}, a sibling layer")
    return problems


def cycles(graph: dict[str, list[tuple[str, int, bool]]]) -> list[list[str]]:
    """Circles among the imports that run at load time (depth-first search)."""
    edges = {m: sorted({t for t, _, top in ts if top}) for m, ts in graph.items()}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert {group(m) for m in package_graph()} <= set(LAYERS)


def test_imports_only_go_down() -> None:
    assert violations(package_graph()) == []


def test_no_import_circle() -> None:
    assert cycles(package_graph()) == []


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("pytest_delegation.plan.model", "pytest_delegation.run.pool", "plan (layer 1) imports"),
        ("pytest_delegation.worker.plugin", "pytest_delegation.vocab", "worker/ imports"),
        ("pytest_delegation.report.terminal", "pytest_delegation.order.search", "sibling"),
        ("pytest_delegation.checks.static", "pytest_delegation", "package root"),
    ],
)
def test_the_walk_catches_an_upward_import(module: str, target: str, expected: str) -> None:
    graph = {module: [(target, 3, True)]}
    (problem,) = violations(graph)
    assert expected in problem and problem.startswith(module.replace(".", "/") + ".py:3")


def test_the_walk_sees_nested_imports_but_not_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pytest_delegation.run import pool\n"
        "def f():\n    from pytest_delegation.report import model\n"
        "try:\n    import pytest_delegation.order.search\nexcept ImportError:\n    pass\n"
    )
    found = set(imports(ast.parse(source), "pytest_delegation.checks.x"))
    assert ("pytest_delegation.report.model", 5, False) in found
    assert ("pytest_delegation.order.search", 7, True) in found
    assert not any("run" in name for name, _, _ in found)


def test_a_circle_is_found() -> None:
    graph = {"a": [("b", 1, True)], "b": [("a", 1, True)], "c": [("a", 1, False)]}
    assert cycles(graph) == [["a", "b", "a"]]


def test_a_worker_loads_neither_the_plan_stack_nor_yaml() -> None:
    """The entry point every worker loads, and the worker plugin, stay light."""
    code = (
        "import sys, pytest_delegation.plugin, pytest_delegation.worker.plugin\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('pytest_delegation', 'yaml')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "yaml" not in loaded
    assert "pytest_delegation.plan.model" not in loaded
    assert not [
        m for m in loaded if m.startswith(("pytest_delegation.run", "pytest_delegation.report"))
    ]
