"""A stored run with metered epochs (per-component energy, carbon source), for the export tests."""

from __future__ import annotations

from typing import Any

from pepr_desktop.core.metering.carbon import lookup
from pepr_desktop.core.store import Store

EPOCH_J = ({"cpu": 3600.0, "dram": 720.0}, {"cpu": 7200.0, "dram": 720.0})


def metered_run(store: Store, region: str = "DE", pue: float = 1.5) -> int:
    """A finished 2-epoch CPU run charged at `region`'s intensity with `pue`."""
    carbon = lookup(region)
    run = store.create_run(
        model="resnet18",
        dataset="pneu",
        device="cpu",
        config={"model": "resnet18", "dataset": "pneu", "lr": 0.0005, "epochs": 2, "seed": 0},
    )
    total = 0.0
    for epoch, parts in enumerate(EPOCH_J):
        energy = sum(parts.values())
        total += energy
        extra: dict[str, Any] = {
            "co2_g": energy / 3.6e6 * pue * carbon.g_per_kwh,
            "carbon_source": carbon.source,
            "energy_detail": {
                "seconds": 10.0,
                "components_j": parts,
                "cpu_util_mean": 0.5 + 0.25 * epoch,
                "mem_used_gb_peak": 4.0,
            },
        }
        row = {
            "epoch": epoch,
            "train_loss": 1.0 / (epoch + 1),
            "val_acc": 0.7 + 0.1 * epoch,
            "test_acc": 0.65 + 0.1 * epoch,
            "seconds": 10.0,
            "peak_mem_mb": 500.0 + epoch,
            "energy_j": energy,
            "energy_method": "cpu_estimate+dram_estimate",
            "extra": extra,
        }
        store.add_epoch(run, row, {"epochs_done": epoch + 1})
    store.update_run(
        run,
        status="finished",
        train_time_s=20.0,
        energy_j=total,
        co2_g=total / 3.6e6 * pue * carbon.g_per_kwh,
        carbon_intensity=carbon.g_per_kwh,
        pue=pue,
        test_acc=0.75,
        peak_mem_mb=501.0,
    )
    return run


def with_epochs(store: Store) -> list[dict[str, Any]]:
    runs = store.runs()
    for r in runs:
        r["epochs"] = store.epochs(r["id"])
    return runs
