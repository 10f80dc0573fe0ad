"""The architecture's rules, read from the source with `ast` (no import needed):

- no import cycle inside `tfcam` or inside `benchmarks`, between modules or between their
  subpackages (`tfcam.lrp` importing `tfcam.attribution` while `tfcam.attribution` imports
  `tfcam.lrp` is a cycle even when no two modules import each other); imports inside
  functions count, since a lazy import that closes a cycle only hides it;
- TensorFlow and JAX are imported only by `tfcam/backend/` (the one place that knows which
  backend runs) and the benchmark's baselines (tf-keras-vis is a TensorFlow library).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKEND_LIBRARIES = ("tensorflow", "jax", "jaxlib", "tf_keras_vis")
BACKEND_HOMES = ("tfcam/backend/", "benchmarks/baselines/")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((REPO / package).rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Import nodes, skipping `if TYPE_CHECKING:` blocks (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_names(path: Path, name: str) -> set[str]:
    """Absolute names of everything `path` (module `name`) imports, `from a import b` as
    `a.b` (a submodule, or an attribute of `a`: `import_graph` trims it to `a`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from .x import y, from .. import z
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> the package's modules it imports (the most specific module name)."""
    mods = modules(package)
    graph = {}
    for name, path in mods.items():
        targets = set()
        for imported in imported_names(path, name):
            while imported and imported not in mods:  # a.b.attr -> a.b
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def collapse(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """The graph between the package's direct children (subpackages and modules)."""
    def unit(module: str) -> str | None:
        parts = module.split(".")
        return ".".join(parts[:2]) if len(parts) > 1 else None  # the root __init__: skipped

    out: dict[str, set[str]] = {}
    for source, targets in graph.items():
        s = unit(source)
        if s is None:
            continue
        out.setdefault(s, set()).update(
            t for t in map(unit, targets) if t is not None and t != s)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(graph, component) -> str:
    members = set(component)
    return "; ".join(f"{a} -> {sorted(graph[a] & members)}" for a in component)


@pytest.mark.parametrize("package", ["tfcam", "benchmarks"])
def test_no_import_cycle_between_modules(package):
    graph = import_graph(package)
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(describe(graph, c) for c in found)


@pytest.mark.parametrize("package", ["tfcam", "benchmarks"])
def test_no_import_cycle_between_subpackages(package):
    graph = collapse(import_graph(package), package)
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_tensorflow_and_jax_are_imported_only_by_the_backend_and_the_baselines():
    offenders = []
    for package in ("tfcam", "benchmarks"):
        for name, path in modules(package).items():
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(BACKEND_HOMES):
                continue
            for imported in sorted(imported_names(path, name)):
                if imported.split(".")[0] in BACKEND_LIBRARIES:
                    offenders.append(f"{rel} imports {imported}")
    assert not offenders, (
        "backend code outside tfcam/backend/ (write it with keras.ops, or add a function "
        "to tfcam.backend): " + "; ".join(offenders))


# The checks themselves, on graphs where the answer is known.
def test_cycles_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_collapse_sees_a_cycle_between_subpackages_that_modules_do_not_have():
    graph = {"p.lrp.methods": {"p.attribution.gradients"}, "p.attribution.gradients": set(),
             "p.attribution.guided": {"p.lrp.methods"}, "p.lrp": set(), "p": {"p.lrp"}}
    assert cycles(graph) == []
    assert cycles(collapse(graph, "p")) == [["p.attribution", "p.lrp"]]


def test_imported_names_resolves_relative_and_lazy_imports(tmp_path):
    source = ("from . import rules\nfrom ..graph import trace\n"
              "def f():\n    import jax\n"
              "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tensorflow\n")
    path = tmp_path / "methods.py"
    path.write_text(source)
    names = imported_names(path, "tfcam.lrp.methods")
    assert {"tfcam.lrp.rules", "tfcam.graph.trace", "jax"} <= names
    assert "tensorflow" not in names
