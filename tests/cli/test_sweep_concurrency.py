"""`pepr sweep --concurrency N`: N jobs at once on one device, their runs labelled shared; Ray
refuses it in one line."""

from __future__ import annotations

from pathlib import Path

from pepr_desktop.cli import main
from pepr_desktop.core.store import Store
from pepr_desktop.core.sweeps.concurrent import CONCURRENCY_KEY
from tests.conftest import TINY_MODEL, write_npz


def test_two_jobs_at_once_are_stored_labelled_shared(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "p.sqlite")
    data = write_npz(tmp_path / "tiny.npz", (32, 8, 8), 16)
    assert main(["--db", db, "import-data", str(data), "--name", "tiny"]) == 0
    argv = ["--db", db, "sweep", "--data", "tiny", "--models", f"{TINY_MODEL},{TINY_MODEL}"]
    assert main([*argv, "--epochs", "1", "-b", "8", "--no-meter", "--concurrency", "2"]) == 0
    with Store(Path(db)) as store:
        runs = store.runs()
        epochs = [store.epochs(r["id"]) for r in runs]
    assert len(runs) == 2 and all(r["status"] == "finished" for r in runs)
    for run, eps in zip(runs, epochs, strict=True):
        assert run["config"]["extra"][CONCURRENCY_KEY] == {"trials": 2, "energy": "shared"}
        assert eps[-1]["extra"]["energy_shared_by"] == 2


def test_ray_refuses_concurrency_in_one_line(tmp_path: Path, capsys) -> None:
    argv = ["--db", str(tmp_path / "p.sqlite"), "sweep", "--data", "t", "--models", TINY_MODEL]
    assert main([*argv, "--backend", "ray", "--concurrency", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "local backend" in err
