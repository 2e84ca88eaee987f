"""Import hygiene of the library (src/glmeval), read from its source with `ast`, nothing imported:
no import circles (imports inside functions count: they only hide a circle), no adapter
(glmeval.models.*) importing the probes, and no module using another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "glmeval"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, whether it is a package __init__)."""
    modules = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _home(name: str) -> str | None:
    """The package module that dotted `name` (a module, or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    """The imports of one module, wherever they stand (module level, functions, classes)."""

    def __init__(self, module: str, is_package: bool):
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.edges: dict[str, int] = {}  # imported package module -> first line
        self.private: list[str] = []  # readable descriptions of private-name uses
        self.aliases: dict[str, str] = {}  # local name -> package module it is bound to

    def _edge(self, target: str | None, line: int) -> None:
        if target and target != self.module:
            self.edges.setdefault(target, line)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                self._edge(_home(alias.name), node.lineno)
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:  # relative: from the package (level 1) or the ones above it
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        for alias in node.names:
            if _private(alias.name):
                self.private.append(f"line {node.lineno}: from {source} import {alias.name}")
        if source.split(".")[0] != PACKAGE:
            return
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in MODULES:  # `from glmeval.data import leakage`: the module itself
                self._edge(submodule, node.lineno)
                self.aliases[alias.asname or alias.name] = submodule
            else:
                self._edge(_home(source), node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """`module._name` where `module` names a package module (`stats._x`, `glmeval.stats._x`)."""
        chain, value = [], node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in self.aliases and _private(node.attr):
            dotted = ".".join([self.aliases[value.id], *reversed(chain)])
            if dotted in MODULES and dotted != self.module:
                self.private.append(f"line {node.lineno}: {dotted}.{node.attr}")
        self.generic_visit(node)


def _scan() -> dict[str, _Imports]:
    scans = {}
    for module, (path, is_package) in MODULES.items():
        scan = _Imports(module, is_package)
        scan.visit(ast.parse(path.read_text(), filename=str(path)))
        scans[module] = scan
    return scans


@pytest.fixture(scope="module")
def scans() -> dict[str, _Imports]:
    return _scan()


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root, edges in graph.items():
        if root in index:
            continue
        work = [(root, iter(edges))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_scan_sees_imports_at_every_level(scans):
    """Module-level, function-level and relative imports all make edges (a check of the scan)."""
    scan = _Imports("glmeval.data.x", is_package=False)
    scan.visit(
        ast.parse(
            "import glmeval.io as io\n"
            "from . import sequence\n"
            "def f():\n"
            "    from glmeval.data.tasks import load_task\n"
            "    from ..stats import _hidden\n"
            "    return io._private\n"
        )
    )
    assert set(scan.edges) == {
        "glmeval.io",
        "glmeval.data.sequence",
        "glmeval.data.tasks",
        "glmeval.stats",
    }
    assert len(scan.private) == 2
    assert len(scans) == len(MODULES) and "glmeval.models.rbp" in scans


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles(scans):
    graph = {module: scan.edges for module, scan in scans.items()}
    circles = _cycles(graph)
    described = [
        "; ".join(
            f"{a} -> {b} (line {graph[a][b]})" for a in circle for b in graph[a] if b in circle
        )
        for circle in circles
    ]
    assert not circles, "import circles:\n" + "\n".join(described)


def test_adapters_do_not_import_the_probes(scans):
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, scan in scans.items()
        if module.startswith(f"{PACKAGE}.models")
        for target, line in scan.edges.items()
        if target == f"{PACKAGE}.probes" or target.startswith(f"{PACKAGE}.probes.")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_uses_another_modules_private_names(scans):
    wrong = [f"{module}, {use}" for module, scan in scans.items() for use in scan.private]
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)
