"""`pepr export-model`, `pepr predict`, `pepr datasets --show` and `pepr runs --show`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from issue13_helpers import SHARED_NPZ, make_run, save_test_pngs, torch_probs

from pepr_desktop.cli import main
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.evaluation import evaluate_predictions


@pytest.fixture
def db(tmp_path: Path):
    """A database with one finished run (a real checkpoint) and its per-class evaluation."""
    path = tmp_path / "p.sqlite"
    with Store(path) as store:
        run_id, net = make_run(store)
        probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
        ev = evaluate_predictions(probs, np.array([0, 1, 1, 1]), ["normal", "pneumonia"])
        store.update_run(run_id, evaluation=ev)
    return path, run_id, net


def test_predict_table_and_json(db, tmp_path, capsys) -> None:
    if not SHARED_NPZ.is_file():
        pytest.skip(f"no shared data: {SHARED_NPZ}")
    path, run_id, net = db
    pngs, arrays = save_test_pngs(tmp_path / "imgs", 3)
    assert main(["--db", str(path), "predict", str(run_id), *map(str, pngs), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["class_names"] == ["normal", "pneumonia"]
    got = [
        [p["probabilities"]["normal"], p["probabilities"]["pneumonia"]] for p in out["predictions"]
    ]
    np.testing.assert_allclose(got, torch_probs(net, arrays), atol=1e-6)
    assert main(["--db", str(path), "predict", str(run_id), str(tmp_path / "imgs")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["image", "predicted", "confidence"] and len(table) == 2 + 3


def test_bad_image_exits_2_with_one_line(db, tmp_path, capsys) -> None:
    path, run_id, _ = db
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    assert main(["--db", str(path), "predict", str(run_id), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.png is not a readable image" in err
    assert main(["--db", str(path), "predict", "99", str(bad)]) == 2
    assert "no run with id 99" in capsys.readouterr().err


def test_export_model_cli(db, tmp_path, capsys) -> None:
    path, run_id, _ = db
    out = tmp_path / "model.safetensors"
    rc = main(
        ["--db", str(path), "export-model", str(run_id), "--format", "safetensors", "-o", str(out)]
    )
    assert rc == 0 and out.is_file()
    side = json.loads((tmp_path / "model.safetensors.json").read_text())
    assert side["run_id"] == run_id and side["format"] == "safetensors"
    rc = main(
        ["--db", str(path), "export-model", str(run_id), "-o", str(tmp_path / "x" / "m.onnx")]
    )
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_runs_show_prints_per_class_and_confusion(db, capsys) -> None:
    path, run_id, _ = db
    assert main(["--db", str(path), "runs", "--show", str(run_id)]) == 0
    out = capsys.readouterr().out
    assert "per class, test split (4 images)" in out
    # normal: 1 tp, 1 fp -> precision 0.5, recall 1.0; pneumonia: recall 2/3
    assert any(line.split()[:3] == ["normal", "0.500", "1.000"] for line in out.splitlines())
    assert any(
        line.split()[:4] == ["pneumonia", "1.000", "0.667", "0.800"] for line in out.splitlines()
    )
    assert any(line.split() == ["pneumonia", "1", "2"] for line in out.splitlines())  # a matrix row
    assert "ROC AUC (pneumonia as positive): 1.000" in out
    assert main(["--db", str(path), "runs", "--show", str(run_id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["evaluation"]["confusion"] == [[1, 0], [1, 2]]


def test_datasets_show(pneumonia_npz, tmp_path, capsys) -> None:
    db = str(tmp_path / "d.sqlite")
    assert (
        main(
            [
                "--db",
                db,
                "import-data",
                str(pneumonia_npz),
                "--name",
                "pneu",
                "--classes",
                "normal,pneumonia",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["--db", db, "datasets", "--show", "pneu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("pneu: 2 classes, 1 channel(s), 28x28 px, 5030 images")
    assert ["normal", "388", "135", "234"] in [line.split() for line in out]
    assert ["pneumonia", "3494", "389", "390"] in [line.split() for line in out]
    assert any(line.startswith("warning: imbalanced") for line in out)
    assert main(["--db", db, "datasets", "--show", "pneu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["train"] == [388, 3494]
    assert main(["--db", db, "datasets", "--show", "nosuch"]) == 2
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
