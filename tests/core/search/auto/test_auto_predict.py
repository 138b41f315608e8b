"""The learning-curve prediction of a trial's final accuracy, on synthetic curves."""

from __future__ import annotations

import pytest

from pepr_desktop.core.search.auto.predict import past_error, predict_final, record


def power_law(x: float, a: float = 0.95, b: float = 0.4, c: float = 0.5) -> float:
    return a - b * x**-c


def test_a_power_law_curve_is_extrapolated_inside_its_interval() -> None:
    seen = [1000, 2000, 3000, 4000]
    values = [power_law(x / 1000) for x in seen]
    p = predict_final("val_bacc", values, seen, 20_000, n_val=500)
    truth = power_law(20)
    assert p.value == pytest.approx(truth, abs=0.01)
    assert p.low <= truth <= p.high
    assert p.value > values[-1]  # it rises beyond the last epoch, not a copy of it
    assert "power-law fit of 4 epochs" in p.method


def test_a_falling_curve_is_not_extrapolated_upwards() -> None:
    p = predict_final("val_acc", [0.8, 0.78, 0.76], [1, 2, 3], 30)
    assert p.value <= 0.8 and p.high <= 1.0


def test_one_point_keeps_its_value_with_a_wide_interval_and_none_is_unknown() -> None:
    p = predict_final("val_acc", [0.7], [100], 1000, n_val=50)
    assert p.value == 0.7 and p.low <= 0.7 - 0.06 and p.high == 1.0
    unknown = predict_final("val_acc", [None], [100], 1000)
    assert unknown.value is None and unknown.method.startswith("unknown")


def test_predicted_vs_actual_and_the_median_past_error() -> None:
    p = predict_final("val_bacc", [0.6, 0.7, 0.75], [1, 2, 3], 10)
    rec = record(p, 0.8, 0.78)
    assert rec["error_val"] == pytest.approx(0.8 - p.value)
    assert rec["inside"] == (p.low <= 0.8 <= p.high)
    runs = [
        {"host": "here", "extra": {"prediction": {"error_val": 0.02}}},
        {"host": "here", "extra": {"prediction": {"error_val": -0.04}}},
        {"host": "there", "extra": {"prediction": {"error_val": 0.5}}},
        {"host": "here", "extra": {}},
    ]
    assert past_error(runs, host="here") == {"n": 2, "median_abs_error": pytest.approx(0.03)}
    assert past_error([], host="here")["median_abs_error"] is None


def test_history_shifts_and_widens_a_prediction() -> None:
    from pepr_desktop.core.search.auto.predict import with_history

    p = predict_final("val_bacc", [0.6, 0.7, 0.75], [1, 2, 3], 10)
    assert with_history(p, []) == p
    q = with_history(p, [0.10, 0.12, 0.08])
    assert q.value == pytest.approx(min(1.0, p.value + 0.10))
    assert q.low <= q.value <= q.high and "3 past prediction(s)" in q.method


def test_the_interval_widens_with_the_extrapolation() -> None:
    seen = [1, 2, 3]
    values = [power_law(x) for x in seen]
    near = predict_final("val_acc", values, seen, 4)
    far = predict_final("val_acc", values, seen, 64)
    assert (far.high - far.low) > (near.high - near.low) + 0.05
