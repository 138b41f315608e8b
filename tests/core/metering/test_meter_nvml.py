"""NVML meter through a fake `pynvml` module: counter, power-polling fallback, errors mid-run."""

from __future__ import annotations

import sys
import types

import pytest

from pepr_desktop.core.metering.base import MeterUnavailable
from pepr_desktop.core.metering.nvml import NvmlMeter, nvml_target


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class NVMLError(Exception):
    pass


def make_fake_nvml(*, energy_supported: bool = True, init_fails: bool = False):
    """A pynvml stand-in whose counters the test drives through `state`."""
    state = {
        "mj": 5_000_000,
        "mw": 250_000,
        "fail": False,
        "inits": 0,
        "shutdowns": 0,
        "handles": [],
    }
    nv = types.ModuleType("pynvml")
    nv.NVMLError = NVMLError

    def init():
        if init_fails:
            raise NVMLError("Driver Not Loaded")
        state["inits"] += 1

    def check():
        if state["fail"]:
            raise NVMLError("GPU is lost")

    def energy(h):
        check()
        if not energy_supported:
            raise NVMLError("Not Supported")
        return state["mj"]

    def power(h):
        check()
        return state["mw"]

    nv.nvmlInit = init
    nv.nvmlShutdown = lambda: state.__setitem__("shutdowns", state["shutdowns"] + 1)
    nv.nvmlDeviceGetHandleByIndex = lambda i: state["handles"].append(i) or f"h{i}"
    nv.nvmlDeviceGetHandleByUUID = lambda u: state["handles"].append(u) or f"h{u}"
    nv.nvmlDeviceGetCount = lambda: 1
    nv.nvmlDeviceGetTotalEnergyConsumption = energy
    nv.nvmlDeviceGetPowerUsage = power
    nv.nvmlDeviceGetName = lambda h: b"Fake GPU 80GB"
    nv.nvmlDeviceGetEnforcedPowerLimit = lambda h: 300_000
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=80 * 2**30, used=2**30)
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=87, memory=40)
    return nv, state


@pytest.fixture
def fake_nvml(monkeypatch):
    def install(**kw):
        nv, state = make_fake_nvml(**kw)
        monkeypatch.setitem(sys.modules, "pynvml", nv)
        return state

    return install


def test_energy_counter_differences(fake_nvml) -> None:
    state = fake_nvml()
    clock = FakeClock()
    m = NvmlMeter("cuda", clock=clock)
    m.open()
    assert m.method == "nvml_energy"
    assert m.info()["name"] == "Fake GPU 80GB" and m.info()["power_limit_w"] == 300.0
    clock.t += 2.0
    state["mj"] += 400_000  # 400 J in 2 s
    r = m.read()
    assert r.energy_j == pytest.approx(400.0)
    assert r.power_w == pytest.approx(200.0)
    assert r.extra["gpu_util"] == 87 and r.extra["gpu_mem_used_mb"] == 1024
    clock.t += 1.0
    state["mj"] += 150_000
    assert m.read().energy_j == pytest.approx(550.0)
    m.close()
    assert state["shutdowns"] == state["inits"] == 1


def test_counter_unsupported_falls_back_to_integrated_power(fake_nvml) -> None:
    state = fake_nvml(energy_supported=False)
    clock = FakeClock()
    m = NvmlMeter("cuda", clock=clock)
    m.open()
    assert m.method == "nvml_power"
    assert "unsupported" in m.info()["note"]
    clock.t += 1.0
    state["mw"] = 350_000  # trapezoid over 250 W -> 350 W for 1 s = 300 J
    r = m.read()
    assert r.energy_j == pytest.approx(300.0)
    assert r.power_w == pytest.approx(350.0)
    clock.t += 0.5
    assert m.read().energy_j == pytest.approx(300.0 + 175.0)


def test_error_mid_run_raises_from_read(fake_nvml) -> None:
    state = fake_nvml()
    m = NvmlMeter("cuda", clock=FakeClock())
    m.open()
    state["fail"] = True
    with pytest.raises(NVMLError, match="lost"):
        m.read()


def test_no_driver_is_unavailable_with_reason(fake_nvml) -> None:
    fake_nvml(init_fails=True)
    with pytest.raises(MeterUnavailable, match="NVML did not start.*driver"):
        NvmlMeter("cuda").open()


def test_missing_pynvml_is_unavailable(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    with pytest.raises(MeterUnavailable, match="nvidia-ml-py"):
        NvmlMeter("cuda").open()


def test_visible_devices_map_torch_index_to_nvml(monkeypatch, fake_nvml) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert nvml_target("cuda") == 0 and nvml_target("cuda:1") == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert nvml_target("cuda:1") == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-abc")
    state = fake_nvml()
    m = NvmlMeter("cuda:0")
    m.open()
    assert state["handles"] == ["GPU-abc"]
    with pytest.raises(MeterUnavailable, match="CUDA_VISIBLE_DEVICES"):
        nvml_target("cuda:1")
