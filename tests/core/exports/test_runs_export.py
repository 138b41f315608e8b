"""core/exports/runs.py: strict JSON, atomic writes, one-line errors."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.exports.runs import write_runs
from pepr_desktop.core.store import Store


def seed_runs(store: Store) -> None:
    a = store.create_run(model="m", dataset="d", config={"lr": 0.1}, status="finished")
    store.update_run(a, test_acc=0.9, energy_j=float("nan"))
    store.create_run(model="n", dataset="d")


def test_json_is_strict(store: Store, tmp_path: Path) -> None:
    seed_runs(store)
    out = tmp_path / "runs.json"
    write_runs(out, store.runs(), "json")
    data = json.loads(out.read_text())  # strict: NaN would not parse back as a number
    assert data[0]["energy_j"] is None and not any(
        isinstance(v, float) and math.isnan(v) for v in data[0].values()
    )


def test_a_failed_write_leaves_nothing(store: Store, tmp_path: Path, monkeypatch) -> None:
    seed_runs(store)
    out = tmp_path / "runs.csv"

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pepr_desktop.core.exports.runs._write_csv", full)
    with pytest.raises(UserError, match="No space left"):
        write_runs(out, store.runs(), "csv")
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.name != "runs.csv"]
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder"):
        write_runs(tmp_path, [], "csv")
    with pytest.raises(UserError, match="does not exist"):
        write_runs(tmp_path / "no" / "x.csv", [], "csv")


def test_times_are_iso_and_columns_name_their_units(store: Store, tmp_path: Path) -> None:
    import csv
    from datetime import datetime

    from pepr_desktop.core.exports.runs import export_name

    seed_runs(store)
    store.update_run(1, carbon_intensity=480.6)
    stored = store.runs()
    out = tmp_path / "runs.csv"
    write_runs(out, stored, "csv")
    rows = list(csv.DictReader(out.open()))
    assert "carbon_intensity" not in rows[0] and rows[0]["carbon_intensity_g_per_kwh"] == "480.6"
    assert export_name("energy_j") == "energy_j" and "co2_g" in rows[0]
    for row, run in zip(rows, stored):
        for col in ("created_at", "updated_at"):
            when = datetime.fromisoformat(row[col])
            assert when.utcoffset() is not None  # the offset is written
            assert when.timestamp() == pytest.approx(run[col], abs=0.001)
    write_runs(tmp_path / "runs.json", stored, "json")
    data = json.loads((tmp_path / "runs.json").read_text())
    assert datetime.fromisoformat(data[0]["created_at"]).timestamp() == pytest.approx(
        stored[0]["created_at"], abs=0.001
    )
    assert data[0]["carbon_intensity_g_per_kwh"] == 480.6 and "carbon_intensity" not in data[0]
