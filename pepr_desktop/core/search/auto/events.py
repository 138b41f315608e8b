"""What a budgeted search reports: one record per trial (pruned and skipped ones included) and
the typed progress events its `emit` callback receives (the CLI prints them, the GUI charts them).

Every event carries `spent`, the budget guard's snapshot (`BudgetGuard.to_dict()`), so a consumer
can draw the budget bar from any event. Plain frozen dataclasses: they cross threads (Qt
signals) without any framework attached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# TrialRecord.status values
COMPLETE, PRUNED, SKIPPED, FAILED, STOPPED = "complete", "pruned", "skipped", "failed", "stopped"


@dataclass
class TrialRecord:
    """One trial of the search phase, or one final run (phase "final")."""

    number: int  # the Optuna trial number; final runs: the number of the trial they continue
    phase: str  # "search" or "final"
    model: str
    image_size: int
    recipe: str
    params: dict[str, Any]
    status: str = SKIPPED
    note: str = ""
    run_id: int | None = None
    epochs: int = 0
    epochs_planned: int = 0
    data_fraction: float = 1.0
    val: dict[str, float | None] = field(default_factory=dict)  # last epoch's validation figures
    score: float | None = None  # the search metric on validation at the last epoch
    curve: list[float | None] = field(default_factory=list)  # the search metric per epoch
    seconds: float = 0.0  # wall clock of the run (build, epochs, evaluation)
    energy_wh: float | None = None  # measured by the run's meter
    peak_mem_mb: float | None = None
    predicted: dict[str, Any] | None = None  # auto_predict.Prediction (+ actual for finals)
    test: dict[str, float | None] | None = None  # final runs only: read once, at the end
    degenerate: str | None = None  # degenerate.Verdict label, when it collapsed
    pepr: float | None = None  # PePR over the search's trials (validation metric, resource)
    on_pareto_front: bool = False
    host: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchPlanned:
    """The probe is done: the arms (model x input size) the search will draw from."""

    search_id: str
    spent: dict[str, Any]
    arms: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    storage: str
    message: str


@dataclass(frozen=True)
class TrialStarted:
    search_id: str
    spent: dict[str, Any]
    number: int
    phase: str
    model: str
    image_size: int
    recipe: str
    epochs: int


@dataclass(frozen=True)
class TrialEpoch:
    """One epoch of a trial or final run: validation figures only."""

    search_id: str
    spent: dict[str, Any]
    number: int
    phase: str
    run_id: int
    epoch: int  # 0-based
    metrics: dict[str, float | None]
    seconds: float
    energy_j: float | None


@dataclass(frozen=True)
class TrialProgress:
    """At most once a second inside a run: where it is (for progress bars)."""

    search_id: str
    spent: dict[str, Any]
    number: int
    phase: str
    run_id: int
    epoch: int
    batch: int
    batches: int


@dataclass(frozen=True)
class TrialEnded:
    search_id: str
    spent: dict[str, Any]
    record: TrialRecord
    best: TrialRecord | None  # best complete trial so far (by the search metric)


@dataclass(frozen=True)
class SearchFinished:
    search_id: str
    spent: dict[str, Any]
    result: Any  # auto.AutoResult


SearchEvent = (
    SearchPlanned | TrialStarted | TrialEpoch | TrialProgress | TrialEnded | SearchFinished
)
