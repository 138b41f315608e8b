"""The search's budget guard with a fake clock and meter."""

from __future__ import annotations

import math

import pytest

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.search.auto.guard import BudgetGuard, Cost


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_time_left_by_share_and_what_fits() -> None:
    clock = Clock()
    g = BudgetGuard(Budget(time_min=1), clock=clock)
    clock.t = 20
    assert g.seconds_left() == pytest.approx(40)
    assert g.seconds_left(0.5) == pytest.approx(10)
    assert g.why_not(Cost(9), 0.5) == ""
    assert "11 s of budget, 10 s left" in g.why_not(Cost(11), 0.5)
    g.paused_s = 10  # paused seconds are not spent
    assert g.elapsed_s() == pytest.approx(10)
    clock.t = 71.5
    assert g.fraction_spent() == pytest.approx(61.5 / 60) and not g.over()  # within 3 %
    clock.t = 73
    assert g.over() and not g.to_dict()["within_budget"]


def test_energy_counts_the_meter_then_the_rest_at_measured_watts() -> None:
    clock = Clock()
    g = BudgetGuard(Budget(energy_wh=0.1), power_w=50.0, clock=clock)  # 360 J
    clock.t = 2
    assert g.spent_energy_j() == pytest.approx(100)  # no measurement yet: the estimate
    g.add_epoch(10.0, 100.0, 300.0)  # the meter says 10 W
    clock.t = 14
    assert g.watts() == pytest.approx(10)
    assert g.spent_energy_j() == pytest.approx(100 + 4 * 10)
    assert g.seconds_left() == pytest.approx((360 - 140) / 10)
    assert "MB" in BudgetGuard(Budget(time_min=1, memory_mb=200)).why_not(Cost(1, 300))
    assert g.to_dict()["peak_mem_mb"] == 300


def test_no_limit_is_unlimited() -> None:
    g = BudgetGuard(Budget(memory_mb=100), clock=Clock())
    assert math.isinf(g.seconds_left()) and g.fraction_spent() == 0
