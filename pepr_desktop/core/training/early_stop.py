"""Energy-aware early stopping: stop when more epochs no longer pay for their energy.

The rule, checked after each epoch `t` (0-based, `n = t + 1` epochs done) on the VALIDATION
metric only (never test data), with `patience` = P and `min_gain` = G (metric units per Wh):

1. No gain: the best validation value so far was reached P or more epochs ago -> stop.
2. Gain per energy: once n >= max(3, P + 1), fit a least-squares line to the last
   W = min(n, max(3, P + 1)) validation values (a short window, so a curve that has begun to
   saturate is judged by its recent slope) and extrapolate it P epochs ahead. The expected
   gain is max(0, projected value - best value so far); the projected energy is P times the mean
   energy of those W epochs. Stop when expected gain / projected energy (in Wh) < G.
   A flat or falling trend therefore stops the run; a rising one continues while each Wh still
   buys at least G (0.01 = one accuracy point per Wh by default).
3. Without energy figures (no meter) rule 2 is skipped and only rule 1 applies; the message
   says so, rather than inventing an energy.

The run keeps its final epoch's model (the paper's protocol scores the final epoch); the run is
recorded as finished with reason "early_stop" and the decision's message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_PATIENCE = 2
DEFAULT_MIN_GAIN_PER_WH = 0.01
MIN_EPOCHS_FOR_TREND = 3


@dataclass(frozen=True)
class Decision:
    stop: bool
    rule: str  # "", "no_gain" or "gain_per_wh"
    message: str
    expected_gain: float | None = None
    projected_wh: float | None = None


def _fit_line(ys: Sequence[float]) -> tuple[float, float]:
    """Least squares y = a + b x for x = 0..len-1; returns (a, b)."""
    n = len(ys)
    mx = (n - 1) / 2
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in range(n))
    b = sum((x - mx) * (y - my) for x, y in enumerate(ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def decide(
    val_metric: Sequence[float | None],
    energy_j: Sequence[float | None],
    *,
    patience: int = DEFAULT_PATIENCE,
    min_gain_per_wh: float = DEFAULT_MIN_GAIN_PER_WH,
    metric: str = "val_acc",
) -> Decision:
    """Whether to stop after the epochs seen so far (see the module docstring for the rule).

    `val_metric[i]` and `energy_j[i]` are epoch i's validation metric and energy (joules); a
    missing validation value counts as no improvement.
    """
    n = len(val_metric)
    vals = [v if v is not None and math.isfinite(v) else -math.inf for v in val_metric]
    if n == 0:
        return Decision(False, "", "")
    best = max(vals)
    best_epoch = vals.index(best)
    if n - 1 - best_epoch >= patience:
        return Decision(
            True,
            "no_gain",
            f"early stop after epoch {n}: {metric} has not improved for {n - 1 - best_epoch} "
            f"epochs (best {best:.4f} at epoch {best_epoch + 1}; patience {patience})",
        )
    if n < max(MIN_EPOCHS_FOR_TREND, patience + 1):
        return Decision(False, "", "")
    w = min(n, max(MIN_EPOCHS_FOR_TREND, patience + 1))
    recent = vals[-w:]
    if any(math.isinf(v) for v in recent):
        return Decision(False, "", "")
    a, b = _fit_line(recent)
    projected = a + b * (w - 1 + patience)
    gain = max(0.0, projected - best)
    energies = list(energy_j[-w:])
    if len(energies) < w or any(e is None or not math.isfinite(e) for e in energies):
        return Decision(
            False, "", "energy unavailable: only the no-gain rule applies", expected_gain=gain
        )
    wh = patience * (sum(energies) / w) / 3600  # type: ignore[arg-type]
    rate = gain / wh if wh > 0 else math.inf
    if rate < min_gain_per_wh:
        return Decision(
            True,
            "gain_per_wh",
            f"early stop after epoch {n}: the {metric} trend of the last {w} epochs projects a "
            f"gain of {gain:.4f} over the next {patience} epochs for ~{wh:.3g} Wh "
            f"({rate:.3g} per Wh < minimum {min_gain_per_wh:g} per Wh)",
            expected_gain=gain,
            projected_wh=wh,
        )
    return Decision(False, "", "", expected_gain=gain, projected_wh=wh)
