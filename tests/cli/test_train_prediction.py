"""`pepr train` records the accuracy it expected, so every finished run has predicted vs actual
(issue 18) and `pepr recommend` can show how far this machine's predictions missed."""

from __future__ import annotations

from pathlib import Path

from pepr_desktop.cli import main
from pepr_desktop.core.search.predictions import past_prediction_errors, stored_prediction
from pepr_desktop.core.store.database import Store
from tests.conftest import TINY_MODEL, write_npz


def test_train_stores_its_prediction_and_the_second_run_is_predicted_from_the_first(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.sqlite"
    npz = write_npz(tmp_path / "tiny.npz", (64, 32, 32), side=32)
    assert main(["--db", str(db), "import-data", str(npz), "--name", "tiny"]) == 0
    train = ["--db", str(db), "train", "--data", "tiny", "--model", TINY_MODEL]
    train += ["--epochs", "1", "--no-meter", "--batch-size", "16"]
    assert main(train) == 0
    assert main(train) == 0
    store = Store(db)
    first, second = sorted(store.runs(), key=lambda r: r["id"])
    # nothing known before the first run: unknown, never chance level
    assert stored_prediction(first)["acc_source"] == "unknown"
    assert stored_prediction(first)["expected_acc"] is None
    # the second run is predicted from the first (the user's own history)
    pred = stored_prediction(second)
    assert pred["acc_source"] == "your runs"
    assert abs(pred["expected_acc"] - first["test_acc"]) < 1e-9
    errors = past_prediction_errors(store, dataset="tiny")
    assert (
        errors.n == 1 and abs(errors.median - abs(pred["expected_acc"] - second["test_acc"])) < 1e-9
    )
