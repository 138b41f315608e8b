"""Typed events the trainer emits: the store persists them, the CLI prints, the GUI charts them.

Events are plain frozen dataclasses so that they cross threads (Qt signals) and processes (Ray)
without any framework attached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    model: str
    dataset: str
    device: str
    params: int
    epochs: int
    batches_per_epoch: int
    start_epoch: int = 0  # > 0 when a run resumes from a checkpoint


@dataclass(frozen=True)
class BatchEnded:
    run_id: int
    epoch: int  # 0-based
    batch: int  # 1-based count of batches done in this epoch
    batches: int
    elapsed_s: float  # since the run started


@dataclass(frozen=True)
class EpochEnded:
    """One finished epoch. Resource figures are None when unavailable, never 0."""

    run_id: int
    epoch: int  # 0-based
    train_loss: float
    metrics: dict[str, float]  # val_acc, val_auc, val_bacc, test_acc, test_auc, test_bacc
    seconds: float  # wall time of this epoch (training + evaluation)
    peak_mem_mb: float | None
    mem_method: str  # "cuda_reserved", or "run_rss_growth" on the CPU ("process_rss" in old runs)
    energy_j: float | None = None
    energy_net_j: float | None = None
    energy_method: str = "unavailable"
    energy_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeterSample:
    """One reading of the meters: power per component (W) and cumulative energy (J)."""

    run_id: int
    t: float  # seconds since the run started
    power_w: dict[str, float]
    energy_j: float | None
    method: str


@dataclass(frozen=True)
class RunFinished:
    run_id: int
    status: str  # "finished", "stopped" or "failed"
    reason: str = ""  # "user", "budget", "interrupt", "error", ...
    message: str = ""
    evaluation: dict[str, Any] | None = field(default=None, repr=False)  # per-class test figures


Event = RunStarted | BatchEnded | EpochEnded | MeterSample | RunFinished


def to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's type name under "event"."""
    return {"event": type(event).__name__, **asdict(event)}
