"""Power and carbon for predictions: NVML opened at the device CUDA_VISIBLE_DEVICES maps to
(fake NVML), the CPU power setting, and CO2 from the carbon table at the user's region and PUE."""

from __future__ import annotations

import sys
import types

import pytest

from pepr_desktop.core.metering import MeterSettings
from pepr_desktop.core.metering.carbon import lookup
from pepr_desktop.core.search import power


class FakeNvml(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("pynvml")
        self.opened: list[object] = []
        self.limits = {0: 100_000, 1: 150_000, 2: 200_000, 3: 300_000, "GPU-abc": 400_000}

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        self.opened.append(i)
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        self.opened.append(uuid)
        return uuid

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        return self.limits[handle]  # mW


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_nvml_follows_cuda_visible_devices(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    watts, source = power.power_estimate("cuda:1")
    assert nvml.opened == [3]  # torch's cuda:1 is NVML's GPU 3 here, not GPU 1
    assert watts == pytest.approx(300 * power.GPU_SHARE_OF_LIMIT) and "NVML" in source
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    watts, _ = power.power_estimate("cuda")
    assert nvml.opened[-1] == "GPU-abc" and watts == pytest.approx(400 * 0.7)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    power.power_estimate("cuda:1")
    assert nvml.opened[-1] == 1


def test_gpu_without_nvml_is_an_assumption_said_so(nvml, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    watts, source = power.power_estimate("cuda:1")  # not visible: NVML cannot open it
    assert watts == power.GPU_FALLBACK_W and "assumed" in source


def test_cpu_power_from_the_settings():
    assert power.power_estimate("cpu", MeterSettings(cpu_tdp_w=45))[0] == 45.0
    watts, source = power.power_estimate("cpu")
    assert watts > 0 and source.startswith("estimate")


def test_co2_at_the_users_region_and_pue():
    intensity, pue = power.carbon(MeterSettings(region="DEU", pue=1.2))
    assert intensity == lookup("DEU") and pue == 1.2
    assert power.co2_g(2.0, intensity, pue) == pytest.approx(2.0 / 1000 * 1.2 * intensity.g_per_kwh)
    assert power.co2_g(None, intensity, pue) is None
    world, one = power.carbon()
    assert world.region == "WORLD" and one == 1.0
    typed, _ = power.carbon(MeterSettings(carbon_intensity_g_per_kwh=100))
    assert power.describe_carbon(typed, 1.0) == "100 g/kWh (typed in)"
