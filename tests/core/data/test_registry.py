"""Listing and resolving datasets read MedMNIST's vendored metadata: no medmnist, no torch (the
`pepr datasets` start-up: 3.9 s and 776 MB with `from medmnist import INFO`, see issue 20)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pepr_desktop.core.data import registry

# medmnist and torch made unimportable (None in sys.modules), whether installed or not
BLOCK = "import sys\nfor m in ('medmnist', 'torch', 'sklearn', 'timm'): sys.modules[m] = None\n"


def _run(code: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PEPR_DB": str(tmp / "p.sqlite"),
        "PEPR_CACHE": str(tmp / "cache"),
        "PEPR_LOG_DIR": str(tmp),
        "PEPR_CONFIG": str(tmp / "config.toml"),
        "HOME": str(tmp),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_pepr_datasets_needs_neither_medmnist_nor_torch(tmp_path: Path) -> None:
    code = (
        "from pepr_desktop.cli import main\nrc = main(['datasets'])\n"
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec (the parent's, torch and all)
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
        "print('peak_kb', hwm[0].split()[1])\nsys.exit(rc)\n"
    )
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    names = {ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}
    assert {"pneumoniamnist", "dermamnist", "sample"} <= names
    peak_mb = int(out.stdout.rsplit("peak_kb", 1)[1]) / 1024
    assert peak_mb < 200, f"`pepr datasets` peaked at {peak_mb:.0f} MB"


def test_resolving_a_medmnist_name_needs_no_medmnist(tmp_path: Path) -> None:
    code = (
        "import os\nfrom pepr_desktop.core.data.registry import resolve\n"
        "from pepr_desktop.core.store import Store\n"
        "info = resolve('dermamnist_64', Store(os.environ['PEPR_DB']))\n"
        "print(info.name, info.n_classes, info.channels, info.image_size, info.path)\n"
    )
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["dermamnist_64", "7", "3", "64", "None"]


def test_list_datasets_names_every_2d_set_once(store) -> None:
    infos = registry.list_datasets(store)
    medmnist = [i.name for i in infos if i.source == "medmnist"]
    assert len(medmnist) == len(set(medmnist)) >= 10
    assert all(i.image_size == 28 and i.split_sizes for i in infos if i.source == "medmnist")
    assert [i.name for i in registry.list_datasets(store, include_medmnist=False)] == ["sample"]
