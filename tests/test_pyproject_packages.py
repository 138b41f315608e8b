"""Every package of pepr_desktop ships in the wheel: pyproject.toml lists packages by hand (the
resources folder is mapped in), so a new sub-package that is not listed would be missing from
an installed app while an editable checkout still works."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "pepr_desktop").rglob("__init__.py")
    }
    assert found - listed == set()
