"""Energy and memory meters behind one interface (see session.py for the trainer's contract).

`meter_factory(settings)` is the entry point the CLI, the GUI and sweeps use: it returns a callable
that takes the resolved device ("cpu", "cuda", "cuda:1") and builds a session metering it:
NVML for a GPU plus the CPU side; RAPL where readable, else the labelled CPU estimate; RAPL dram,
else the labelled DRAM estimate. Figures are None with a reason when unavailable, never 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.metering.base import Meter, MeterUnavailable
from pepr_desktop.core.metering.session import EnergyWindow, MeterSession, UnavailableMeter

log = logging.getLogger(__name__)


@dataclass
class MeterSettings:
    """Every metering setting; checked on creation so a bad option fails before a run exists."""

    period_s: float = 0.5
    idle_baseline_s: float = 3.0  # 0 = off (then no net energy)
    cpu_tdp_w: float | None = None  # None: default from the core count (cpu_estimate.py)
    pue: float = 1.0
    region: str | None = None  # carbon table code or country name; None: world average
    carbon_intensity_g_per_kwh: float | None = None  # wins over region
    powercap_root: str | None = None  # tests and unusual systems; None: /sys/class/powercap

    def __post_init__(self) -> None:
        def check(name: str, v: float | None, lo: float, hi: float, hint: str) -> None:
            if v is not None and not (
                isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi
            ):
                raise UserError(f"{name} must be {lo:g}-{hi:g}, not {v!r}; {hint}.")

        check("meter period (s)", self.period_s, 0.05, 60, "0.5 s suits live charts")
        check("idle baseline (s)", self.idle_baseline_s, 0, 600, "use 0 to switch it off")
        check("CPU power (W)", self.cpu_tdp_w, 1, 2000, "give the CPU's TDP in watts")
        check("PUE", self.pue, 1.0, 5.0, "1.0 for a desk, ~1.1-1.6 for a data centre")
        from pepr_desktop.core.metering import carbon

        self.intensity = carbon.resolve(self.region, self.carbon_intensity_g_per_kwh)


def _open(meter: Meter, failed: dict[str, list[str]]) -> Meter | None:
    """Open `meter`, or record why not in `failed` (reason -> meter labels)."""
    try:
        meter.open()
        return meter
    except MeterUnavailable as exc:
        reason = str(exc)
    except Exception as exc:  # a broken driver is reported, not raised
        reason = f"{type(exc).__name__}: {exc}"
    failed.setdefault(reason, []).append(meter.label)
    return None


def build_meters(device: str, settings: MeterSettings) -> tuple[list[Meter], list[str]]:
    """Open the best meter per component for `device`; notes say what was not usable and why."""
    from pepr_desktop.core.metering.cpu_estimate import CpuEstimateMeter
    from pepr_desktop.core.metering.dram import DramEstimateMeter
    from pepr_desktop.core.metering.nvml import NvmlMeter
    from pepr_desktop.core.metering.rapl import POWERCAP_ROOT, RaplMeter

    root = Path(settings.powercap_root) if settings.powercap_root else POWERCAP_ROOT
    failed: dict[str, list[str]] = {}
    notes: list[str] = []
    meters: list[Meter] = []
    if device.startswith("cuda"):
        gpu = _open(NvmlMeter(device), failed)
        if gpu is not None:
            meters.append(gpu)
            if gpu.info().get("note"):
                notes.append(f"gpu: {gpu.info()['note']}")
    cpu = _open(RaplMeter("cpu", root), failed) or _open(
        CpuEstimateMeter(settings.cpu_tdp_w), failed
    )
    dram = _open(RaplMeter("dram", root), failed) or _open(DramEstimateMeter(), failed)
    meters += [m for m in (cpu, dram) if m is not None]
    notes = [f"{' and '.join(labels)} unavailable: {why}" for why, labels in failed.items()] + notes
    return meters, notes


def meter_factory(settings: MeterSettings | None = None) -> Callable[[str], MeterSession]:
    """A callable device -> session; it never raises (a meter that cannot open is noted)."""
    settings = settings or MeterSettings()

    def make(device: str) -> MeterSession:
        from pepr_desktop.core.metering.sampler import SampledSession

        try:
            meters, notes = build_meters(device, settings)
        except Exception as exc:  # never let metering stop a run before it starts
            log.exception("building meters failed")
            return UnavailableMeter(f"meters could not be set up ({type(exc).__name__}: {exc})")
        for n in notes:
            log.info("%s", n)
        return SampledSession(
            meters,
            period_s=settings.period_s,
            idle_baseline_s=settings.idle_baseline_s,
            notes=notes,
            settings=settings,
            carbon=settings.intensity,
        )

    return make


def describe(meter: Any) -> dict[str, Any]:
    """What the UI shows about a session's meters (methods, estimates, device names)."""
    tracks = getattr(meter, "tracks", [])
    return {
        "method": getattr(meter, "method", "unavailable"),
        "meters": [
            {
                "component": t.meter.component,
                "method": t.meter.method,
                "estimate": t.meter.estimate,
                **t.meter.info(),
            }
            for t in tracks
        ],
        "notes": list(getattr(meter, "notes", [])),
    }


__all__ = [
    "EnergyWindow",
    "MeterSession",
    "MeterSettings",
    "UnavailableMeter",
    "build_meters",
    "describe",
    "epoch_extra",
    "meter_factory",
]


def epoch_extra(
    meter: Any,
    epoch_energy_j: float | None,
    seconds: list[float],
    energies: list[float | None],
    epochs_planned: int,
) -> dict[str, Any]:
    """What the store keeps in an epoch's `extra`: CO2 of the epoch, the meters' breakdown and
    the run's projected totals. Empty for meters not made by `meter_factory`."""
    from pepr_desktop.core.metering.carbon import co2_g
    from pepr_desktop.core.metering.projection import project

    out: dict[str, Any] = {}
    carbon, settings = getattr(meter, "carbon", None), getattr(meter, "settings", None)
    if carbon is not None and settings is not None:
        out["co2_g"] = co2_g(epoch_energy_j, carbon.g_per_kwh, settings.pue)
        out["carbon_source"] = carbon.source
    window = getattr(meter, "last_window", None)
    if window is not None and window.detail:
        out["energy_detail"] = window.detail
    proj = project(seconds, energies, epochs_planned) if epochs_planned else None
    if proj is not None and proj.epochs_done < epochs_planned:
        out["projection"] = {"time_s": proj.time_s, "energy_j": proj.energy_j}
    return out
