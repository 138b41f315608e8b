"""Runs to MLflow, against a local file store: params, per-epoch metrics by step, energy as
metrics, status and times; a second export adds nothing. Skipped without mlflow (extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.store import Store
from tests.core.exports.export_fixtures import metered_run, with_epochs

mlflow = pytest.importorskip("mlflow", reason="mlflow not installed (extra: mlflow)")


def test_runs_land_in_a_file_store_with_epochs_by_step(store: Store, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from pepr_desktop.core.exports.mlflow import export_runs

    run_id = metered_run(store)
    store.create_run(model="m", dataset="d")  # still running: not exported yet
    uri = (tmp_path / "mlruns").as_uri()
    done = export_runs(uri, with_epochs(store), "db-a", "lab")
    assert (done.logged, done.skipped, done.running) == (1, 0, 1)
    client = MlflowClient(tracking_uri=uri)
    (ml,) = client.search_runs([done.experiment_id])
    assert ml.info.status == "FINISHED" and ml.data.tags["pepr.run_id"] == str(run_id)
    stored = store.get_run(run_id)
    assert ml.info.start_time == int(stored["created_at"] * 1000)
    assert ml.info.end_time == int(stored["updated_at"] * 1000)
    p = ml.data.params
    assert (p["model"], p["dataset"], p["lr"], p["epochs"], p["pue"]) == (
        "resnet18",
        "pneu",
        "0.0005",
        "2",
        "1.5",
    )
    assert float(p["carbon_intensity_g_per_kwh"]) == pytest.approx(stored["carbon_intensity"])
    acc = client.get_metric_history(ml.info.run_id, "val_acc")
    assert [(m.step, round(m.value, 6)) for m in acc] == [(0, 0.7), (1, 0.8)]
    energy = client.get_metric_history(ml.info.run_id, "epoch_energy_kwh")
    assert [m.value for m in energy] == pytest.approx([4320 / 3.6e6, 7920 / 3.6e6])
    m = ml.data.metrics
    assert m["energy_kwh"] == pytest.approx(stored["energy_j"] / 3.6e6)
    assert m["co2eq_kg"] == pytest.approx(stored["co2_g"] / 1000)
    assert m["energy_so_far_kwh"] == pytest.approx(m["energy_kwh"])
    assert m["train_time_s"] == 20.0
    again = export_runs(uri, with_epochs(store), "db-a", "lab")
    assert (again.logged, again.skipped) == (0, 1) and len(
        client.search_runs([done.experiment_id])
    ) == 1


def test_an_unusable_uri_is_one_line(store: Store) -> None:
    from pepr_desktop.core.exports.mlflow import export_runs

    with pytest.raises(UserError, match="MLflow at nosuch://x cannot be used"):
        export_runs("nosuch://x", with_epochs(store), "db")
