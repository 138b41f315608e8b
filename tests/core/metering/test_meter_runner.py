"""Metering inside real (tiny) training runs through core.runner.execute."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pepr_desktop.core.events import EpochEnded, MeterSample, RunFinished
from pepr_desktop.core.metering import MeterSettings, build_meters, describe, meter_factory
from pepr_desktop.core.metering.base import PowerMeter
from pepr_desktop.core.metering.sampler import SampledSession
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.runner import execute

MODEL = "mobilenetv3_small_050"


class FlakyGpu(PowerMeter):
    component, method = "gpu", "flaky_gpu"

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def _power_w(self) -> float:
        self.reads += 1
        if self.reads > 3:
            raise RuntimeError("NVML: GPU is lost")
        return 50.0


def cfg(epochs: int = 2) -> TrainConfig:
    return TrainConfig(
        dataset="sample", model=MODEL, epochs=epochs, data_fraction=0.1, batch_size=32
    )


def test_failing_meter_does_not_stop_training(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    settings = MeterSettings(period_s=0.05, idle_baseline_s=0, region="FRA")

    def factory(device: str) -> SampledSession:
        gpu = FlakyGpu()
        gpu.open()
        cpu_dram, notes = build_meters(device, settings)
        return SampledSession(
            [gpu, *cpu_dram],
            period_s=0.05,
            notes=notes,
            settings=settings,
            carbon=settings.intensity,
        )

    events = list(execute(cfg(epochs=1), store, meter_factory=factory))
    done = events[-1]
    assert isinstance(done, RunFinished) and done.status == "finished", done.message
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs) == 1
    assert all(e.energy_j is None for e in epochs)
    assert "flaky_gpu) failed" in epochs[-1].energy_note and "GPU is lost" in epochs[-1].energy_note
    run = store.get_run(done.run_id)
    assert run["status"] == "finished" and run["energy_j"] is None and run["co2_g"] is None
    assert run["carbon_intensity"] == pytest.approx(56.0) and run["pue"] == 1.0
    samples = store.samples(done.run_id)
    assert samples and "gpu" not in samples[-1]["components"]
    assert "cpu" in samples[-1]["components"]


def test_real_meters_store_energy_co2_and_samples(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    factory = meter_factory(
        MeterSettings(period_s=0.1, idle_baseline_s=0.3, pue=1.5, carbon_intensity_g_per_kwh=400.0)
    )
    events = list(execute(cfg(), store, meter_factory=factory))
    done = events[-1]
    assert done.status == "finished", done.message
    assert any(isinstance(e, MeterSample) for e in events)
    run = store.get_run(done.run_id)
    assert run["energy_j"] is not None and run["energy_j"] > 0
    assert run["energy_net_j"] is not None
    assert "cpu" in run["energy_method"] or "rapl" in run["energy_method"]
    if "estimate" in run["energy_method"]:
        assert "estimate" in run["energy_note"]
    assert run["co2_g"] == pytest.approx(run["energy_j"] / 3.6e6 * 1.5 * 400.0)
    assert run["carbon_intensity"] == 400.0 and run["pue"] == 1.5
    eps = store.epochs(done.run_id)
    assert eps[0]["extra"]["co2_g"] == pytest.approx(eps[0]["energy_j"] / 3.6e6 * 600.0)
    assert eps[0]["extra"]["carbon_source"] == "typed in"
    assert set(eps[0]["extra"]["energy_detail"]["components_j"]) == {"cpu", "dram"}
    assert eps[0]["extra"]["projection"]["time_s"] > eps[0]["seconds"]
    assert "projection" not in eps[1]["extra"]  # nothing left to project after the last epoch
    samples = store.samples(done.run_id)
    assert samples and all(s["power_w"] > 0 for s in samples)
    energies = [s["energy_j"] for s in samples]
    # the run total and the last sample are sums in different orders: equal up to rounding
    assert energies == sorted(energies) and energies[-1] <= run["energy_j"] * (1 + 1e-12)


def test_factory_meters_a_gpu_run_with_the_cpu_side(monkeypatch, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_meter_nvml import make_fake_nvml
    finally:
        sys.path.pop(0)
    nv, _ = make_fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    session = meter_factory(MeterSettings(idle_baseline_s=0, powercap_root=str(tmp_path / "none")))(
        "cuda"
    )
    d = describe(session)
    assert [m["component"] for m in d["meters"]] == ["gpu", "cpu", "dram"]
    assert d["method"] == "nvml_energy+cpu_estimate+dram_estimate"
    assert d["meters"][0]["name"] == "Fake GPU 80GB"
    assert [m["estimate"] for m in d["meters"]] == [False, True, True]
    session.start(1)
    w = session.close_window()
    session.stop()
    assert w.method == "nvml_energy+cpu_estimate+dram_estimate" and "estimate" in w.note


def test_factory_without_nvml_still_meters_the_cpu(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    session = meter_factory(MeterSettings(idle_baseline_s=0, powercap_root=str(tmp_path / "none")))(
        "cuda:0"
    )
    assert session.method == "cpu_estimate+dram_estimate"
    assert any("gpu (nvml_energy)" in n and "nvidia-ml-py" in n for n in session.notes)


class SteadyCpu(PowerMeter):
    component, method = "cpu", "steady_cpu"

    def _power_w(self) -> float:
        return 10.0


def test_a_paused_epoch_does_not_count_the_pause(tmp_path: Path) -> None:
    """Paused 1.5 s at the first batch: the epoch's energy is the steady 10 W over its training
    seconds (which leave the pause out), not over its wall time."""
    import threading
    import time

    from pepr_desktop.core.events import BatchEnded
    from pepr_desktop.core.training.config import Control

    store = Store(tmp_path / "db.sqlite")

    def factory(device: str) -> SampledSession:
        m = SteadyCpu()
        m.open()
        return SampledSession([m], period_s=0.05)

    control = Control()
    paused = 0.0
    events = []
    for ev in execute(cfg(epochs=1), store, meter_factory=factory, control=control):
        events.append(ev)
        if isinstance(ev, BatchEnded) and ev.batch == 1 and not paused:
            control.pause()
            threading.Timer(1.5, control.resume).start()
            paused = time.perf_counter()
    assert isinstance(events[-1], RunFinished) and events[-1].status == "finished"
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    assert epoch.energy_j == pytest.approx(10.0 * epoch.seconds, rel=0.1, abs=0.5), (
        epoch.energy_j,
        epoch.seconds,
    )
    assert store.get_run(epoch.run_id)["energy_j"] == pytest.approx(epoch.energy_j)
