"""The architecture's rules, read from the source with `ast` (no import needed):

- no import cycle inside `tfcam` or inside `benchmarks`, between modules or between their
  subpackages (`tfcam.lrp` importing `tfcam.attribution` while `tfcam.attribution` imports
  `tfcam.lrp` is a cycle even when no two modules import each other); imports inside
  functions count, since a lazy import that closes a cycle only hides it;
- TensorFlow and JAX are imported only by `tfcam/backend/` (the one place that knows which
  backend runs) and the benchmark's baselines (tf-keras-vis is a TensorFlow library);
- the benchmark and the scripts use tfcam's public API only: no module or name starting
  with `_` (`tfcam._maps`, `from tfcam.metrics import _forward`, `tfcam.layer_lookup._cam_taps`),
  imported or reached as an attribute;
- the benchmark's app reaches `tfcam.metrics` only through `benchmarks.api`, the door a test
  swaps a fake in at (the report and the stand-alone scripts excepted).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKEND_LIBRARIES = ("tensorflow", "jax", "jaxlib", "tf_keras_vis")
BACKEND_HOMES = ("tfcam/backend/", "benchmarks/baselines/")
TFCAM_USERS = ("benchmarks", "scripts")   # packages held to tfcam's public API
# benchmarks' modules that may import tfcam.metrics directly: the door itself, the report (it
# reads tables, no runner), the stand-alone scripts that measure tfcam itself
METRICS_DOOR = "benchmarks/api.py"
METRICS_DIRECT = (METRICS_DOOR, "benchmarks/report/", "benchmarks/soak.py", "benchmarks/metrics_speed.py",
                  "benchmarks/scorecam_memory.py")


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


def _private(dotted: str) -> bool:
    """`tfcam.<...>` naming a module or attribute that starts with `_` (dunders aside)."""
    parts = dotted.split(".")
    return parts[0] == "tfcam" and any(p.startswith("_") and not p.endswith("__") for p in parts[1:])


def private_tfcam_uses(path: Path, name: str) -> list[str]:
    """The private tfcam names `path` imports, or reaches as attributes (`tfcam._maps.f`
    after `import tfcam`, `metrics._forward` after `from tfcam import metrics`)."""
    found = {n for n in imported_names(path, name) if _private(n)}
    tree = ast.parse(path.read_text(), str(path))
    aliases = {}  # local name -> the tfcam module or name it is bound to
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tfcam":
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or "tfcam"
        elif node.module and node.module.split(".")[0] == "tfcam" and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    inner_parts = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner_parts:  # whole chains only
            chain, inner = [], node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in aliases:
                dotted = ".".join([aliases[inner.id], *reversed(chain)])
                if _private(dotted):
                    found.add(dotted)
    return sorted(found)


def test_the_benchmark_and_scripts_use_only_tfcams_public_api():
    offenders = []
    for package in TFCAM_USERS:
        for name, path in modules(package).items():
            offenders += [f"{path.relative_to(REPO).as_posix()} uses {n}" for n in private_tfcam_uses(path, name)]
    assert not offenders, (
        "private tfcam names (a leading `_`) outside tfcam: use the public API, or ask for a "
        "public function: " + "; ".join(offenders))


def test_the_app_reaches_tfcam_metrics_only_through_its_door():
    offenders = []
    for name, path in modules("benchmarks").items():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(METRICS_DIRECT):
            continue
        offenders += [f"{rel} imports {n}" for n in sorted(imported_names(path, name))
                      if n == "tfcam.metrics" or n.startswith("tfcam.metrics.")]
    assert not offenders, ("call benchmarks.api.metrics() instead, so tests can stand a fake in: "
                           + "; ".join(offenders))


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


def test_private_tfcam_uses_are_found_in_imports_and_attributes(tmp_path):
    source = ("import tfcam\nimport tfcam.metrics as tm\nfrom tfcam import metrics, visualize\n"
              "from tfcam._maps import interpolation_matrix\nfrom tfcam.layer_lookup import _cam_taps\n"
              "def f(m):\n    from tfcam.metrics._forward import forward\n"
              "    tfcam._maps.minmax(m)\n    metrics._scoring.x\n    tm._ranks.spearman\n"
              "    return tfcam.explainable_layers(m), visualize.resize_maps, tfcam.__version__\n")
    path = tmp_path / "user.py"
    path.write_text(source)
    assert private_tfcam_uses(path, "benchmarks.user") == [
        "tfcam._maps.interpolation_matrix", "tfcam._maps.minmax", "tfcam.layer_lookup._cam_taps",
        "tfcam.metrics._forward.forward", "tfcam.metrics._ranks.spearman", "tfcam.metrics._scoring.x"]
    public = tmp_path / "public.py"
    public.write_text("import tfcam\nfrom tfcam.metrics import compiled_forward\n"
                      "tfcam.visualize.resize_maps\nx = tfcam.__version__\n")
    assert private_tfcam_uses(public, "benchmarks.public") == []
