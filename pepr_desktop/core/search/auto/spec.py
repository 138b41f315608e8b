"""What a budgeted search is asked to do (`AutoSpec`), checked before anything runs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.errors import UserError

METRICS = {"bacc": "val_bacc", "auc": "val_auc", "acc": "val_acc"}
PROMOTE = ("accuracy", "pepr")
PRUNERS = ("hyperband", "sha", "none")
BACKENDS = ("local", "ray")
BY = ("energy", "co2", "time", "memory")


@dataclass
class AutoSpec:
    """A budgeted search over models, input sizes and recipes on one dataset.

    At least one of `time_min` / `energy_wh` bounds the whole search (planning, trials and the
    final runs); `memory_mb` bounds each run's peak. `metric` is what trials are pruned and
    ranked on (on VALIDATION); `promote` ranks the finalists by that metric ("accuracy") or by
    expected PePR on `by` ("pepr"). `models` is the pool to probe (None: a default pool;
    ["catalogue"]: the whole catalogue, cheapest first). `meter` is a `MeterSettings` (None:
    energy is not measured; then an energy budget is refused)."""

    dataset: str
    time_min: float | None = None
    energy_wh: float | None = None
    memory_mb: float | None = None
    by: str = "energy"
    metric: str = "bacc"
    promote: str = "accuracy"
    backend: str = "local"
    models: list[str] | None = None
    device: str = "auto"
    seed: int = 0
    batch_size: int = 32
    pruner: str = "hyperband"
    search_share: float = 0.45  # of the budget for the trials; the rest trains the finalists
    trial_epochs: int = 3
    trial_fraction: float | None = None  # None: enough images for a fair look, at most all
    max_trials: int | None = None
    max_final_epochs: int = 30
    finalists: int = 2
    upscale: bool = True
    meter: Any = None
    address: str | None = None  # Ray cluster (None: a local Ray)
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    # the trainer's fast path for every run (TrainConfig fields amp, channels_last...; empty:
    # the defaults, "auto" = on for CUDA)
    fast_path: dict[str, Any] = field(default_factory=dict)
    # trials at once on one device (local backend, search phase): 0 = chosen (on CUDA from the
    # probe's memory figure, 1 on the CPU); N = at most N, within memory and CPU cores
    concurrency: int = 0

    @property
    def budget(self) -> Budget:
        return Budget(energy_wh=self.energy_wh, time_min=self.time_min, memory_mb=self.memory_mb)

    @property
    def val_key(self) -> str:
        return METRICS[self.metric]

    def validate(self) -> AutoSpec:
        if self.time_min is None and self.energy_wh is None:
            raise UserError("a search needs a budget: give --time-min MIN or --energy-wh WH.")
        self.budget.validate()
        for label, value, choices in (
            ("metric", self.metric, tuple(METRICS)),
            ("promote", self.promote, PROMOTE),
            ("pruner", self.pruner, PRUNERS),
            ("backend", self.backend, BACKENDS),
            ("--by", self.by, BY),
        ):
            if value not in choices:
                raise UserError(f"{label} must be one of {', '.join(choices)}, not '{value}'.")
        if self.energy_wh is not None and self.meter is None:
            raise UserError(
                "an energy budget needs energy metering; drop --no-meter or give --time-min."
            )
        share = self.search_share
        if not (isinstance(share, (int, float)) and math.isfinite(share) and 0 < share < 1):
            raise UserError(f"the search share must be between 0 and 1, not {share!r}.")
        for label, n in (
            ("trial epochs", self.trial_epochs),
            ("max final epochs", self.max_final_epochs),
            ("finalists", self.finalists),
        ):
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
                raise UserError(f"{label} must be a whole number from 1 to 1000, not {n!r}.")
        frac = self.trial_fraction
        if frac is not None and not (math.isfinite(frac) and 0 < frac <= 1):
            raise UserError(f"the trial data fraction must be in (0, 1], not {frac!r}.")
        self._validate_parallel()
        if self.models is not None and not all(isinstance(m, str) and m for m in self.models):
            raise UserError("models must be timm model names, e.g. resnet18,resnet10t.")
        return self

    def _validate_parallel(self) -> None:
        from pepr_desktop.core.training.config import TrainConfig
        from pepr_desktop.core.training.fast_path import FIELDS

        n = self.concurrency
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 64:
            raise UserError(f"concurrency must be a whole number from 0 (chosen) to 64, not {n!r}.")
        if n > 1 and self.backend != "local":
            raise UserError("--concurrency is for the local backend; Ray places trials itself.")
        unknown = sorted(set(self.fast_path) - set(FIELDS))
        if unknown:
            raise UserError(f"unknown fast-path setting(s): {', '.join(unknown)}.")
        # the trainer's own checks (choices of amp, channels-last...), one line each
        TrainConfig(dataset=self.dataset, model="", **self.fast_path).validate()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["meter"] = None if self.meter is None else asdict(self.meter)
        return d
