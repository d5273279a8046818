"""Import rules for core/ and dashboard/, read from the source with `ast` (nothing imported).

- No import cycles, counting imports inside functions too: a function-level import only
  hides a cycle from Python's import machinery, the two modules still need each other.
- core/ never imports streamlit (it is the engine behind the CLI and the app alike).
- core/'s packages are layers (CORE_LAYERS): a module imports only its own package and the
  layers below it, inside functions too.
- A dashboard view never imports another view (shared pieces live beside the views).

Edges: `import a.b.c` is an edge to the module a.b.c (to a/b/c/__init__.py when it is a
package); `from pkg import name` is an edge to pkg.name when that is a module, else to pkg.
Parent packages that Python also runs on the way are not edges: otherwise every package
whose __init__ re-exports its submodules would look cyclic. A submodule that imports its
own package (`from core.heads import X`) is an edge to the __init__, and can be a cycle.
Imports under `if TYPE_CHECKING:` are skipped: they never run.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "dashboard")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.lru_cache(maxsize=1)
def _modules() -> dict[str, Path]:
    return {_module_name(path): path
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom in the tree, at any depth, except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported_names(module: str, path: Path) -> set[str]:
    """The absolute dotted names `module` imports: `import a.b` gives a.b, `from pkg import
    name` gives pkg.name when that is a module of ours, else pkg."""
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:  # relative: level 1 is this package, 2 its parent, ...
            parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return names


def _graph() -> dict[str, set[str]]:
    """module → the modules of ours it imports."""
    modules = _modules()
    return {module: (_imported_names(module, path) & set(modules)) - {module}
            for module, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Strongly connected components with more than one module (Tarjan): one concrete cycle
    through each, and all its members."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[tuple[list[str], list[str]]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append((_one_cycle(graph, set(component)), sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A concrete path start → … → start inside a strongly connected component."""
    start = min(component)
    previous = {start: None}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if target not in previous:
                previous[target] = node
                frontier.append(target)
    return sorted(component)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    tree = ast.parse("def f():\n    from .b import c\n    import x.y\nif TYPE_CHECKING:\n    import z\n")
    found = [ast.unparse(node) for node in _import_nodes(tree)]
    assert sorted(found) == ["from .b import c", "import x.y"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [(["a", "b", "c", "a"], ["a", "b", "c"])]


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(
        " -> ".join(cycle) + f"\n    (tangled together: {', '.join(members)})"
        for cycle, members in cycles)


def test_core_never_imports_streamlit():
    offenders = [module for module, path in _modules().items() if module.startswith("core")
                 and any(name.split(".")[0] == "streamlit" for name in _imported_names(module, path))]
    assert not offenders, f"core modules importing streamlit: {offenders}"


# core's packages, lowest first. A module imports its own package and lower layers only;
# packages sharing a layer (serving, publish) do not import each other. The order is the data
# flow: base is plumbing; a dataset is read, a backbone built, features computed from both;
# heads train on features and evaluate their predictions (core.heads.evaluation); analysis
# comes after heads because data quality asks a head for out-of-fold probabilities (label
# issues, target outliers); corrections sit between heads and analysis: they relabel and
# exclude samples of transfer values and retrain heads on them (so they need heads), and
# every analysis can then run on corrected values without knowing how they were made (label
# issues are handed to corrections as a table, so corrections import no analysis);
# fine-tuning trains a backbone and hands its classifier over as a
# head; serving and publish deliver trained heads and analyses; cli drives them all.
CORE_LAYERS = (("base",), ("datasets",), ("backbones",), ("features",), ("heads",),
               ("corrections",), ("analysis",), ("finetune",), ("serving", "publish"),
               ("cli",))
# core/__init__.py holds the version only, so any layer may import it; core/__main__.py is
# the entry point (`python -m core`), above cli
CORE_ROOT, CORE_ENTRY = "core", "core.__main__"


def _core_layer(module: str, layers=CORE_LAYERS) -> int | None:
    """The layer index of a core module (-1 the package root, len(layers) the entry point;
    None: a package no layer names)."""
    if module == CORE_ROOT:
        return -1
    if module == CORE_ENTRY:
        return len(layers)
    package = module.split(".")[1]
    return next((i for i, names in enumerate(layers) if package in names), None)


def _layer_violations(graph: dict[str, set[str]], layers=CORE_LAYERS) -> list[str]:
    """Every import of a core module that is not of its own package or a lower layer."""
    found = []
    for module, targets in sorted(graph.items()):
        if not module.startswith("core"):
            continue
        layer = _core_layer(module, layers)
        if layer is None:
            found.append(f"{module}: its package is in no layer of CORE_LAYERS")
            continue
        for target in sorted(targets):
            if not target.startswith("core"):
                found.append(f"{module} imports {target}, outside core")
                continue
            same_package = target.split(".")[:2] == module.split(".")[:2] and target != CORE_ROOT
            target_layer = _core_layer(target, layers)
            if not same_package and (target_layer is None or target_layer >= layer):
                found.append(f"{module} imports {target}: not a lower layer")
    return found


def test_the_layer_rule_flags_upward_and_sideways_imports():
    layers = (("base",), ("heads",), ("serving", "publish"))
    graph = {"core.base.a": {"core.base.b", "core"}, "core.heads.c": {"core.base.a"},
             "core.heads.d": {"core.serving.e"}, "core.serving.e": {"core.publish.f"},
             "core.publish.f": set(), "core.other.g": set(), "core.base.b": {"dashboard.x"}}
    assert _layer_violations(graph, layers) == [
        "core.base.b imports dashboard.x, outside core",
        "core.heads.d imports core.serving.e: not a lower layer",
        "core.other.g: its package is in no layer of CORE_LAYERS",
        "core.serving.e imports core.publish.f: not a lower layer"]


def test_core_imports_only_lower_layers():
    violations = _layer_violations(_graph())
    assert not violations, ("core's layers, lowest first: " + " < ".join(
        "/".join(names) for names in CORE_LAYERS) + " (imports inside functions count):\n"
        + "\n".join(violations))


def test_views_do_not_import_each_other():
    # Expected to fail until the dashboard restructuring (views sharing code through
    # modules beside them) is merged; it holds from then on.
    modules = _modules()
    offenders = {}
    for module, path in modules.items():
        if not module.startswith("dashboard.views."):
            continue
        views = sorted(name for name in _imported_names(module, path) & set(modules)
                       if name.startswith("dashboard.views.") and name != module)
        if views:
            offenders[module] = views
    assert not offenders, f"views importing other views: {offenders}"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
