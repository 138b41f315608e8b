"""Run details (figures, per-epoch table, confusion view, try-it panel) and the dataset preview
in New experiment."""

from __future__ import annotations

import numpy as np
from issue13_helpers import make_run

from pepr_desktop.core.training.evaluation import evaluate_predictions


def test_details_dialog_shows_figures_epochs_confusion_and_try_it(window, qtbot) -> None:
    store = window.ctx.store
    rid, _net = make_run(store)
    for e, (loss, acc) in enumerate([(0.7, 0.61), (0.5, 0.74)]):
        threads = {"cap": 2, "lowest": 2 - e, "changes": e}  # a busy process came in epoch 2
        store.add_epoch(
            rid,
            {"epoch": e, "train_loss": loss, "val_acc": acc, "test_acc": acc, "seconds": 1.5,
             "extra": {"cpu_threads": threads}},
            {"epochs_done": e + 1},
        )  # fmt: skip
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    ev = evaluate_predictions(probs, np.array([0, 1, 1]), ["normal", "pneumonia"])
    store.update_run(rid, evaluation=ev)
    window.ctx.runs_changed.emit()
    window.runs.select_ids([rid])
    dlg = window.runs.show_details()
    assert dlg is not None and dlg.isVisible()
    assert [dlg.tabs.tabText(i) for i in range(dlg.tabs.count())] == [
        "Summary", "Epochs (2)", "Confusion", "Try it",
    ]  # fmt: skip
    assert dlg.figures["test_acc"].text() == "0.800"
    assert dlg.figures["peak_mem_mb"].text() == "300"
    assert dlg.figures["cpu_threads"].text() == "as few as 1 of 2 (CPU shared)"
    t = dlg.epoch_table
    assert t.rowCount() == 2
    assert [t.item(1, c).text() for c in range(4)] == ["2", "0.5000", "0.7400", "0.7400"]
    assert "accuracy 0.667" in dlg.confusion.title.text()
    assert dlg.confusion.matrix.rowCount() == 2
    assert dlg.try_it.pick.isEnabled()  # finished with a checkpoint: its model can be tried
    dlg.close()


def test_details_of_a_run_without_checkpoint_cannot_be_tried(window) -> None:
    store = window.ctx.store
    rid = store.create_run(dataset="sample", model="resnet10t", config={}, epochs_planned=3)
    store.update_run(rid, status="interrupted")
    window.ctx.runs_changed.emit()
    window.runs.select_ids([rid])
    dlg = window.runs.show_details()
    assert not dlg.try_it.pick.isEnabled()
    assert "No evaluation" in dlg.confusion.title.text()
    assert dlg.epoch_table.rowCount() == 0
    assert "cpu_threads" not in dlg.figures  # never throttled: no row
    dlg.close()


def test_dataset_preview_panel_follows_the_dataset(window) -> None:
    ex = window.experiment
    ex.select_dataset("sample")
    assert ex.preview_box.isHidden()
    ex.preview_btn.setChecked(True)
    assert not ex.preview_box.isHidden()
    pv = ex.preview.preview
    assert pv is not None and pv.name == "sample"
    assert ex.preview.thumbnail_count() > 0
    assert ex.preview.counts.rowCount() == len(pv.class_names)
    ex.preview_btn.setChecked(False)
    assert ex.preview_box.isHidden()
