"""The learning-curve prediction of a trial's final accuracy, on synthetic curves."""

from __future__ import annotations

import pytest

from pepr_desktop.core.search.auto.predict import past_error, predict_final, record


def power_law(x: float, a: float = 0.95, b: float = 0.4, c: float = 0.5) -> float:
    return a - b * x**-c


def test_a_power_law_curve_is_extrapolated_inside_its_interval() -> None:
    from pepr_desktop.core.search.auto.predict import HORIZON

    seen = [1000, 2000, 3000, 4000]
    values = [power_law(x / 1000) for x in seen]
    p = predict_final("val_bacc", values, seen, 20_000, n_val=500)
    truth = power_law(20)
    # the value: the fit at no more than HORIZON x the curve's length (short real curves
    # overshoot when extrapolated far); the interval reaches the full extrapolation
    assert p.value == pytest.approx(power_law(4 * HORIZON), abs=0.01)
    assert values[-1] < p.value < truth
    assert p.low <= truth <= p.high
    assert "power-law fit of 4 epochs" in p.method
    near = predict_final("val_bacc", values, seen, 6_000, n_val=500)  # within the horizon
    assert near.value == pytest.approx(power_law(6), abs=0.01)


def test_a_collapsed_start_is_left_out_and_no_fit_promises_more_than_1() -> None:
    """A real trial (bench_auto, PneumoniaMNIST): chance level at epoch 1, then 0.905, 0.922;
    extrapolated 11.6x its final run reached 0.924, where the plain fit promised 1.0."""
    from pepr_desktop.core.search.auto.predict import _fit

    seen = [2425, 4850, 7275]
    curve = [0.53, 0.905, 0.922]
    p = predict_final("val_bacc", curve, seen, 18 * 4708, n_val=524, chance=0.5)
    assert "1 at chance level left out" in p.method
    assert 0.922 < p.value < 0.96 and p.low <= 0.924 <= p.high
    plain = predict_final("val_bacc", curve, seen, 18 * 4708, n_val=524)
    assert abs(plain.value - 0.924) > abs(p.value - 0.924)  # what the collapsed start costs
    for c in (0.25, 0.5, 1.0):  # the steep jump alone would fit an asymptote above 1
        a, b, _ = _fit([1.0, 2.0, 3.0], [0.3, 0.9, 0.99], c)
        assert a <= 1.0 and b >= 0.0


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


def test_the_test_expectation_comes_from_past_gaps_and_is_unknown_without_them() -> None:
    from pepr_desktop.core.search.auto.predict import expected_test, past_gaps

    runs = [
        {"host": "here", "extra": {"prediction": {"metric": "val_bacc", "actual_val": 0.95,
                                                  "actual_test": 0.85}}},
        {"host": "here", "extra": {"prediction": {"metric": "val_bacc", "actual_val": 0.96,
                                                  "actual_test": 0.90}}},
        {"host": "here", "extra": {"prediction": {"metric": "val_bacc", "actual_val": 0.9,
                                                  "actual_test": None}}},  # never tested
        {"host": "here", "extra": {"prediction": {"metric": "val_auc", "actual_val": 0.99,
                                                  "actual_test": 0.5}}},  # another metric
        {"host": "there", "extra": {"prediction": {"metric": "val_bacc", "actual_val": 0.9,
                                                   "actual_test": 0.1}}},  # another machine
    ]  # fmt: skip
    gaps = past_gaps(runs, host="here", metric="val_bacc")
    assert gaps == pytest.approx([-0.10, -0.06])
    p = predict_final("val_bacc", [0.6, 0.7, 0.75], [1, 2, 3], 10)
    assert expected_test(p, []) is None  # validation cannot see a shift: unknown, not p
    t = expected_test(p, gaps)
    assert t is not None and t.metric == "test_bacc"
    assert t.value == pytest.approx(p.value - 0.08)
    assert t.low <= t.value - 0.02 and t.high >= t.value + 0.02  # the gaps' spread widens it
    assert "2 past final run(s)" in t.method
    rec = record(p, 0.8, 0.70, t)
    assert rec["test_expected"]["value"] == pytest.approx(t.value)
    assert rec["error_test"] == pytest.approx(0.70 - t.value)
    assert record(p, 0.8, 0.70)["error_test"] is None
