"""New experiment's recipe search (issue 12, GUI side): tune on the TaskWorker, show the trials,
apply the winner to the training fields; Cancel stops the running trial."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

MODEL = "mobilenetv3_small_050"


def _candidate(model: str, fits: bool = True) -> SimpleNamespace:
    return SimpleNamespace(model=model, pretrained=False, image_size=None, fits=fits, params=None)


def _set_up(win, recipes) -> None:
    ex = win.experiment
    ex.select_dataset("sample")
    ex.fraction_spin.setValue(0.15)
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.tune_recipes = recipes
    ex.tune_epochs_spin.setValue(1)
    ex.tune_top_spin.setValue(1)
    ex.tune_min_spin.setValue(2.0)
    # a recommendation's candidates (the recommender itself is tested in test_flow)
    ex.show_candidates([_candidate(MODEL), _candidate("resnet10t", fits=False)])


def test_tune_recipe_shows_trials_and_applies_the_best(window, qtbot, dialogs) -> None:
    from pepr_desktop.core.search.tune import Recipe

    ex = window.experiment
    recipes = [
        Recipe("paper", {}),
        Recipe("aug+cosine", {"augment": "light", "schedule": "cosine", "lr": 2e-3}),
    ]
    _set_up(window, recipes)
    ex.tune_btn.click()
    assert not ex.tune_btn.isEnabled() and ex.cancel_btn.isEnabled()  # runs in the background
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=60_000)
    assert dialogs == []
    res = ex.tune_result
    assert res is not None and res.budget_s == pytest.approx(120)
    # only the fitting candidate was tried, once per recipe, and never the test split
    assert [(t.model, t.recipe) for t in res.trials] == [(MODEL, "paper"), (MODEL, "aug+cosine")]
    assert res.to_dict()["test_split_used"] is False
    assert res.spent_s <= res.budget_s
    assert ex.tune_box.isVisible() or not ex.isVisible()
    assert ex.trials_table.rowCount() == 2
    assert {ex.trials_table.item(r, 1).text() for r in range(2)} == {"paper", "aug+cosine"}
    assert "spent" in ex.tune_summary.text() and "chosen" in ex.tune_summary.text()
    best = res.best
    assert best is not None and best.score is not None
    # the chosen recipe is now in the training fields and its model is the selected candidate
    if best.recipe == "aug+cosine":
        assert ex.augment_combo.currentText() == "light"
        assert ex.schedule_combo.currentText() == "cosine"
        assert ex.lr_spin.value() == pytest.approx(2e-3)
    else:
        assert ex.augment_combo.currentText() == "none"
    cfgs = ex.selected_configs()
    assert [c.model for c in cfgs] == [MODEL]
    assert cfgs[0].augment == ex.augment_combo.currentText()
    assert "recipe search" in ex.progress.format()


def test_tune_cancel_stops_the_running_trial(window, qtbot, dialogs) -> None:
    from pepr_desktop.core.search.tune import Recipe

    ex = window.experiment
    _set_up(window, [Recipe("paper", {}), Recipe("again", {"lr": 1e-3})])
    ex.tune_epochs_spin.setValue(50)  # far longer than the test waits
    ex.tune_btn.click()
    qtbot.wait(1500)  # inside the first trial
    ex.cancel_btn.click()
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=30_000)
    assert dialogs == []
    res = ex.tune_result
    assert res.trials[0].status == "stopped"
    assert res.trials[1].status == "skipped" and "cancelled" in res.trials[1].note


def test_tune_without_candidates_is_a_dialog(window, dialogs) -> None:
    ex = window.experiment
    ex.select_dataset("sample")
    ex.tune_btn.click()
    assert len(dialogs) == 1 and "Recommend first" in dialogs[0][1]
    assert not window.ctx.tasks.busy
