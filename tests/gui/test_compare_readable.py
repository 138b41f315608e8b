"""Issue 19, Compare: point labels never clip or overlap, legends sit outside the data, a run
stopped before its first epoch stays out of the curves, the confusion tab names its run, and a
collapsed model is flagged."""

from __future__ import annotations

import itertools

import numpy as np

from pepr_desktop.core.training.evaluation import evaluate_predictions
from pepr_desktop.gui.widgets import point_labels


def _run(
    store, model: str, acc: float | None, energy_j: float, epochs: int, only_one: bool = False
):
    rid = store.create_run(dataset="sample", model=model, config={}, epochs_planned=3, device="cpu")
    for e in range(epochs):
        store.add_epoch(rid, {"epoch": e, "train_loss": 0.5, "test_acc": (acc or 0) - 0.01 * e,
                              "seconds": 1.0}, {"epochs_done": e + 1})  # fmt: skip
    probs = [[0.1, 0.9]] * 3 if only_one else [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]
    ev = evaluate_predictions(np.array(probs), np.array([0, 1, 1]), ["normal", "pneumonia"])
    store.update_run(rid, status="finished" if epochs else "stopped", epochs_done=epochs,
                     test_acc=acc, test_bacc=0.5 if only_one else acc, energy_j=energy_j,
                     energy_method="rapl", train_time_s=10.0, peak_mem_mb=100.0,
                     evaluation=ev if epochs else None)  # fmt: skip
    return rid


def _overlap(a, b) -> bool:
    return a.intersects(b) and not a.intersected(b).isEmpty()


def test_compare_labels_legends_and_the_confusion_tab(window, qtbot) -> None:
    s = window.ctx.store
    ids = [
        _run(s, "mobilenetv3_small_050", 0.81, 100.0, 3),
        _run(s, "mobilenetv3_small_075", 0.812, 101.0, 3),  # almost the same point
        _run(s, "resnet10t_with_a_long_name", 0.625, 400.0, 3, only_one=True),
        _run(s, "stopped_net", None, 5.0, 0),  # stopped before its first epoch
    ]
    window.resize(1280, 720)
    window.show()
    window.ctx.runs_changed.emit()
    window.compare.set_runs(ids)
    window.tabs.setCurrentWidget(window.compare)
    qtbot.waitExposed(window)
    qtbot.wait(100)
    cv = window.compare
    cv._place_labels()  # laid out now: the labels' final places
    vb = cv.scatter_plot.getPlotItem().getViewBox()
    area = vb.sceneBoundingRect()
    boxes = [t.sceneBoundingRect() for t in cv.labels]
    assert len(boxes) == 3  # the run without accuracy has no point
    assert all(area.contains(b) for b in boxes), "a label leaves the plot"
    assert not any(_overlap(a, b) for a, b in itertools.combinations(boxes, 2))
    # legends below the axes, never over the curves
    for plot in (cv.scatter_plot, cv.curves_plot):
        pi = plot.getPlotItem()
        assert pi.layout.itemAt(4, 1) is pi.legend
    names = [label.text for _sample, label in cv.curves_plot.getPlotItem().legend.items]
    assert len(names) == 3 and not any("stopped_net" in n for n in names)
    # the flag beside the accuracy, and the confusion tab names its run
    flag_col = [cv.table.horizontalHeaderItem(c).text() for c in range(cv.table.columnCount())]
    col = flag_col.index("Check")
    flagged = {int(cv.table.item(r, 0).text()): cv.table.item(r, col).text() for r in range(4)}
    assert "predicts only 'pneumonia'" in flagged[ids[2]] and flagged[ids[0]] == ""
    row = next(r for r in range(4) if int(cv.table.item(r, 0).text()) == ids[0])
    cv.table.selectRow(row)
    tab = cv.bottom_tabs.tabText(cv.bottom_tabs.indexOf(cv.confusion))
    assert tab == f"Confusion: #{ids[0]} mobilenetv3_small_050"
    assert cv.confusion.title.text().startswith(f"Run #{ids[0]} mobilenetv3_small_050")


def test_labels_of_a_crowd_do_not_overlap_and_stay_inside() -> None:
    pts = [(300.0, 150.0)] * 5 + [(598.0, 2.0), (1.0, 298.0)]
    texts = [f"#{i} model_{i}" for i in range(len(pts))]
    placed = point_labels.place(pts, texts, 600, 300)
    rects = [(p.x, p.y, p.x + p.w, p.y + p.h) for p in placed]
    for x0, y0, x1, y1 in rects:
        assert x0 >= 0 and y0 >= 0 and x1 <= 600 and y1 <= 300
    for a, b in itertools.combinations(rects, 2):
        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert any(p.leader for p in placed)  # a crowd needs leader lines
