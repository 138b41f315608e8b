"""Shared fixtures: real data from ../shared/data, isolated databases and caches per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One torch thread in tests (and in the subprocesses they start): the models and batches are tiny,
# so threads gain little, and on a shared 2-core machine spinning threads cost 10-50x.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PNEUMONIA_NPZ = SHARED_DATA / "pneumoniamnist_28.npz"
PAPER_CSV = SHARED_DATA / "pepr_paper" / "all_results.csv"
TINY_MODEL = "mobilenetv3_small_050"


@pytest.fixture(autouse=True)
def _isolated_user_files(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """No test touches the real user data dir or cache."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("PEPR_DB", str(base / "default.sqlite"))
    monkeypatch.setenv("PEPR_CACHE", str(base / "cache"))
    monkeypatch.setenv("PEPR_LOG_DIR", str(base / "logs"))
    monkeypatch.setenv("PEPR_CONFIG", str(base / "config.toml"))  # the settings file
    for name in ("REGION", "PUE", "CARBON_INTENSITY", "CPU_WATTS", "DEVICE"):
        monkeypatch.delenv(f"PEPR_{name}", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:
        pass


@pytest.fixture
def pneumonia_npz() -> Path:
    if not PNEUMONIA_NPZ.is_file():
        pytest.skip(f"real data not available: {PNEUMONIA_NPZ}")
    return PNEUMONIA_NPZ


@pytest.fixture
def store(tmp_path: Path):
    from pepr_desktop.core.store import Store

    s = Store(tmp_path / "pepr.sqlite")
    yield s
    s.close()


@pytest.fixture
def info():
    """A PneumoniaMNIST-like imported dataset's description (no file): recommender and prior tests."""
    from pepr_desktop.core.data.sources import DatasetInfo

    return DatasetInfo(
        name="pneu",
        source="imported",
        path=None,
        n_classes=2,
        channels=1,
        image_size=28,
        task="binary",
        class_names=["normal", "pneumonia"],
        split_sizes={"train": 3200, "val": 400, "test": 400},
    )


def open_descriptors(prefix: Path) -> list[str]:
    """Files this process holds open whose path starts with `prefix` (Linux /proc)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(prefix)):
            held.append(target)
    return held


def damage_a_middle_page(path: Path, table: str = "samples", page_size: int = 4096) -> None:
    """Overwrite the second leaf page of `table` in a closed database file: the file still
    opens, reading that table fails ("malformed")."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    page = conn.execute(
        "SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' ORDER BY path", [table]
    ).fetchall()[1][0]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(b"\xff" * page_size)


def write_npz(
    path: Path, sizes: tuple[int, int, int], side: int, classes: int = 2, seed: int = 0
) -> Path:
    """A MedMNIST-layout .npz of random uint8 images, labels cycling 0..classes-1 per split."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), sizes):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, side, side), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


# Under `pytest -n 2 --dist loadgroup` (make test) the modules of one group run on one worker, one
# after another: Ray's local clusters share ports and session folders, and the crash matrix mounts
# small disks and times its kills. Different groups, and every other test, run side by side.
SERIAL_GROUPS = {
    "ray": (
        "tests/gui/test_ray_queue.py",
        "tests/cli/test_fast_path_flags.py",
        "tests/cli/test_sweep_cmds.py",
        "tests/cli/test_sweep_concurrency.py",
        "tests/core/search/auto/test_auto_runs.py",
        "tests/core/sweeps/test_ray_two_nodes.py",
        "tests/core/sweeps/test_sweep.py",
    ),
    "crash": ("tests/core/test_crash_safety.py", "tests/gui/test_dialog_locks.py"),
}


def _group_of(item: pytest.Item) -> str | None:
    path = Path(str(item.fspath)).as_posix()
    for group, files in SERIAL_GROUPS.items():
        if any(path.endswith(f) for f in files):
            return group
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Serial groups for pytest-xdist (above). Tests marked `gpu` skip where CUDA is absent (CI,
    the CPU machines): only the GPU check's `pytest -m gpu` on a lent GPU runs them."""
    for item in items:
        group = _group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    gpu_items = [i for i in items if i.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        skip = pytest.mark.skip(reason="needs CUDA")
        for item in gpu_items:
            item.add_marker(skip)
