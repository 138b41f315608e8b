"""The power and carbon figures that turn a predicted training time into energy and CO2.

The same settings and tables as the meters use for a run (`core.metering.MeterSettings`): the CPU
power the estimate meter assumes, the GPU that CUDA_VISIBLE_DEVICES maps the device to in NVML
(`nvml_target`), and the user's region or typed intensity and PUE from the carbon table.
"""

from __future__ import annotations

from pepr_desktop.core.metering import MeterSettings
from pepr_desktop.core.metering.carbon import Intensity
from pepr_desktop.core.metering.carbon import co2_g as carbon_co2_g

GPU_SHARE_OF_LIMIT = 0.7  # a training GPU draws about this share of its enforced power limit
GPU_FALLBACK_W = 250.0


def _gpu_limit_w(device: str) -> float:
    """The enforced power limit (W) of the GPU that `device` is in NVML's numbering."""
    import pynvml

    from pepr_desktop.core.metering.nvml import nvml_target

    target = nvml_target(device)  # torch's cuda:i is not NVML's index i under CUDA_VISIBLE_DEVICES
    pynvml.nvmlInit()
    try:
        if isinstance(target, int):
            handle = pynvml.nvmlDeviceGetHandleByIndex(target)
        else:
            handle = pynvml.nvmlDeviceGetHandleByUUID(target)
        return pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000
    finally:
        pynvml.nvmlShutdown()


def power_estimate(device: str, settings: MeterSettings | None = None) -> tuple[float, str]:
    """Watts while training on `device`, and how that figure was obtained."""
    if device.startswith("cuda"):
        try:
            watts = _gpu_limit_w(device) * GPU_SHARE_OF_LIMIT
        except Exception:  # no NVML, no driver, a device NVML does not know: say so, assume
            return GPU_FALLBACK_W, f"estimate: {GPU_FALLBACK_W:g} W assumed (NVML unavailable)"
        return watts, f"estimate: {GPU_SHARE_OF_LIMIT:.0%} of the GPU's power limit (NVML)"
    from pepr_desktop.core.metering.cpu_estimate import default_tdp_w

    settings = settings or MeterSettings()
    if settings.cpu_tdp_w:
        return float(settings.cpu_tdp_w), f"your setting: CPU power {settings.cpu_tdp_w:g} W"
    tdp = default_tdp_w()
    return float(tdp), f"estimate: CPU power {tdp:g} W at full load (the meter's default)"


def carbon(settings: MeterSettings | None = None) -> tuple[Intensity, float]:
    """The carbon intensity and PUE a run with these settings is charged at."""
    settings = settings or MeterSettings()
    return settings.intensity, settings.pue


def co2_g(energy_wh: float | None, intensity: Intensity, pue: float) -> float | None:
    """Grams CO2eq for `energy_wh` of IT energy, as the meters compute it for a run."""
    if energy_wh is None:
        return None
    return carbon_co2_g(energy_wh * 3600, intensity.g_per_kwh, pue)


def describe_carbon(intensity: Intensity, pue: float) -> str:
    pue_text = "" if pue == 1.0 else f", PUE {pue:g}"
    return f"{intensity.g_per_kwh:g} g/kWh ({intensity.source}){pue_text}"
