"""Install the declared minimum versions in a venv of their own and run a smoke subset of tests.

Every `name>=X` of pyproject.toml's [project] dependencies becomes `name==V`, V the lowest
release at or above X on the package index. torch and torchvision are the exception: pip takes
its default pair (their floors cannot be fetched here: see the README's Install section).

    python3 .ci/floors.py            # build .venv-floors, run the smoke subset (minutes)
    python3 .ci/floors.py --dry-run  # print the pins and the commands only
    make floors                      # the same as the first
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOT_PINNED = {"torch", "torchvision"}
TEST_TOOLS = ["pytest", "pytest-qt", "pytest-timeout", "scikit-learn"]  # sklearn: metrics check
# Something of each dependency: data (numpy, pillow), store (sqlite-utils), metering (psutil,
# nvidia-ml-py), a tiny training run (torch, timm) and its metrics (NumPy, checked against
# scikit-learn), the search (optuna), the settings file (tomli-w), the CLI (tqdm, tabulate) and
# the GUI (PySide6, pyqtgraph).
SMOKE = [
    "tests/core/data",
    "tests/core/metering",
    "tests/core/training/test_train.py",
    "tests/core/training/test_evaluation.py",
    "tests/core/training/test_metrics.py",
    "tests/core/search/auto/test_auto.py",
    "tests/core/test_config.py",
    "tests/cli/test_cli.py",
    "tests/gui/test_app_flags.py",
    "tests/test_import_rules.py",
]
FLOOR_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9.]*)\s*(;.*)?$")


def release(v: str) -> tuple[int, ...] | None:
    """'1.24.0' -> (1, 24); None for pre-, post- and dev releases (never chosen as a floor)."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", v):
        return None
    parts = [int(p) for p in v.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def floor_pins(deps: Iterable[str], versions_of: Callable[[str], list[str]]) -> list[str]:
    """`name==V` for each `name>=X`, V the lowest release >= X, with its environment marker
    (`; python_version < '3.11'`) kept; the unpinned names as they are."""
    pins = []
    for dep in deps:
        m = FLOOR_RE.match(dep)
        if not m:
            raise ValueError(f"{dep!r}: a dependency must read 'name>=X' to be floor-tested")
        name, floor, marker = m.group(1), release(m.group(2)), m.group(3) or ""
        if name.lower() in NOT_PINNED:
            pins.append(name + marker)
            continue
        found = [(release(v), v) for v in versions_of(name)]
        above = sorted((r, v) for r, v in found if r is not None and floor and r >= floor)
        if not above:
            raise ValueError(f"no release of {name} at or above {m.group(2)}")
        pins.append(f"{name}=={above[0][1]}{marker}")
    return pins


def index_versions(python: str) -> Callable[[str], list[str]]:
    def versions_of(name: str) -> list[str]:
        out = subprocess.run(
            [python, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        line = next(ln for ln in out.splitlines() if ln.startswith("Available versions:"))
        return [v.strip() for v in line.split(":", 1)[1].split(",")]

    return versions_of


def commands(venv: Path, pins: list[str]) -> list[list[str]]:
    py = str(venv / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    return [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "torch", "torchvision"],  # first: the other pins must fit beside them
        [*pip, *pins, *TEST_TOOLS],
        [*pip, "--no-deps", "-e", str(ROOT)],
        [py, "-m", "pip", "check"],
        [py, "-m", "pip", "list", "--format=freeze"],
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SMOKE],
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-floors")
    ap.add_argument("--dry-run", action="store_true", help="print the pins and commands only")
    args = ap.parse_args(argv)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    pins = floor_pins(deps, index_versions(sys.executable))
    print("floors:", " ".join(pins))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for cmd in commands(args.venv, pins):
        print("+", " ".join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
