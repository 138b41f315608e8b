"""Issue 19, New experiment as a guided path: an empty state that says what to do first, the
"Find the best model" hook, recipes suggested by the data with the paper one choice away, the
import dialog's free names and class names, and the settings remembered across sessions."""

from __future__ import annotations

from pathlib import Path

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.gui import recipes
from pepr_desktop.gui.import_dialog import ImportDialog, free_name, parse_class_names
from pepr_desktop.gui.views.experiment import FIND_BEST_PENDING, FIND_BEST_TIP
from tests.conftest import write_npz


def test_first_launch_says_what_to_do_first(window, qtbot) -> None:
    ex = window.experiment
    assert ex.stack.currentWidget() is ex.empty
    text = ex.empty.text()
    for step in ("Import data", "Set a budget", "Find the best model", "Recommend models", "Train"):
        assert step in text
    assert not ex.task_bar.isVisibleTo(ex)  # nothing to tune or cancel yet
    assert not ex.advanced.content.isVisibleTo(ex)  # folded away, one click from view
    ex.advanced.toggle.click()
    assert ex.advanced.content.isVisibleTo(ex)
    tv = window.training
    assert tv.stack.currentWidget() is tv.empty and "New experiment" in tv.empty.text()
    assert window.runs.stack.currentWidget() is window.runs.empty


def test_find_the_best_model_is_the_primary_action(window, qtbot) -> None:
    ex = window.experiment  # the search itself: tests/gui/test_find_best.py
    assert ex.find_best_btn.objectName() == "primary"
    assert ex.find_best_btn.isEnabled() and ex.find_best_btn.toolTip() == FIND_BEST_TIP
    ex.set_find_best_available(False)
    assert not ex.find_best_btn.isEnabled()
    assert ex.find_best_btn.toolTip() == FIND_BEST_PENDING


def test_recipes_follow_the_data_and_the_paper_is_one_choice_away(window, tmp_path: Path) -> None:
    ex = window.experiment
    ex.select_dataset("sample")  # 9x more pneumonia than normal in training
    assert ex.recipe() == recipes.SUGGESTED
    assert ex.sampler_combo.currentText() == "balanced"
    assert "class-balanced sampling" in ex.recipe_note.text()
    assert ex.base_config("resnet10t").sampler == "balanced"
    ex.recipe_combo.setCurrentIndex(ex.recipe_combo.findData(recipes.PAPER))
    paper = TrainConfig(dataset="sample", model="resnet10t")
    cfg = ex.base_config("resnet10t")
    assert (cfg.sampler, cfg.image_size, cfg.class_weights) == (
        paper.sampler,
        paper.image_size,
        paper.class_weights,
    )
    ex.augment_combo.setCurrentText("light")  # a hand edit: the recipe is the user's own
    assert ex.recipe() == recipes.CUSTOM and "light augmentation" in ex.recipe_note.text()
    # 8 px images are upscaled by the suggestion, not trained at 8 px without a word
    small = write_npz(tmp_path / "tiny.npz", (40, 10, 10), side=8)
    ex.recipe_combo.setCurrentIndex(ex.recipe_combo.findData(recipes.SUGGESTED))
    assert ex.import_path(small)
    assert ex.image_size_spin.value() == recipes.UPSCALE_PX
    assert "upscaled from 8 px" in ex.recipe_note.text()
    assert ex.sampler_combo.currentText() == "shuffle"  # balanced data: no resampling


def test_a_colliding_file_name_gets_a_free_name_not_an_error(
    window, tmp_path: Path, dialogs
) -> None:
    ex = window.experiment
    f = write_npz(tmp_path / "pneumoniamnist_28.npz", (30, 10, 10), side=28)
    assert ex.import_path(f, class_names=["normal", "pneumonia"])
    assert ex.import_path(f)
    assert dialogs == []
    names = sorted(d["name"] for d in window.ctx.store.datasets())
    assert names == ["my_pneumoniamnist_28", "my_pneumoniamnist_28_2"]
    first = window.ctx.store.get_dataset("my_pneumoniamnist_28")
    assert first["class_names"] == ["normal", "pneumonia"]
    assert ex.dataset_name() == "my_pneumoniamnist_28_2"


def test_import_dialog_suggests_a_free_name_and_takes_class_names(qtbot, tmp_path: Path) -> None:
    taken = {"pneu", "pneu_2"}
    f = write_npz(tmp_path / "pneu.npz", (4, 2, 2), side=8)
    dlg = ImportDialog(f, taken.__contains__)
    qtbot.addWidget(dlg)
    assert dlg.name_edit.text() == "pneu_3"
    dlg.name_edit.setText("pneu")  # typed a taken name: a note, and the free one is used
    assert "pneu_3" in dlg.name_note.text()
    dlg.classes_edit.setText(" normal, pneumonia ,")
    assert dlg.values() == ("pneu_3", ["normal", "pneumonia"])
    folder = tmp_path / "images"
    folder.mkdir()
    fdlg = ImportDialog(folder, taken.__contains__)
    qtbot.addWidget(fdlg)
    assert not fdlg.classes_edit.isEnabled()  # a folder's classes are its sub-folders
    assert free_name("sample", lambda _n: False) == "my_sample"
    assert free_name("3 scans!", lambda _n: False) == "d_3_scans_"
    assert parse_class_names("  ") is None


def test_dataset_budget_recipe_device_and_epochs_are_remembered(qtbot, isolated, dialogs) -> None:
    from pepr_desktop.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    ex = win.experiment
    f = write_npz(isolated / "mine.npz", (30, 10, 10), side=28)
    assert ex.import_path(f, "mine")
    ex.energy_spin.setValue(2.5)
    ex.time_spin.setValue(7)
    ex.params_spin.setValue(1.5)
    ex.epochs_spin.setValue(4)
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.recipe_combo.setCurrentIndex(ex.recipe_combo.findData(recipes.CUSTOM))
    ex.lr_spin.setValue(0.002)
    win.ctx.shutdown()

    again = MainWindow()  # a new session on the same settings file
    qtbot.addWidget(again)
    ex2 = again.experiment
    assert ex2.dataset_name() == "mine"
    assert ex2.budget() == Budget(energy_wh=2.5, time_min=7.0, max_params=1_500_000)
    assert ex2.epochs_spin.value() == 4
    assert ex2.budget_box.device() == "cpu"
    assert ex2.recipe() == recipes.CUSTOM and abs(ex2.lr_spin.value() - 0.002) < 1e-9
    again.ctx.shutdown()
