"""The budget of a run or a recommendation: energy, time, memory and (for the recommender) model
size, each None when unlimited.

One type for every layer: the recommender ranks models against it, the training loop stops before
an epoch would break it (`Budget.exceeded`), the GUI's budget box and the CLI's flags build it.
A `TrainConfig` stores its budget as the flat fields named in `TRAIN_FIELDS` (stored run configs
are JSON, so those names stay) and gives it back as `TrainConfig.budget`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pepr_desktop.core.errors import UserError

# Budget field -> the TrainConfig field that stores it (max_params is the recommender's only)
TRAIN_FIELDS = {
    "energy_wh": "budget_energy_wh",
    "time_min": "budget_time_min",
    "memory_mb": "budget_memory_mb",
}


@dataclass
class Budget:
    energy_wh: float | None = None
    time_min: float | None = None
    memory_mb: float | None = None
    max_params: int | None = None

    def describe(self) -> str:
        parts = []
        if self.energy_wh is not None:
            parts.append(f"energy <= {self.energy_wh:g} Wh")
        if self.time_min is not None:
            parts.append(f"time <= {self.time_min:g} min")
        if self.memory_mb is not None:
            parts.append(f"memory <= {self.memory_mb:g} MB")
        if self.max_params is not None:
            parts.append(f"params <= {self.max_params:,}")
        return ", ".join(parts) or "no budget"

    def validate(self) -> Budget:
        for label, v in (
            ("energy budget (Wh)", self.energy_wh),
            ("time budget (min)", self.time_min),
            ("memory budget (MB)", self.memory_mb),
        ):
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise UserError(f"{label} must be a positive number, not {v!r}.")
        if self.max_params is not None and (
            isinstance(self.max_params, bool)
            or not isinstance(self.max_params, int)
            or self.max_params < 1
        ):
            raise UserError(f"max params must be a positive whole number, not {self.max_params!r}.")
        return self

    def train_fields(self) -> dict[str, float | None]:
        """The TrainConfig keyword arguments that store this budget: `TrainConfig(...,
        **budget.train_fields())`. max_params is not one (it only filters recommendations)."""
        return {cfg_name: getattr(self, name) for name, cfg_name in TRAIN_FIELDS.items()}

    @classmethod
    def of_config(cls, cfg: Any) -> Budget:
        """The budget a TrainConfig (or anything with its `budget_*` fields) stores."""
        return cls(**{name: getattr(cfg, cfg_name) for name, cfg_name in TRAIN_FIELDS.items()})

    def exceeded(self, state: dict[str, Any], epochs_done: int, peak_mb: float) -> str:
        """Why another epoch of a run would break this budget ('' when it would not).

        `state` is the training loop's (`train_time_s`, `energy_j` so far); `epochs_done` counts
        the epochs of this session, `peak_mb` is the last epoch's peak memory. Time and energy are
        projected with the mean epoch so far, so the run stops *before* an epoch that would
        overrun, keeping its results.
        """
        elapsed = state.get("train_time_s", 0.0)
        if self.time_min is not None:
            per_epoch = elapsed / max(epochs_done, 1)
            if elapsed + per_epoch > self.time_min * 60:
                return f"time: {elapsed / 60:.2f} min used, next epoch ~{per_epoch / 60:.2f} min"
        energy = state.get("energy_j")
        if self.energy_wh is not None and energy is not None:
            per_epoch = energy / max(epochs_done, 1)
            if (energy + per_epoch) / 3600 > self.energy_wh:
                return f"energy: {energy / 3600:.3f} Wh used, next epoch ~{per_epoch / 3600:.3f} Wh"
        if self.memory_mb is not None and peak_mb > self.memory_mb:
            return f"memory: peak {peak_mb:.0f} MB above {self.memory_mb:.0f} MB"
        return ""
