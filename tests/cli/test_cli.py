"""The `pepr` command line: the acceptance flow, JSON output, Ctrl-C, and user mistakes (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from tests.conftest import TINY_MODEL


def pepr(*args: str, db: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pepr_desktop.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_import_train_runs_json_flow(pneumonia_npz: Path, tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite"
    r = pepr("import-data", str(pneumonia_npz), "--name", "pneu", db=db)
    assert r.returncode == 0, r.stderr
    r = pepr(
        "train",
        "--data",
        "pneu",
        "--model",
        TINY_MODEL,
        "--epochs",
        "2",
        "--data-fraction",
        "0.1",
        "--no-meter",
        "--json",
        db=db,
    )
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)
    assert run["status"] == "finished" and len(run["epochs"]) == 2
    r = pepr("runs", "--json", db=db)
    runs = json.loads(r.stdout)
    assert [x["id"] for x in runs] == [run["id"]]
    for ep in runs[0]["epochs"]:
        assert ep["train_loss"] > 0 and ep["seconds"] > 0 and ep["peak_mem_mb"] > 0
        for k in ("val_acc", "val_auc", "test_acc", "test_auc"):
            assert 0 <= ep[k] <= 1
    out = tmp_path / "runs.csv"
    r = pepr("export", "-o", str(out), db=db)
    assert r.returncode == 0 and out.read_text().count("\n") == 2


def test_ctrl_c_stops_cleanly_and_keeps_epochs(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pepr_desktop.cli",
            "--db",
            str(db),
            "train",
            "--data",
            "sample",
            "--model",
            TINY_MODEL,
            "--epochs",
            "50",
            "--no-meter",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    from pepr_desktop.core.errors import StoreError
    from pepr_desktop.core.store import Store

    while time.time() < deadline:  # wait until one epoch is stored
        time.sleep(0.5)
        try:  # the file exists a moment before its tables do (the CLI is creating them)
            with Store(db, readonly=True) as store:
                runs = store.runs()
        except StoreError:
            continue
        if runs and runs[0]["epochs_done"] >= 1:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    run = Store(db).runs()[0]
    assert run["status"] == "stopped" and run["reason"] == "interrupt"
    assert run["epochs_done"] >= 1 and len(Store(db).epochs(run["id"])) == run["epochs_done"]


MISTAKES = [
    (["train", "--data", "sample", "--model", "resnet81"], "unknown model 'resnet81'"),
    (["train", "--data", "nosuch", "--model", "resnet18"], "unknown dataset 'nosuch'"),
    (["train", "--data", "sample", "--model", "resnet18", "--epochs", "0"], "--epochs"),
    (["train", "--data", "sample", "--model", "resnet18", "--lr", "nan"], "--lr"),
    (["train", "--data", "sample", "--model", "resnet18", "--batch-size", "x"], "--batch-size"),
    (
        ["train", "--data", "sample", "--model", "resnet18", "--data-fraction", "2"],
        "--data-fraction",
    ),
    (["train", "--data", "sample", "--model", "resnet18", "--device", "cuda"], "no CUDA GPU"),
    (
        ["train", "--data", "sample", "--model", "resnet18", "--weights", "/nope.pt"],
        "does not exist",
    ),
    (["import-data", "/no/such.npz", "--name", "x"], "no such file"),
    (["import-data", "pyproject.toml", "--name", "x"], "not a readable .npz"),
    (["export", "-o", "/no/such/dir/out.csv"], "does not exist"),
    (["train"], "required"),
    (["frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "expected"), MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_user_mistakes_exit_2_with_one_line(argv, expected, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    with (
        pytest.raises(SystemExit)
        if argv[0] in ("frobnicate",)
        or argv == ["train"]
        or any(a in argv for a in ("--epochs", "--lr", "--batch-size", "--data-fraction"))
        else _no_raise() as exc
    ):
        code = main(["--db", str(tmp_path / "m.sqlite"), *argv])
    if exc is not None and getattr(exc, "value", None) is not None:
        code = exc.value.code
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


class _no_raise:
    value = None

    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def test_bad_database_file_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not sqlite" * 200)
    r = pepr("runs", db=junk)
    assert r.returncode == 2 and "not a SQLite database" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_help_does_not_import_torch() -> None:
    code = "import sys; from pepr_desktop.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.strip() == "False"
