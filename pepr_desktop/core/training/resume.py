"""Which stored runs can be resumed, and with which settings: the checks every front end shares.

A run continues with its own stored settings (never the caller's), so a resumed run cannot
silently train with other numbers. The runner repeats the status check atomically when it claims
the run (`Store.claim_run`); these checks give the early, friendly refusal.
"""

from __future__ import annotations

from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import TrainConfig

RESUMABLE = ("interrupted", "stopped")


def is_resumable(run: dict[str, Any]) -> bool:
    return run.get("status") in RESUMABLE


def resume_config(run: dict[str, Any]) -> TrainConfig:
    """The validated settings to continue `run` with; UserError when it cannot be resumed."""
    run_id = run.get("id")
    if not is_resumable(run):
        raise UserError(
            f"run {run_id} is {run.get('status')}; only interrupted or stopped runs can be resumed."
        )
    config = run.get("config")
    if not isinstance(config, dict) or "dataset" not in config or "model" not in config:
        raise UserError(
            f"run {run_id} has no stored settings, so it cannot be resumed; start a new run "
            "instead."
        )
    cfg = TrainConfig.from_dict(config)
    cfg.validate()
    return cfg
