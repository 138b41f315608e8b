"""`emissions.csv` as CodeCarbon writes it: its columns in its order, kWh and kg, ISO times."""

from __future__ import annotations

import csv
import socket
from datetime import datetime
from pathlib import Path

import pytest

from pepr_desktop.core.exports.codecarbon import COLUMNS, write_emissions
from pepr_desktop.core.metering.carbon import lookup
from pepr_desktop.core.store import Store
from tests.core.exports.export_fixtures import metered_run, with_epochs

# CodeCarbon 3.3.2's EmissionsData fields, in order (codecarbon/output_methods/emissions_data.py)
CODECARBON_3_3_2 = [
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_columns_and_units(store: Store, tmp_path: Path) -> None:
    run_id = metered_run(store, region="DE", pue=1.5)
    out = tmp_path / "emissions.csv"
    assert write_emissions(out, with_epochs(store)) == 1
    assert out.read_text().splitlines()[0].split(",") == list(COLUMNS) == CODECARBON_3_3_2
    row = _rows(out)[0]
    kwh = 1.5 * (3600 + 720 + 7200 + 720) / 3.6e6  # CodeCarbon's energies include the PUE
    assert float(row["energy_consumed"]) == pytest.approx(kwh)
    assert float(row["cpu_energy"]) == pytest.approx(1.5 * 10800 / 3.6e6)
    assert float(row["ram_energy"]) == pytest.approx(1.5 * 1440 / 3.6e6)
    assert float(row["gpu_energy"]) == 0.0 and row["gpu_count"] == "0"
    assert float(row["cpu_power"]) == pytest.approx(1.5 * 10800 / 20)  # W: mean over the run
    g_per_kwh = lookup("DE").g_per_kwh
    assert float(row["emissions"]) == pytest.approx(kwh * g_per_kwh / 1000)  # kg
    assert float(row["emissions_rate"]) == pytest.approx(float(row["emissions"]) / 20)
    assert (row["country_iso_code"], row["country_name"]) == ("DEU", "Germany")
    assert (row["run_id"], row["experiment_id"], row["duration"]) == (str(run_id), "pneu", "20.0")
    assert float(row["cpu_utilization_percent"]) == pytest.approx(62.5)
    assert (row["pue"], row["on_cloud"], row["tracking_mode"]) == ("1.5", "N", "machine")
    stamp = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%S")  # CodeCarbon's format
    assert abs(stamp.timestamp() - store.get_run(run_id)["updated_at"]) < 2
    assert store.get_run(run_id)["host"] == socket.gethostname() and row["cpu_count"]


def test_us_states_and_unmetered_runs(store: Store, tmp_path: Path) -> None:
    metered_run(store, region="US-CA", pue=1.0)
    plain = store.create_run(model="m", dataset="d", status="finished")  # --no-meter, elsewhere
    store.update_run(plain, host="another-machine")
    out = tmp_path / "e.csv"
    write_emissions(out, with_epochs(store))
    ca, bare = _rows(out)
    assert (ca["country_iso_code"], ca["country_name"], ca["region"]) == (
        "USA",
        "United States",
        "california",
    )
    for col in ("energy_consumed", "emissions", "cpu_energy", "cpu_model", "country_iso_code"):
        assert bare[col] == "", col  # unknown is empty, never 0
    assert bare["run_id"] == str(plain)
