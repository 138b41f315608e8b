"""`pepr export --format codecarbon|mlflow` and what each needs."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.store import Store
from tests.core.exports.export_fixtures import metered_run


def test_codecarbon_writes_emissions_csv_here_by_default(store: Store, tmp_path, monkeypatch):
    metered_run(store)
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--db", str(store.path), "--format", "codecarbon"]) == 0
    (row,) = csv.DictReader((tmp_path / "emissions.csv").open())
    assert row["country_iso_code"] == "DEU" and float(row["energy_consumed"]) > 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["export", "--format", "csv"], "--format csv needs -o FILE"),
        (["export", "--format", "mlflow"], "needs --tracking-uri URI"),
    ],
)
def test_missing_targets_are_one_line(argv, expected, capsys, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_mlflow_not_installed_says_which_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    uri = (tmp_path / "mlruns").as_uri()
    assert main(["export", "--format", "mlflow", "--tracking-uri", uri]) == 2
    assert "pip install 'pepr-desktop[mlflow]'" in capsys.readouterr().err


def test_mlflow_export_from_the_command_line(store: Store, tmp_path: Path, capsys) -> None:
    pytest.importorskip("mlflow", reason="mlflow not installed (extra: mlflow)")
    metered_run(store)
    uri = str(tmp_path / "mlruns")  # a plain folder, as MLflow users type it
    argv = ["export", "--db", str(store.path), "--format", "mlflow", "--tracking-uri", uri]
    assert main([*argv, "--experiment", "lab"]) == 0
    assert "logged 1 run(s) to MLflow experiment 'lab'" in capsys.readouterr().err
    assert main([*argv, "--experiment", "lab"]) == 0
    assert "logged 0 run(s)" in capsys.readouterr().err and (tmp_path / "mlruns").is_dir()
