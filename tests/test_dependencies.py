"""Every third-party import is declared in pyproject.toml, and every dependency is used.

Imports are read with `ast` (nothing is imported) and mapped module -> distribution with
importlib.metadata.packages_distributions(). The rules:

- pepr_desktop imports only from `dependencies`, or from an extra when every such import is
  lazy (inside a function or a try block), so the app runs without the extra until it is used;
- tests, benchmarks and packaging may also import what the extras declare, and anything at all
  inside a try block (an optional cross-check that runs only when its library is installed);
- every entry of `dependencies` is imported somewhere in pepr_desktop, so nothing is installed
  that nothing uses.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req.strip()).group(0))


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@dataclass(frozen=True)
class Use:
    module: str  # top-level module name
    where: str  # file:line
    lazy: bool  # inside a function or a try block
    guarded: bool  # inside a try block


def _uses(path: Path, root: Path = ROOT) -> list[Use]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[Use] = []

    def visit(node: ast.AST, lazy: bool, guarded: bool) -> None:
        for child in ast.iter_child_nodes(node):
            in_try = guarded or isinstance(child, ast.Try)
            inner = in_try or lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for n in names:
                where = f"{path.relative_to(root)}:{child.lineno}"
                out.append(Use(n.split(".")[0], where, lazy, guarded))
            visit(child, inner, in_try)

    visit(tree, False, False)
    return out


def _third_party(paths: list[Path]) -> list[Use]:
    # the project's own: the package, the test and tool folders, and their helper modules
    local = {"pepr_desktop", "tests", "benchmarks", "packaging"}
    local |= {
        p.stem for f in ("tests", "benchmarks", "packaging") for p in (ROOT / f).rglob("*.py")
    }
    return [
        u
        for p in paths
        for u in _uses(p)
        if u.module not in sys.stdlib_module_names and u.module not in local
    ]


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return md.packages_distributions()  # reads every installed RECORD: once per session


# Modules of an extra that is not installed here, whose distribution has another name.
NOT_INSTALLED_ALIASES = {"mlflow": "mlflow-skinny"}


def _distributions(module: str) -> set[str]:
    """The distributions that provide a top-level module; a module that nothing installed here
    provides counts as the distribution of the same name, or of its alias (an extra not
    installed here)."""
    found = _packages_distributions().get(module)
    if found:
        return {_norm(d) for d in found}
    return {_norm(NOT_INSTALLED_ALIASES.get(module, module))}


def _files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_app_imports_only_declared_distributions() -> None:
    project = _project()
    required = {_req_name(r) for r in project["dependencies"]}
    extras = {_req_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    problems = []
    for use in _third_party(_files("pepr_desktop")):
        dists = _distributions(use.module)
        if dists & required:
            continue
        if dists & extras and use.lazy:
            continue
        what = "an extra's module imported eagerly" if dists & extras else "not declared"
        problems.append(f"{use.where}: {use.module} ({'/'.join(sorted(dists))}): {what}")
    assert problems == [], "declare these in pyproject.toml [project] dependencies:\n" + "\n".join(
        problems
    )


def test_tests_and_tools_import_only_declared_distributions() -> None:
    project = _project()
    declared = {_req_name(r) for r in project["dependencies"]}
    declared |= {_req_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    declared |= {"pyinstaller"}  # the spec's own `PyInstaller` (packaging extra)
    problems = [
        f"{u.where}: {u.module}"
        for u in _third_party(_files("tests", "benchmarks", "packaging"))
        if not _distributions(u.module) & declared and not u.guarded
    ]
    assert problems == [], "declare these in pyproject.toml (dev, bench or another extra):\n" + (
        "\n".join(problems)
    )


def test_every_dependency_is_used() -> None:
    imported = set()
    for use in _third_party(_files("pepr_desktop")):
        imported |= _distributions(use.module)
    unused = [name for name in map(_req_name, _project()["dependencies"]) if name not in imported]
    assert unused == [], f"nothing in pepr_desktop imports {unused}: drop them from pyproject.toml"


def test_the_checks_see_a_missing_declaration(tmp_path: Path) -> None:
    """The parser finds eager and lazy imports, and a module from no distribution maps to its
    own name (so an undeclared, uninstalled import is still reported)."""
    f = tmp_path / "m.py"
    f.write_text(
        "import os\nimport numpy as np\nfrom yaml import safe_load\n"
        "def f():\n    import onnx\ntry:\n    import ray\nexcept ImportError:\n    pass\n"
    )
    uses = {u.module: (u.lazy, u.guarded) for u in _uses(f, tmp_path)}
    assert uses == {
        "os": (False, False),
        "numpy": (False, False),
        "yaml": (False, False),
        "onnx": (True, False),
        "ray": (True, True),
    }
    assert _distributions("numpy") == {"numpy"}
    assert _distributions("no_such_module_xyz") == {"no-such-module-xyz"}


def test_medmnist_is_not_a_dependency_any_more() -> None:
    """Its metadata is vendored (resources/medmnist_info.json); the package imports torch,
    scikit-learn and pandas at import and installs pandas and scikit-image for nothing."""
    assert "medmnist" not in {_req_name(r) for r in _project()["dependencies"]}
