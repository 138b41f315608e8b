"""The one projection of a run's time and energy (core/metering/projection.py)."""

from __future__ import annotations

import pytest

from pepr_desktop.core.metering.projection import extrapolate, fraction_done, project


def test_fraction_done_counts_this_sessions_batches() -> None:
    assert fraction_done(0, 5, 10, 0, 4) == pytest.approx(0.125)
    assert fraction_done(2, 5, 10, 2, 4) == pytest.approx(0.25)  # resumed at epoch 2
    assert fraction_done(9, 10, 10, 0, 4) == 1.0  # clamped


def test_extrapolate_is_a_straight_line_and_unknown_at_zero() -> None:
    assert extrapolate(30.0, 0.25) == pytest.approx(120.0)
    assert extrapolate(30.0, 0.0) is None


def test_project_uses_later_epochs_after_warm_up() -> None:
    p = project([10.0, 4.0, 4.0], [100.0, 40.0, 40.0], 5)
    assert p is not None and p.remaining_time_s == pytest.approx(8.0)
    assert p.energy_j == pytest.approx(260.0)
    assert project([10.0], [None], 3).energy_j is None
