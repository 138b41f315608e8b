"""The background work of New experiment: the recommender, the recipe search and the budgeted
search ("Find the best model"), run on the context's `TaskWorker` over core's `recommend_for` /
`tune_for` / `run_search` with a `RemoteStore`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.tune import TuneResult
from pepr_desktop.core.store.remote import RemoteStore
from pepr_desktop.core.training.config import Control, TrainConfig
from pepr_desktop.gui.worker import TaskProgress


class CancelControl(Control):
    """A training Control that also reads the TaskWorker's cancel flag, so the tuner's running
    trial stops within one batch when the user presses Cancel (or closes the window)."""

    def __init__(self) -> None:
        super().__init__()
        self.should_stop: Any = None

    @property
    def stopped(self) -> bool:
        if not self._stop.is_set() and self.should_stop is not None and self.should_stop():
            self.stop("cancelled")
        return self._stop.is_set()


# task bodies (run on the TaskWorker's thread; the store is a RemoteStore, never a Store) --------
def recommend_task(
    progress: Any,
    should_stop: Any,
    *,
    dataset: str,
    db_path: Path,
    budget: Budget,
    cfg: TrainConfig,
    by: str,
    names: list[str] | None = None,
) -> Any:
    """`core.recommend.recommend_for` with its progress as `TaskProgress` messages."""
    from pepr_desktop.core.search.recommend import recommend_for

    return recommend_for(
        dataset,
        lambda: RemoteStore(db_path),
        budget,
        cfg,
        by=by,
        top=10,
        progress=lambda done, total, text="": progress(TaskProgress(done, total, text)),
        should_stop=should_stop,
        **({"names": names} if names else {}),
    )


def tune_task(
    progress: Any,
    should_stop: Any,
    *,
    dataset: str,
    db_path: Path,
    base: TrainConfig,
    candidates: list[Any],
    control: CancelControl,
    total: int,
    **kwargs: Any,
) -> TuneResult:
    """`core.tune.tune_for`, cancelled through `control`, one `TaskProgress` per trial."""
    from pepr_desktop.core.search.tune import tune_for

    control.should_stop = should_stop
    done: list[Any] = []

    def on_trial(t: Any) -> None:
        done.append(t)
        score = "" if t.score is None else f" {t.score:.3f}"
        progress(TaskProgress(len(done), total, f"{t.model} / {t.recipe}: {t.status}{score}"))

    return tune_for(
        dataset,
        lambda: RemoteStore(db_path),
        base,
        candidates,
        progress=on_trial,
        control=control,
        **kwargs,
    )


class SearchCancelled:
    """The result of a budgeted search cancelled before any run existed (while probing)."""


def find_best_task(
    progress: Any,
    should_stop: Any,
    *,
    db_path: Path,
    spec: Any,
    control: CancelControl,
) -> Any:
    """`core.search.auto.run_search` with its typed events passed through unchanged as the
    task's progress messages (the search panel routes them by class); an `AutoResult` at the
    end, or `SearchCancelled` when Cancel came before anything ran."""
    from pepr_desktop.core.search.auto.engine import run_search

    control.should_stop = should_stop
    store = RemoteStore(db_path)
    try:
        return run_search(spec, store, control=control, emit=progress)
    except UserError:
        if control.stopped:  # cancelled while probing: no model was kept, and that is no error
            return SearchCancelled()
        raise
    finally:
        store.close()
