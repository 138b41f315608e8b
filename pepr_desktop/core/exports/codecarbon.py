"""Stored runs as CodeCarbon's `emissions.csv`: one row per run, CodeCarbon's columns in its order
and its units, so a lab's CodeCarbon notebooks and dashboards read PePR runs as they are.

Columns: `codecarbon/output_methods/emissions_data.py` (`EmissionsData`) of CodeCarbon 3.3.2.
Units as CodeCarbon writes them: duration s, emissions kg CO2eq, emissions_rate kg/s, powers W
(the run's mean), energies kWh with the PUE applied (CodeCarbon multiplies energy by the PUE),
utilisation in percent, memory in GB, timestamp local ISO time (`%Y-%m-%dT%H:%M:%S`) at the run's
end. Mapping: project_name "pepr-desktop", experiment_id the dataset, run_id the run's id.
Per-component energies come from the epochs' meter breakdown; what a run does not know (an old run,
a figure never measured, the machine of a run made elsewhere: cpu_model, os...) is left empty,
never 0; water is 0 because PePR, like CodeCarbon's default WUE, does not model it.
"""

from __future__ import annotations

import csv
import platform
import socket
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pepr_desktop.core.exports.runs import write_atomically
from pepr_desktop.core.metering.carbon import J_PER_KWH

COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions",
    "emissions_rate", "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy",
    "ram_energy", "energy_consumed", "water_consumed", "country_name", "country_iso_code",
    "region", "cloud_provider", "cloud_region", "os", "python_version", "codecarbon_version",
    "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
    "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)  # fmt: skip
PROJECT = "pepr-desktop"
COMPONENTS = {"cpu": "cpu", "gpu": "gpu", "dram": "ram"}  # our meter component -> CodeCarbon's


def write_emissions(path: Path, runs: Sequence[dict[str, Any]]) -> int:
    """Write `runs` (each with its `epochs`) as an emissions.csv; the number of rows."""
    rows = [emissions_row(r) for r in runs]

    def write(fh: Any) -> None:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)

    write_atomically(path, write)
    return len(rows)


def emissions_row(run: dict[str, Any]) -> dict[str, Any]:
    """One run (with `epochs`) as CodeCarbon's EmissionsData fields."""
    epochs = run.get("epochs") or []
    pue = run.get("pue") or 1.0
    seconds = run.get("train_time_s")
    energy = _kwh(run.get("energy_j"), pue)
    co2_kg = None if run.get("co2_g") is None else run["co2_g"] / 1000
    parts = {cc: _kwh(_component_j(epochs, ours), pue) for ours, cc in COMPONENTS.items()}
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        timestamp=_local_time(run.get("updated_at") or run.get("created_at")),
        project_name=PROJECT,
        run_id=str(run["id"]),
        experiment_id=run.get("dataset"),
        duration=seconds,
        emissions=co2_kg,
        emissions_rate=co2_kg / seconds if co2_kg is not None and seconds else None,
        energy_consumed=energy,
        water_consumed=0.0,
        cloud_provider="",
        cloud_region="",
        tracking_mode="machine",
        on_cloud="N",
        pue=pue,
        wue=0.0,
        **_where(epochs),
        **_machine(run),
        **_utilisation(epochs),
    )
    for name, kwh in parts.items():
        row[f"{name}_energy"] = kwh
        row[f"{name}_power"] = kwh * J_PER_KWH / seconds if kwh is not None and seconds else None
    return row


def _kwh(joules: float | None, pue: float) -> float | None:
    return None if joules is None else joules * pue / J_PER_KWH


def _component_j(epochs: Sequence[dict[str, Any]], component: str) -> float | None:
    """A component's energy over the run from the epochs' breakdown; None unless every epoch
    has it (a GPU component absent from every epoch is 0: no GPU was metered)."""
    values = []
    for ep in epochs:
        detail = (ep.get("extra") or {}).get("energy_detail") or {}
        parts = detail.get("components_j")
        if not isinstance(parts, dict):
            return None
        values.append(parts.get(component, 0.0))  # failed: None; never metered: absent
    if not values or any(v is None for v in values):
        return None
    return float(sum(values))


def _where(epochs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """country_name, country_iso_code and region from the carbon source the epochs were charged
    at (a row of the bundled table; a typed-in intensity or the world average name none)."""
    from pepr_desktop.core.metering.carbon import table

    source = next(((ep.get("extra") or {}).get("carbon_source") for ep in epochs), None)
    for row in table().values():
        if source != f"{row['name']}, {row['year']}, {row['source']}" or row["code"] == "WORLD":
            continue
        if row["code"].startswith("US-"):
            state = row["name"].split(": ", 1)[-1]
            return {"country_name": "United States", "country_iso_code": "USA",
                    "region": state.lower()}  # fmt: skip
        return {"country_name": row["name"], "country_iso_code": row["code"], "region": ""}
    return {"country_name": "", "country_iso_code": "", "region": ""}


def _machine(run: dict[str, Any]) -> dict[str, Any]:
    """The hardware columns: the GPU from the run; the CPU, memory and OS only for a run made on
    this machine (they are not stored with a run)."""
    device = run.get("device") or ""
    out: dict[str, Any] = {
        "gpu_count": 1 if device.startswith("cuda") else 0,
        "gpu_model": run.get("device_name") if device.startswith("cuda") else "",
    }
    if run.get("host") and run["host"] == socket.gethostname():
        import psutil

        from pepr_desktop.core.metering.cpu_tdp import this_cpu

        out.update(
            cpu_model=this_cpu().cpu_model,
            cpu_count=psutil.cpu_count(logical=True),
            ram_total_size=round(psutil.virtual_memory().total / 2**30, 3),
            os=platform.platform(),
            python_version=platform.python_version(),
        )
    return out


def _utilisation(epochs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean CPU and GPU utilisation (%) and memory in use (GB) over the epochs that recorded it."""

    def mean(key: str) -> float | None:
        vals = [((ep.get("extra") or {}).get("energy_detail") or {}).get(key) for ep in epochs]
        vals = [v for v in vals if isinstance(v, (int, float))]
        return sum(vals) / len(vals) if vals else None

    cpu = mean("cpu_util_mean")  # a fraction in the meter's breakdown
    return {
        "cpu_utilization_percent": None if cpu is None else 100 * cpu,
        "gpu_utilization_percent": mean("gpu_util_mean"),  # NVML reports percent
        "ram_used_gb": mean("mem_used_gb_peak"),
    }


def _local_time(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%S")
