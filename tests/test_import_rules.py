"""Import direction (issue 17): the layers import downwards only, and no modules import each other.

Every module of pepr_desktop is parsed with `ast` (nothing is imported), and every import counts:
at module level, inside functions and methods, and under `if TYPE_CHECKING:`. The layers:

- pepr_desktop.core (and its metering package) imports nothing from pepr_desktop.cli or .gui;
- pepr_desktop.gui does not import pepr_desktop.cli, nor pepr_desktop.cli pepr_desktop.gui;
- there is no cycle among pepr_desktop modules, function-level imports included. Imports under
  `if TYPE_CHECKING:` are left out of the cycle check only (they never run). The graph has the
  imports as written: `from pkg.sub import x` is an edge to pkg.sub, not also to pkg, although
  Python runs pkg/__init__ first. That implicit step is the one allowance: a package whose
  `__init__` re-exports its submodules (core/metering, core/store) is fine, while a submodule
  importing from its package's `__init__` (`from pkg import name`) is an edge and would show.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pepr_desktop

PKG_DIR = Path(pepr_desktop.__file__).resolve().parent
PKG = "pepr_desktop"
CORE, CLI, GUI = f"{PKG}.core", f"{PKG}.cli", f"{PKG}.gui"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the pepr_desktop module imported (the nearest module of a dotted name)
    line: int
    in_function: bool
    type_checking: bool

    def __str__(self) -> str:
        where = "in a function" if self.in_function else "at module level"
        tc = ", under TYPE_CHECKING" if self.type_checking else ""
        return f"{self.source}:{self.line} imports {self.target} ({where}{tc})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG_DIR.rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _nearest_module(dotted: str) -> str | None:
    """The module a dotted name lives in (pepr_desktop.core.training.config.TrainConfig -> ...config)."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.package = module if _is_package(module) else module.rpartition(".")[0]
        self.found: list[Import] = []
        self.function_depth = 0
        self.type_checking_depth = 0

    def _add(self, dotted: str, line: int) -> None:
        if dotted != PKG and not dotted.startswith(PKG + "."):
            return
        target = _nearest_module(dotted)
        if target is None:
            target = dotted  # a module that does not exist; the import would fail anyway
        self.found.append(
            Import(self.module, target, line, self.function_depth > 0, self.type_checking_depth > 0)
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            where = ".".join(base + ([node.module] if node.module else []))
        else:
            where = node.module or ""
        for alias in node.names:
            sub = f"{where}.{alias.name}"
            # `from pkg import sub` imports the submodule; `from mod import name`, the module
            self._add(sub if alias.name != "*" and sub in MODULES else where, node.lineno)

    def _function(self, node: ast.AST) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking_depth += 1
            for child in node.body:
                self.visit(child)
            self.type_checking_depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)


def _imports() -> list[Import]:
    out: list[Import] = []
    for name, path in MODULES.items():
        collector = _Collector(name)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out.extend(collector.found)
    return out


IMPORTS = _imports()


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(source_pkg: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        str(i)
        for i in IMPORTS
        if _in(i.source, source_pkg) and any(_in(i.target, f) for f in forbidden)
    ]


def test_the_parser_sees_every_kind_of_import() -> None:
    """The checks below are only as good as the parse: it finds module-level, function-level
    and TYPE_CHECKING imports, absolute and relative."""
    assert {CORE, CLI, GUI, f"{CORE}.metering", f"{CORE}.training.train"} <= set(MODULES)
    edges = {(i.source, i.target, i.in_function, i.type_checking) for i in IMPORTS}
    # module level, `from pkg import submodule`
    assert (f"{CLI}.model_cmds", f"{CORE}.resources", False, False) in edges
    # inside a function (heavy imports stay out of `pepr --help`)
    assert (f"{CLI}.train_cmds", f"{CORE}.training.runner", True, False) in edges
    # under TYPE_CHECKING
    assert (f"{CLI}._common", f"{CORE}.store", False, True) in edges
    # `from X import name` counts as an import of module X
    assert (f"{CORE}.metering", f"{CORE}.errors", False, False) in edges


def test_core_imports_neither_cli_nor_gui() -> None:
    assert _violations(CORE, (CLI, GUI)) == []


def test_metering_imports_neither_cli_nor_gui() -> None:
    assert _violations(f"{CORE}.metering", (CLI, GUI)) == []


def test_gui_does_not_import_cli() -> None:
    assert _violations(GUI, (CLI,)) == []


def test_cli_does_not_import_gui() -> None:
    assert _violations(CLI, (GUI,)) == []


def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports when it runs (module level or in a function)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in IMPORTS:
        if not i.type_checking and i.target in MODULES and i.target != i.source:
            graph[i.source].add(i.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        component.append(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_counting_function_level_imports() -> None:
    cycles = _cycles(_graph())
    detail = [
        [str(i) for i in IMPORTS if i.source in c and i.target in c and not i.type_checking]
        for c in cycles
    ]
    assert cycles == [], detail


def test_known_cycles_stay_broken() -> None:
    """The two cycles issue 17 broke, by name."""
    graph = _graph()
    assert f"{CLI}.train_cmds" not in graph[f"{CLI}.model_io_cmds"]
    assert f"{CLI}.model_io_cmds" not in graph[f"{CLI}.train_cmds"]
    assert f"{CORE}.sweeps.driver" not in graph[f"{CORE}.sweeps.ray_backend"]


# The core's sub-packages in layers (docs/architecture.md): a module imports only from its own
# layer or the ones below (the longest matching prefix places a module). models/ spans two
# layers: building a model is below training, using a trained one (predict, export) above it.
CORE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "events", "paths", "resources", "budget"),
    ("data", "metering", "store", "config", "devices"),
    ("models", "training"),
    ("scoring", "search", "sweeps", "exports", "models.predict", "models.export"),
)


def _core_layer(module: str) -> int | None:
    if not module.startswith(CORE + "."):
        return None
    rest = module[len(CORE) + 1 :]
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest prefix decides
    for layer, prefixes in enumerate(CORE_LAYERS):
        for prefix in prefixes:
            if (rest == prefix or rest.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), layer)
    return None if best is None else best[1]


def test_every_core_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if m.startswith(CORE + ".") and _core_layer(m) is None]
    assert unplaced == [], "add them to CORE_LAYERS (and docs/architecture.md)"


def test_core_layers_import_downwards_only() -> None:
    upward = [
        str(i)
        for i in IMPORTS
        if not i.type_checking
        and (a := _core_layer(i.source)) is not None
        and (b := _core_layer(i.target)) is not None
        and b > a
    ]
    assert upward == []
