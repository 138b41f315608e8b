"""DRAM power per CodeCarbon 3.x: watts per memory module, modules guessed from total memory."""

from __future__ import annotations

import pytest

from pepr_desktop.core.metering.dram import DramEstimateMeter, dram_power_w, module_count


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("total_gb", "modules", "x86_w"),
    [
        (2, 1, 10.0),  # one module, but x86's floor is two modules' worth
        (8, 2, 10.0),
        (16, 2, 10.0),
        (24, 4, 20.0),
        (64, 4, 20.0),
        (96, 8, 5 * 4 + 4.5 * 4),  # beyond 4 modules each draws 90 %
        (256, 8, 38.0),  # 32 GB modules
        (2048, 16, 20 + 18 + 4.0 * 8),  # 128 GB modules; 9-16 at 80 %
        (8192, 32, 20 + 18 + 32 + 3.5 * 16),  # capped at 32 modules; 17+ at 70 %
    ],
)
def test_codecarbon3_module_model(total_gb: float, modules: int, x86_w: float) -> None:
    assert module_count(total_gb) == modules
    assert dram_power_w(total_gb) == pytest.approx(x86_w)


def test_arm_modules_draw_less() -> None:
    assert dram_power_w(8, arm=True) == pytest.approx(3.0)  # 2 x 1.5 W, the ARM floor
    assert dram_power_w(32, arm=True) == pytest.approx(6.0)


def test_meter_default_is_constant_power_over_total_memory() -> None:
    clock = Clock()
    used = {"v": 3.0}
    m = DramEstimateMeter(
        used_gb_fn=lambda: used["v"], total_gb_fn=lambda: 32.0, arm=False, clock=clock
    )
    m.open()
    clock.t = 10.0
    used["v"] = 30.0  # the 3.x model does not follow memory in use
    r = m.read()
    assert r.power_w == pytest.approx(20.0) and r.energy_j == pytest.approx(200.0)
    assert r.extra["mem_used_gb"] == 30.0
    info = m.info()
    assert info["modules"] == 4 and info["watts"] == 20.0 and "CodeCarbon 3.x" in info["model"]
    assert m.estimate and m.method == "dram_estimate"
