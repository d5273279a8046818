"""Import rules for core/ and dashboard/, read from the source with `ast` (nothing imported).

- No import cycles, counting imports inside functions and under `if TYPE_CHECKING:` too:
  a function-level import only hides a cycle from Python's import machinery, and a
  type-only import still ties one module's design to the other's; they still need each other.
- core/ never imports streamlit (it is the engine behind the CLI and the app alike).
- core/'s packages are layers (CORE_LAYERS): a module imports only its own package and the
  layers below it, inside functions too.
- A dashboard view never imports another view (shared pieces live beside the views).

Edges: `import a.b.c` is an edge to the module a.b.c (to a/b/c/__init__.py when it is a
package); `from pkg import name` is an edge to pkg.name when that is a module, else to pkg.
Parent packages that Python also runs on the way are not edges: otherwise every package
whose __init__ re-exports its submodules would look cyclic. A submodule that imports its
own package (`from core.heads import X`) is an edge to the __init__, and can be a cycle.
Imports under `if TYPE_CHECKING:` count for cycles only: they never run, so the other
rules, which are about what runs, skip them.
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


def _import_nodes(tree: ast.AST, *, type_checking: bool = False):
    """Every Import/ImportFrom in the tree, at any depth; under `if TYPE_CHECKING:` only
    when `type_checking`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported_names(module: str, path: Path, *, type_checking: bool = False) -> set[str]:
    """The absolute dotted names `module` imports: `import a.b` gives a.b, `from pkg import
    name` gives pkg.name when that is a module of ours, else pkg (`type_checking`: also
    those under `if TYPE_CHECKING:`)."""
    modules = _modules()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_nodes(tree, type_checking=type_checking):
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


@functools.lru_cache(maxsize=2)  # read once per kind for the tests below (they only read it)
def _graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    """module → the modules of ours it imports (`type_checking`: also for annotations only)."""
    modules = _modules()
    return {module: (_imported_names(module, path, type_checking=type_checking)
                     & set(modules)) - {module}
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
    found = [ast.unparse(node) for node in _import_nodes(tree, type_checking=True)]
    assert sorted(found) == ["from .b import c", "import x.y", "import z"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [(["a", "b", "c", "a"], ["a", "b", "c"])]


def test_no_import_cycles():
    cycles = _cycles(_graph(type_checking=True))
    assert not cycles, ("import cycles (imports inside functions and under TYPE_CHECKING "
                        "count):\n") + "\n".join(
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


# The dashboard's layers, lowest first. A module imports only its own layer and the ones
# below, also inside functions:
# - state: session-state keys and bookkeeping (only streamlit);
# - services: the memoised, session-aware calls into core; they draw nothing, and report
#   progress through what the ui layer passes in (dashboard/services/report.py);
# - ui: widgets shared by the views (sidebar, galleries, progress, head history, figures);
#   they know no view, so a "Go to …" button is given its view's title by the caller;
# - pages: THE list of views; it loads a view by its module name when the page runs, so
#   views can name each other's titles (pages.TRAIN.title) without a cycle;
# - views: one per page; app.py on top puts the page together.
DASHBOARD_LAYERS = (("dashboard.state",), ("dashboard.services",), ("dashboard.ui",),
                    ("dashboard.pages",), ("dashboard.views",), ("dashboard.app",))
MAX_LINES = 400  # any dashboard module (a module past it holds two concerns)
MAX_VIEW_LINES = 500  # a view: one page, drawn top to bottom
# what a service may use of streamlit: caches and state, nothing drawn
SERVICE_STREAMLIT = {"cache_resource", "cache_data", "session_state", "query_params"}


def _dashboard_layer(module: str) -> int | None:
    for layer, prefixes in enumerate(DASHBOARD_LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return layer
    return None


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every edge of `graph` from a dashboard layer to a higher one."""
    found = []
    for module, targets in sorted(graph.items()):
        layer = _dashboard_layer(module)
        if layer is None:
            continue
        found += [f"{module} ({DASHBOARD_LAYERS[layer][0]}) imports {target} "
                  f"({DASHBOARD_LAYERS[_dashboard_layer(target)][0]})"
                  for target in sorted(targets) if (_dashboard_layer(target) or 0) > layer]
    return found


def test_dashboard_imports_only_down_its_layers():
    upward = _upward(_graph())
    assert not upward, "dashboard imports going up a layer:\n" + "\n".join(upward)


def test_dashboard_layer_checker_sees_upward_imports():
    graph = {"dashboard.services.heads": {"dashboard.state.results", "core.heads"},
             "dashboard.ui.components": {"dashboard.pages", "dashboard.services.memo"},
             "dashboard.views.train": {"dashboard.pages", "dashboard.ui.training"},
             "dashboard.state": {"dashboard.views.train"}, "core.heads": {"dashboard.app"}}
    assert _upward(graph) == [
        "dashboard.state (dashboard.state) imports dashboard.views.train (dashboard.views)",
        "dashboard.ui.components (dashboard.ui) imports dashboard.pages (dashboard.pages)"]


def test_services_draw_nothing():
    drawing = {}
    for module, path in _modules().items():
        if not module.startswith("dashboard.services"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name) and node.value.id == "st"}
        if used - SERVICE_STREAMLIT:
            drawing[module] = sorted(used - SERVICE_STREAMLIT)
    assert not drawing, f"services using streamlit beyond caches and state: {drawing}"


def test_dashboard_modules_stay_short():
    long = {}
    for module, path in _modules().items():
        if not module.startswith("dashboard"):
            continue
        limit = MAX_VIEW_LINES if module.startswith("dashboard.views.") else MAX_LINES
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            long[module] = f"{lines} lines (at most {limit})"
    assert not long, f"dashboard modules too long: {long}"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_no_test_module_imports_another() -> None:
    """Shared helpers and fixtures live in tests/support/ and conftest.py: a test module that
    imports another runs (and couples to) that module's tests' set-up."""
    offenders = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _import_nodes(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            offenders += [f"{path.name} imports {name}" for name in names
                          if name.startswith("tests.test_")]
    assert not offenders, offenders
