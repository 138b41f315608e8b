"""The sampler session: clean shutdown, windows, idle baseline, a meter failing mid-run."""

from __future__ import annotations

import threading
import time

import pytest

from pepr_desktop.core.metering.base import Meter, MeterUnavailable, PowerMeter, Reading
from pepr_desktop.core.metering.sampler import SampledSession


class ConstPower(PowerMeter):
    """Constant power on the real clock; optionally raises after `fail_after` reads."""

    def __init__(self, component: str, watts: float, fail_after: int | None = None) -> None:
        super().__init__()
        self.component, self.method, self.watts = component, f"{component}_fake", watts
        self.fail_after = fail_after
        self.reads = 0
        self.closed = False

    def _power_w(self) -> float:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise OSError("sensor vanished")
        return self.watts

    def close(self) -> None:
        self.closed = True


def wait_for(cond, timeout: float = 10.0) -> None:
    """Poll instead of sleeping a fixed time: the test machine may be heavily loaded."""
    t_end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < t_end, "condition not reached in time"
        time.sleep(0.01)


def meter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pepr-meter"]


def test_clean_start_and_stop_no_thread_left() -> None:
    before = len(meter_threads())
    cpu, dram = ConstPower("cpu", 20.0), ConstPower("dram", 2.0)
    for m in (cpu, dram):
        m.open()
    s = SampledSession([cpu, dram], period_s=0.05)
    s.start(7)
    assert s.alive and len(meter_threads()) == before + 1
    wait_for(lambda: len(s._queue) >= 3)
    t0 = time.perf_counter()
    total = s.stop()
    assert time.perf_counter() - t0 < 1.0  # no hang
    assert not s.alive and len(meter_threads()) == before
    assert cpu.closed and dram.closed
    assert s.stop() is total  # idempotent
    samples = s.drain_samples()
    assert len(samples) >= 3
    assert all(x.run_id == 7 and set(x.power_w) == {"cpu", "dram"} for x in samples)
    energies = [x.energy_j for x in samples]
    assert energies == sorted(energies)
    assert samples[-1].method == "cpu_fake+dram_fake"
    # 22 W over the run's wall time
    assert total.energy_j == pytest.approx(22.0 * total.detail["seconds"], rel=0.01)
    assert total.energy_net_j is None and "no idle baseline" in total.note


def test_windows_add_up_to_the_run_and_baseline_gives_net() -> None:
    m = ConstPower("cpu", 10.0)
    m.open()
    s = SampledSession([m], period_s=0.05, idle_baseline_s=0.1)
    s.start(1)
    assert s.tracks[0].baseline_w == pytest.approx(10.0)
    time.sleep(0.12)
    w1 = s.close_window()
    time.sleep(0.08)
    w2 = s.close_window()
    total = s.stop()
    assert w1.energy_j == pytest.approx(10.0 * w1.detail["seconds"], rel=0.01)
    assert w1.energy_j + w2.energy_j == pytest.approx(total.energy_j, rel=0.02)
    # constant power equals the idle power: nothing is attributable to the run
    assert w1.energy_net_j == pytest.approx(0.0, abs=0.05)
    assert s.last_window is w2
    assert w1.detail["components_j"]["cpu"] == pytest.approx(w1.energy_j)
    assert w1.detail["peak_rss_mb"] > 0


def test_failing_meter_marks_energy_unavailable_and_sampling_goes_on() -> None:
    good, bad = ConstPower("cpu", 10.0), ConstPower("gpu", 100.0, fail_after=3)
    for m in (good, bad):
        m.open()  # read 1
    s = SampledSession([bad, good], period_s=0.03)
    s.start(3)  # read 2
    wait_for(lambda: bool(s.tracks[0].failed) and len(s._queue) >= 3)
    w = s.close_window()
    assert s.alive  # the thread survived the exception
    samples = s.drain_samples()
    assert samples[0].energy_j is not None and "gpu" in samples[0].power_w
    assert samples[-1].energy_j is None  # the cumulative total is unknown now
    assert samples[-1].power_w.keys() == {"cpu"} and samples[-1].method == "cpu_fake"
    assert w.energy_j is None and w.energy_net_j is None
    assert "gpu (gpu_fake) failed" in w.note and "sensor vanished" in w.note
    assert w.detail["components_j"]["gpu"] is None
    assert w.detail["components_j"]["cpu"] > 0
    assert s.stop().energy_j is None


def test_no_meters_reports_unavailable_with_notes() -> None:
    s = SampledSession([], notes=["cpu (rapl) unavailable: no powercap"])
    s.start(1)
    w = s.close_window()
    assert w.energy_j is None and w.method == "unavailable" and "no powercap" in w.note
    assert s.drain_samples() == [] or True
    assert s.stop().energy_j is None and not s.alive


def test_undrained_queue_is_bounded(monkeypatch) -> None:
    import pepr_desktop.core.metering.sampler as sampler

    monkeypatch.setattr(sampler, "MAX_QUEUED", 5)
    m = ConstPower("cpu", 1.0)
    m.open()
    s = SampledSession([m], period_s=0.01)
    s.start(1)
    wait_for(lambda: m.reads >= 12)
    s.stop()
    assert len(s.drain_samples()) == 5


class _Broken(Meter):
    component, method = "cpu", "broken"

    def open(self) -> None:
        raise MeterUnavailable("never works")

    def read(self) -> Reading:
        raise AssertionError("not reached")


def test_meter_unavailable_is_an_exception_with_reason() -> None:
    with pytest.raises(MeterUnavailable, match="never works"):
        _Broken().open()


def test_a_pause_is_left_out_of_the_epochs_and_the_runs_energy() -> None:
    """10 W for ~0.3 s of work around a 0.6 s pause: the window and the run count the work only,
    their seconds too, and the samples' run energy never jumps back."""
    m = ConstPower("cpu", 10.0)
    m.open()
    s = SampledSession([m], period_s=0.05)
    s.start(3)
    time.sleep(0.15)
    s.pause()
    s.pause()  # a second call while paused changes nothing
    time.sleep(0.6)
    s.resume()
    time.sleep(0.15)
    w = s.close_window()
    total = s.stop()
    assert 0.25 < w.detail["seconds"] < 0.55, w.detail  # ~0.3 s of work, not ~0.9 s of wall time
    assert w.energy_j == pytest.approx(10.0 * w.detail["seconds"], rel=0.05)
    assert total.energy_j == pytest.approx(w.energy_j, rel=0.05)
    assert total.detail["seconds"] == pytest.approx(w.detail["seconds"], abs=0.05)
    energies = [x.energy_j for x in s.drain_samples()]
    assert energies == sorted(energies) and energies[-1] == pytest.approx(total.energy_j, rel=0.05)
