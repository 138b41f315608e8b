"""Predicted final accuracy of a trial, with an interval, from its own learning curve.

A trial trains a few epochs (often on a share of the training data); the final run trains more
epochs on all of it. The prediction extrapolates the trial's validation curve in *training
images seen* (epochs x training images), the quantity both runs share, with the saturating
power law that learning curves follow (Domhan et al. 2015; Viering & Loog 2022):

    y(x) = a - b * x**(-c),    b >= 0, c in a small grid

For each c the fit is linear least squares in (a, b). Two findings on real searches shape how it
is used (benchmarks/README.md, bench_auto):

- A trial's first epochs often sit at chance level (the model first predicts one class) and then
  jump; that jump is not a power law, and fitted as one it extrapolates far above 1. Leading
  points at chance level (`chance`, within `CHANCE_MARGIN`) are left out of the fit.
- A 3-epoch trial whose schedule anneals within those 3 epochs is extrapolated 10x and more to
  the final run; the fits then promised 1.0 where the final run reached 0.92. So the point value
  is the fits' median at no more than `HORIZON` times the curve's length, and the full
  extrapolation only sets the interval's upper end.

The interval spans the close fits (residual within `CLOSE_FIT` of the best), widened by the
residual scatter, the validation split's own binomial noise and the reach of the extrapolation.
A curve too short to fit (one point) keeps its last value, with an interval open upwards, and
says so. An unknown accuracy is None, never chance level. Clipped to [0, 1].
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

EXPONENTS = (0.25, 0.5, 1.0)  # faster saturation over-trusts a short, annealed curve
CLOSE_FIT = 2.0  # exponents whose residual is within this factor of the best span the interval
ONE_POINT_HALF_WIDTH = 0.06
MIN_HALF_WIDTH = 0.01
EXTRAPOLATION_WIDTH = 0.03  # added to the half-width per doubling beyond the curve
HORIZON = 2.0  # the point value extrapolates at most this many times the curve's length
CHANCE_MARGIN = 0.1  # a leading point this close to chance level is a collapsed start


@dataclass(frozen=True)
class Prediction:
    """A predicted final value of one metric, its interval and how it was obtained."""

    metric: str
    value: float | None
    low: float | None
    high: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fit(xs: Sequence[float], ys: Sequence[float], c: float) -> tuple[float, float, float]:
    """(a, b, rms residual) of y = a - b x^-c, with b >= 0 (a flat line when the fit falls)
    and a <= 1."""
    zs = [x**-c for x in xs]
    zm, ym = statistics.fmean(zs), statistics.fmean(ys)
    szz = sum((z - zm) ** 2 for z in zs)
    slope = sum((z - zm) * (y - ym) for z, y in zip(zs, ys)) / szz if szz > 0 else 0.0
    b = max(0.0, -slope)  # y rises as z = x^-c falls: slope <= 0
    a = ym + b * zm
    if a > 1.0:  # no metric here exceeds 1: fit b with the asymptote held there
        a = 1.0
        szz0 = sum(z * z for z in zs)
        b = max(0.0, sum(z * (1.0 - y) for z, y in zip(zs, ys)) / szz0) if szz0 > 0 else 0.0
    rms = math.sqrt(statistics.fmean((y - (a - b * z)) ** 2 for z, y in zip(zs, ys)))
    return a, b, rms


def _clip(v: float) -> float:
    return min(1.0, max(0.0, v))


def predict_final(
    metric: str,
    values: Sequence[float | None],
    seen: Sequence[float],
    target_seen: float,
    *,
    n_val: int | None = None,
    chance: float | None = None,
) -> Prediction:
    """The value of `metric` after `target_seen` training images, from the curve `values`
    measured after `seen` images each (same length; None values are skipped). `chance`: the
    metric's chance level (1/K for balanced accuracy, 0.5 for AUC), None where unknown."""
    pts = [(float(x), float(y)) for x, y in zip(seen, values) if y is not None and x > 0]
    if not pts:
        return Prediction(metric, None, None, None, "unknown: no validation value yet")
    dropped = 0
    if chance is not None:
        while len(pts) > 1 and pts[0][1] <= chance + CHANCE_MARGIN:
            pts, dropped = pts[1:], dropped + 1
    noise = 0.0
    last = pts[-1][1]
    if n_val:
        noise = 2 * math.sqrt(max(last * (1 - last), 0.0025) / n_val)  # ~95% binomial
    if len(pts) == 1:  # more training rarely loses much, but how much it gains is unknown
        half = max(ONE_POINT_HALF_WIDTH, noise)
        return Prediction(
            metric,
            _clip(last),
            _clip(last - half),
            1.0,
            "one epoch only: about its last value or more (the upper end is unknown)",
        )
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    fits = [(c, *_fit(xs, ys, c)) for c in EXPONENTS]
    best = min(fits, key=lambda f: f[3])
    close = [f for f in fits if f[3] <= CLOSE_FIT * best[3] + 1e-4]
    near = min(target_seen, HORIZON * xs[-1])
    at_near = [a - b * near**-c for c, a, b, _ in close]
    at_target = [a - b * target_seen**-c for c, a, b, _ in close]
    value = statistics.median(at_near)  # ties (an exact 2-point fit) take the middle exponent
    spread = max(at_target) - min(at_target)
    # the further out, the less a short curve says: widen with the log of the extrapolation
    reach = EXTRAPOLATION_WIDTH * math.log2(max(1.0, target_seen / xs[-1]))
    half = max(MIN_HALF_WIDTH, noise, 2 * best[3]) + reach
    lo, hi = min(at_near) - half, max(*at_target, value) + half
    note = (
        f"power-law fit of {len(pts)} epochs"
        + (f" ({dropped} at chance level left out)" if dropped else "")
        + f", {target_seen / xs[-1]:.1f}x further than the curve (the value at most "
        f"{HORIZON:g}x); interval: {len(close)} close fits, residual {best[3]:.3f}, spread "
        f"{spread:.3f}"
    )
    return Prediction(metric, _clip(value), _clip(lo), _clip(hi), note)


def interval_text(p: Mapping[str, Any] | None) -> str:
    """A stored prediction as 'value [low, high]', or 'unknown' (never a made-up figure)."""
    if not p or p.get("value") is None:
        return "unknown"
    return f"{p['value']:.3f} [{p['low']:.3f}, {p['high']:.3f}]"


def record(
    prediction: Prediction,
    actual_val: float | None,
    actual_test: float | None,
    test_expected: Prediction | None = None,
) -> dict:
    """What a finished run stores as predicted vs actual (the run's `extra.prediction`); with
    `test_expected` (made before the test was read) also that and its error."""
    out = prediction.to_dict()
    out["actual_val"] = actual_val
    out["actual_test"] = actual_test
    out["test_expected"] = None if test_expected is None else test_expected.to_dict()
    out["error_test"] = (
        None
        if actual_test is None or test_expected is None or test_expected.value is None
        else actual_test - test_expected.value
    )
    out["error_val"] = (
        None if actual_val is None or prediction.value is None else actual_val - prediction.value
    )
    out["inside"] = (
        None
        if actual_val is None or prediction.low is None or prediction.high is None
        else prediction.low <= actual_val <= prediction.high
    )
    return out


def _stored_predictions(
    runs: Iterable[Mapping[str, Any]], host: str | None, metric: str | None
) -> Iterator[Mapping[str, Any]]:
    """The stored predictions (`extra.prediction`) of earlier runs, on this machine when `host`
    is given, of `metric` when given."""
    for r in runs:
        if host and r.get("host") and r["host"] != host:
            continue
        extra = r.get("extra")
        pred = extra.get("prediction") if isinstance(extra, Mapping) else None
        if isinstance(pred, Mapping) and not (metric and pred.get("metric") != metric):
            yield pred


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def past_errors(
    runs: Iterable[Mapping[str, Any]], host: str | None = None, metric: str | None = None
) -> list[float]:
    """actual - predicted (validation) of the stored predictions of earlier searches, on this
    machine when `host` is given, of `metric` when given."""
    preds = _stored_predictions(runs, host, metric)
    return [float(p["error_val"]) for p in preds if _finite(p.get("error_val"))]


def past_gaps(
    runs: Iterable[Mapping[str, Any]], host: str | None = None, metric: str | None = None
) -> list[float]:
    """actual test - actual validation of the earlier final runs that stored a prediction (on
    this machine when `host` is given, of `metric` when given): how far this dataset's test
    split has landed from what validation promised."""
    return [
        float(p["actual_test"]) - float(p["actual_val"])
        for p in _stored_predictions(runs, host, metric)
        if _finite(p.get("actual_val")) and _finite(p.get("actual_test"))
    ]


def expected_test(p: Prediction, gaps: Sequence[float]) -> Prediction | None:
    """What the test split is expected to give, from the validation prediction `p` and the
    user's own past test-minus-validation gaps on this dataset (`past_gaps`); None without
    that history: validation alone cannot see a shift between the splits, so the expectation
    is then unknown, not the validation figure."""
    if not gaps or p.value is None or p.low is None or p.high is None:
        return None
    shift = statistics.median(gaps)
    return _shifted(
        p,
        gaps,
        p.metric.replace("val_", "test_", 1),
        f"validation prediction {shift:+.3f}: the median test-minus-validation gap of "
        f"{len(gaps)} past final run(s) on this dataset here",
    )


def _shifted(p: Prediction, deltas: Sequence[float], metric: str, method: str) -> Prediction:
    """`p` moved by the median of `deltas` and widened to cover the middle of their spread."""
    assert p.value is not None and p.low is not None and p.high is not None
    shift = statistics.median(deltas)
    spread = statistics.median(abs(d - shift) for d in deltas) * 2 if len(deltas) > 1 else 0.0
    return Prediction(
        metric,
        _clip(p.value + shift),
        _clip(min(p.low + shift, p.value + shift - spread)),
        _clip(max(p.high + shift, p.value + shift + spread)),
        method,
    )


def past_error(runs: Iterable[Mapping[str, Any]], host: str | None = None) -> dict[str, Any]:
    """The median |predicted - actual| of earlier predictions (see `past_errors`): shown next
    to each new prediction."""
    errors = [abs(e) for e in past_errors(runs, host)]
    if not errors:
        return {"n": 0, "median_abs_error": None}
    return {"n": len(errors), "median_abs_error": statistics.median(errors)}


def with_history(p: Prediction, errors: Sequence[float]) -> Prediction:
    """The curve's prediction corrected by the user's own history on this dataset and machine:
    shifted by the median past error and widened to cover the middle of its spread. Unchanged
    without history (or for an unknown value)."""
    if not errors or p.value is None or p.low is None or p.high is None:
        return p
    shift = statistics.median(errors)
    return _shifted(
        p,
        errors,
        p.metric,
        f"{p.method}; shifted {shift:+.3f} by the median error of {len(errors)} past "
        "prediction(s) on this dataset here",
    )
