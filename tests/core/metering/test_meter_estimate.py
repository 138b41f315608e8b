"""Arithmetic of the labelled CPU and DRAM estimates."""

from __future__ import annotations

import pytest

from pepr_desktop.core.metering.cpu_estimate import CpuEstimateMeter, default_tdp_w
from pepr_desktop.core.metering.cpu_tdp import this_cpu
from pepr_desktop.core.metering.dram import WATTS_PER_GB, DramEstimateMeter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_default_tdp_from_core_count() -> None:
    assert default_tdp_w(4) == pytest.approx(28.0)
    assert default_tdp_w(16) == pytest.approx(112.0)
    assert default_tdp_w(1) == pytest.approx(15.0)  # floor for tiny machines
    # without a core count: this CPU's table TDP, or the rule; the meter uses the same figure
    assert default_tdp_w() == this_cpu().watts == CpuEstimateMeter().tdp_w > 0


def test_cpu_estimate_is_tdp_times_utilisation_times_time() -> None:
    clock = Clock()
    busy = {"busy": 100.0, "cap": 400.0}  # CPU-seconds, as from /proc/stat
    m = CpuEstimateMeter(60.0, busy_fn=lambda: (busy["busy"], busy["cap"]), clock=clock)
    m.open()
    assert m.estimate and m.method == "cpu_estimate"
    clock.t = 2.0
    busy["busy"] += 2.0  # 4 CPUs x 2 s = 8 CPU-s capacity, 2 busy -> 25 %
    busy["cap"] += 8.0
    r = m.read()
    assert r.energy_j == pytest.approx(60.0 * 0.25 * 2.0)
    assert r.power_w == pytest.approx(15.0)
    assert r.extra["cpu_util"] == pytest.approx(0.25)
    clock.t = 3.0
    busy["busy"] += 4.0  # fully busy for 1 s
    busy["cap"] += 4.0
    r = m.read()
    assert r.energy_j == pytest.approx(30.0 + 60.0)
    assert r.power_w == pytest.approx(60.0)


def test_cpu_estimate_ignores_a_stalled_counter() -> None:
    clock = Clock()
    m = CpuEstimateMeter(40.0, busy_fn=lambda: (5.0, 10.0), clock=clock)
    m.open()
    clock.t = 1.0
    r = m.read()
    assert r.energy_j == 0.0  # no capacity elapsed in the counter: nothing to attribute


def test_cpu_estimate_rejects_non_positive_power() -> None:
    with pytest.raises(ValueError):
        CpuEstimateMeter(0.0)


def test_real_system_reading_is_within_tdp() -> None:
    m = CpuEstimateMeter(20.0)
    m.open()
    sum(i * i for i in range(200_000))
    r = m.read()
    assert r.power_w is None or 0.0 <= r.power_w <= 20.0 + 1e-9


def test_dram_estimate_per_gb_integrated() -> None:
    """CodeCarbon 2.x's model, still available: W/GB x memory in use (3.x's: test_meter_dram)."""
    clock = Clock()
    gb = {"v": 8.0}
    m = DramEstimateMeter(WATTS_PER_GB, used_gb_fn=lambda: gb["v"], clock=clock)
    m.open()
    clock.t = 10.0
    gb["v"] = 16.0  # trapezoid: (3 W + 6 W) / 2 x 10 s
    r = m.read()
    assert pytest.approx(0.375) == WATTS_PER_GB
    assert r.power_w == pytest.approx(6.0)
    assert r.energy_j == pytest.approx(45.0)
    assert m.estimate and m.method == "dram_estimate"
