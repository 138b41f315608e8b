"""Issue 17, GUI side of New experiment: option combos come from core's choice tuples, the budget
box reads as core's Budget, progress is typed and results are routed by their type."""

from __future__ import annotations

from types import SimpleNamespace

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.training.config import AUGMENTS, CLASS_WEIGHTS, SAMPLERS, SCHEDULES
from pepr_desktop.gui.widgets.tables import NumericItem, cell, fmt
from pepr_desktop.gui.worker import TaskProgress


def _items(combo) -> tuple[str, ...]:
    return tuple(combo.itemText(i) for i in range(combo.count()))


def test_combos_are_core_choices(window) -> None:
    ex = window.experiment
    assert _items(ex.class_weights_combo) == CLASS_WEIGHTS
    assert _items(ex.augment_combo) == AUGMENTS
    assert _items(ex.schedule_combo) == SCHEDULES
    assert _items(ex.sampler_combo) == SAMPLERS


def test_budget_box_is_core_budget_and_fills_the_config(window) -> None:
    ex = window.experiment
    assert ex.budget() == Budget()
    ex.energy_spin.setValue(2.5)
    ex.time_spin.setValue(10)
    ex.params_spin.setValue(1.5)
    b = ex.budget()
    assert b == Budget(energy_wh=2.5, time_min=10.0, memory_mb=None, max_params=1_500_000)
    cfg = ex.base_config("m")
    assert cfg.budget == Budget(energy_wh=2.5, time_min=10.0)  # max_params is not stored
    assert (cfg.budget_energy_wh, cfg.budget_time_min, cfg.budget_memory_mb) == (2.5, 10.0, None)
    # the device list ends with the CPU, the status bar names the first device
    last = ex.device_combo.count() - 1
    assert ex.device_combo.itemData(last) == "cpu"
    ex.device_combo.setCurrentIndex(last)
    assert ex.base_config("m").device == "cpu"
    assert window.device_label.text() == "Device: " + ex.device_combo.itemText(0)


def test_progress_is_typed(window) -> None:
    ex = window.experiment
    ex._on_progress(TaskProgress(1, 4, "probing lcnet_050"))
    assert ex.progress.maximum() == 1000 and ex.progress.value() == 250
    assert ex.progress.format().startswith("probing lcnet_050")
    ex._on_progress((3, 4, "a tuple is not a progress message"))
    assert ex.progress.value() == 250 and ex.progress.format().startswith("probing")


def test_results_are_routed_by_type(window) -> None:
    from pepr_desktop.core.search.recommend import Candidate, Recommendation
    from pepr_desktop.core.search.tune import TuneResult

    ex = window.experiment
    cand = Candidate(
        model="lcnet_050",
        params=1_000_000,
        flops=1e6,
        pretrained=False,
        predicted_time_s=60.0,
        predicted_energy_wh=0.1,
        predicted_memory_mb=50.0,
        expected_acc=0.8,
        acc_source="paper",
        expected_pepr=0.7,
        fits=True,
        why="",
    )
    rec = Recommendation([cand], [cand], "1 of 1 fit", "energy", 0.1)
    ex._on_task_result(rec)
    assert ex.table.rowCount() == 1 and ex.table.item(0, 1).text() == "lcnet_050"
    assert ex.tune_result is None
    res = TuneResult("val_bacc", 60.0, 1.0, None, 1, trials=[], best=None)
    ex._on_task_result(res)
    assert ex.tune_result is res and ex.table.rowCount() == 1
    ex._on_task_result(SimpleNamespace(candidates=[]))  # not this view's: ignored
    assert ex.table.rowCount() == 1 and ex.tune_result is res


def test_task_failure_title_follows_the_task(window, dialogs) -> None:
    ex = window.experiment
    ex._failure_title = "Recipe search failed"  # what tune() sets when it starts its task
    ex._on_task_error("boom")
    assert dialogs[-1] == ("Recipe search failed", "boom")
    assert ex.progress.format() == "failed"


def test_table_helpers() -> None:
    assert fmt(None) == "n/a" and fmt(True) == "yes" and fmt(0.5) == "0.500"
    assert fmt(12345.0) == "12,345" and fmt(3) == "3" and fmt(float("nan")) == "n/a"
    a, b, none = cell(2.0), cell(10), cell(None)
    assert isinstance(a, NumericItem) and isinstance(b, NumericItem)
    assert not isinstance(none, NumericItem) and none.text() == "n/a"
    assert a < b and not b < a
    assert cell(True).text() == "yes" and not isinstance(cell(True), NumericItem)
