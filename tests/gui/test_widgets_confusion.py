"""ConfusionView: matrix cells, per-class table, ROC for binary tasks, misclassified browser."""

from __future__ import annotations

import numpy as np
from issue13_helpers import SHARED_NPZ

from pepr_desktop.core.training.evaluation import evaluate_predictions
from pepr_desktop.gui.widgets.confusion import ConfusionView, misclassified_images

PROBS = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])
LABELS = np.array([0, 1, 1, 1, 0])  # wrong: #2 (pneumonia -> normal), #4 (normal -> pneumonia)


def test_matrix_table_roc_and_browser(qtbot) -> None:
    ev = evaluate_predictions(PROBS, LABELS, ["normal", "pneumonia"])
    images = {i: np.full((28, 28), 40 * i, dtype=np.uint8) for i in ev["misclassified"]["index"]}
    view = ConfusionView()
    qtbot.addWidget(view)
    view.set_evaluation(ev, images)
    m = view.matrix
    assert [[m.item(i, j).text().split()[0] for j in range(2)] for i in range(2)] == [
        ["1", "1"],
        ["1", "2"],
    ]
    assert m.item(1, 1).text().split()[1] == "66.7%"
    assert [view.per_class.item(0, c).text() for c in range(5)] == [
        "normal", "0.500", "0.500", "0.500", "2",
    ]  # fmt: skip
    assert not view.roc.isHidden() and "AUC" in view.title.text()
    with qtbot.waitSignal(view.cellChosen) as sig:
        view.choose_cell(1, 0)
    assert sig.args == [1, 0]
    assert view.browser.count() == 1 and view.browser.item(0).text().startswith("#2")
    assert not view.browser.item(0).icon().isNull()
    view.choose_cell(0, 0)
    assert view.browser.count() == 0 and "correctly" in view.browser_label.text()


def test_multiclass_has_no_roc_and_empty_state(qtbot) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=30)
    ev = evaluate_predictions(probs, rng.integers(0, 3, 30), ["a", "b", "c"])
    view = ConfusionView()
    qtbot.addWidget(view)
    view.set_evaluation(ev)
    assert view.matrix.rowCount() == 3 and view.roc.isHidden()
    total = sum(int(view.matrix.item(i, j).text().split()[0]) for i in range(3) for j in range(3))
    assert total == 30
    view.set_evaluation(None)
    assert view.matrix.rowCount() == 0 and "No evaluation" in view.title.text()


def test_load_run_reads_misclassified_images_from_dataset(qtbot, store) -> None:
    if not SHARED_NPZ.is_file():
        import pytest

        pytest.skip(f"no shared data: {SHARED_NPZ}")
    from pepr_desktop.core.data.registry import import_dataset

    import_dataset(SHARED_NPZ, "pneu", store, class_names=["normal", "pneumonia"])
    ev = evaluate_predictions(PROBS, LABELS, ["normal", "pneumonia"])
    run_id = store.create_run(dataset="pneu", model="resnet10t", config={})
    store.update_run(run_id, status="finished", evaluation=ev)
    imgs = misclassified_images(store, store.get_run(run_id))
    with np.load(SHARED_NPZ) as z:
        for i in (2, 4):
            np.testing.assert_array_equal(imgs[i], z["test_images"][i])
    view = ConfusionView()
    qtbot.addWidget(view)
    view.load_run(store, run_id)
    view.choose_cell(0, 1)
    assert view.browser.count() == 1 and not view.browser.item(0).icon().isNull()
