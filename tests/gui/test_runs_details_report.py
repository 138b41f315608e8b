"""Issue 19: Runs shows balanced accuracy, PePR and the degenerate-model flag; Run details has a
readable summary (tables, sensible precision, no JSON dump), exports the model and saves a short
report (HTML with the curves embedded, or PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from issue13_helpers import make_run

from pepr_desktop.core.scoring.compare import compare_runs
from pepr_desktop.core.training.evaluation import evaluate_predictions
from pepr_desktop.gui.views.runs import COLUMNS

NAMES = ["normal", "pneumonia"]


def _finish(store, rid: int, acc: float, bacc: float, energy_j: float, probs, labels) -> None:
    ev = evaluate_predictions(np.array(probs), np.array(labels), NAMES)
    store.update_run(
        rid,
        status="finished",
        epochs_done=1,
        test_acc=acc,
        test_bacc=bacc,
        energy_j=energy_j,
        energy_method="cpu_estimate+dram_estimate",
        co2_g=0.0412,
        train_time_s=75.0,
        peak_mem_mb=1234.5,
        evaluation=ev,
    )


def _two_runs(store) -> tuple[int, int]:
    good, _ = make_run(store)
    _finish(store, good, 0.943, 0.93, 144.0, [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], [0, 1, 1])
    store.add_epoch(good, {"epoch": 0, "train_loss": 0.4, "val_acc": 0.9, "test_acc": 0.943,
                           "seconds": 75.0, "energy_j": 144.0}, {"epochs_done": 1})  # fmt: skip
    bad, _ = make_run(store, seed=1)  # answers 'pneumonia' for everything
    _finish(store, bad, 0.625, 0.5, 72.0, [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]], [0, 1, 1])
    return good, bad


def _cell(view, rid: int, key: str) -> str:
    col = [k for k, _ in COLUMNS].index(key)
    for r in range(view.proxy.rowCount()):
        if int(view.proxy.index(r, 0).data()) == rid:
            return str(view.proxy.index(r, col).data())
    raise AssertionError(f"run {rid} not shown")


def test_runs_show_balanced_accuracy_pepr_and_the_flag(window) -> None:
    store = window.ctx.store
    good, bad = _two_runs(store)
    window.ctx.runs_changed.emit()
    rv = window.runs
    assert rv.stack.currentWidget() is rv.table
    headers = [rv.model.horizontalHeaderItem(i).text() for i in range(rv.model.columnCount())]
    assert {"Bal. acc.", "PePR-E", "Check"} <= set(headers)
    assert _cell(rv, good, "test_bacc") == "0.930" and _cell(rv, good, "test_acc") == "0.943"
    table = compare_runs(store.runs(), "energy")
    want = {r.run_id: r.pepr["energy"] for r in table.rows}
    assert _cell(rv, good, "pepr") == f"{want[good]:.3f}"
    assert _cell(rv, bad, "pepr") == f"{want[bad]:.3f}"
    assert _cell(rv, good, "flag") == ""
    assert "predicts only 'pneumonia'" in _cell(rv, bad, "flag")


def test_details_summary_is_a_readable_table(window, tmp_path: Path) -> None:
    store = window.ctx.store
    good, bad = _two_runs(store)
    window.ctx.runs_changed.emit()
    window.runs.select_ids([good])
    dlg = window.runs.show_details()
    f = dlg.figures
    assert f["test_acc"].text() == "0.943" and f["test_bacc"].text() == "0.930"
    assert f["co2_g"].text() == "0.041 g"  # not 0.0 g
    assert f["energy_j"].text().startswith("0.0400 Wh (144 J), estimated")
    assert f["peak_mem_mb"].text() == "1,234" and f["train_time_s"].text() == "1:15"
    settings = {dlg.settings_table.item(r, 0).text(): dlg.settings_table.item(r, 1).text()
                for r in range(dlg.settings_table.rowCount())}  # fmt: skip
    assert settings["Learning rate"] == "0.0005" and settings["Image size (px)"] == "dataset's own"
    texts = [dlg.results_table.item(r, 1).text() for r in range(dlg.results_table.rowCount())]
    assert not any("{" in t for t in texts + list(settings.values()))  # no JSON dump
    # a short report: the curves embedded, the confusion matrix, energy and settings
    html = dlg.save_report(tmp_path / "r.html")
    text = html.read_text()
    assert "data:image/png;base64," in text and "predicted pneumonia" in text
    assert "Energy and time per epoch" in text and "Learning rate" in text
    png = dlg.save_report(tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dlg.close()
    window.runs.select_ids([bad])
    bad_dlg = window.runs.show_details()
    assert bad_dlg.verdict is not None and "pneumonia" in bad_dlg.verdict.label
    bad_dlg.close()


def test_details_export_the_model(window, qtbot, tmp_path: Path, dialogs) -> None:
    store = window.ctx.store
    good, _bad = _two_runs(store)
    window.ctx.runs_changed.emit()
    window.runs.select_ids([good])
    dlg = window.runs.show_details()
    assert dlg.export_btn.isEnabled()
    dlg.export_model(tmp_path / "model.safetensors")
    qtbot.waitUntil(lambda: getattr(dlg, "exported", None) is not None, timeout=60_000)
    model, sidecar = dlg.exported
    assert model.is_file() and model.stat().st_size > 1000 and sidecar.is_file()
    dlg.export_model(tmp_path / "model.txt")  # an unknown format: a dialog, no file
    assert dialogs and "onnx" in dialogs[-1][1]
    dlg.close()
