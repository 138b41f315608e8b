"""End-to-end flows through the real window: train on the bundled sample, see the charts receive
data, find the runs, compare and export; stop mid-run; close during a run; bad imports."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

from pepr_desktop.core.events import EpochEnded, RunFinished
from pepr_desktop.core.store import Store

MODEL = "mobilenetv3_small_050"


def _set_up(win, epochs: int, fraction: float = 0.3, seed: int = 0) -> None:
    ex = win.experiment
    ex.select_dataset("sample")
    ex.epochs_spin.setValue(epochs)
    ex.fraction_spin.setValue(fraction)
    ex.seed_spin.setValue(seed)
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.model_edit.setText(MODEL)


def _finished_events(win) -> list[RunFinished]:
    return [e for e in win._seen if isinstance(e, RunFinished)]


def _record_events(win) -> None:
    win._seen = []
    win.ctx.training.event.connect(win._seen.append)


def test_train_two_runs_then_compare_and_export(window, qtbot, tmp_path: Path, dialogs) -> None:
    win = window
    _record_events(win)
    _set_up(win, epochs=2, fraction=0.15)
    win.experiment.energy_spin.setValue(5.0)  # a budget the tiny run cannot reach
    win.experiment.train_btn.click()
    assert win.tabs.currentWidget() is win.training
    _set_up(win, epochs=1, fraction=0.15, seed=1)
    win.experiment.energy_spin.setValue(0)  # shows as "no limit"
    win.experiment.train_btn.click()  # queued behind the first
    qtbot.waitUntil(lambda: len(_finished_events(win)) == 2, timeout=90_000)
    assert dialogs == []
    assert [e.status for e in _finished_events(win)] == ["finished", "finished"]
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=5000)

    # the charts received the per-epoch data of the last run, the log recorded both
    qtbot.wait(150)  # one redraw tick
    tv = win.training
    assert len(tv.loss_curve.buffer) == 1
    x, y = tv.val_curve.item.getData()
    assert list(x) == [1.0] and 0 <= y[0] <= 1
    assert tv.epoch_bar.value() == 1
    log = tv.log.toPlainText()
    assert "run 1 finished" in log and "run 2 finished" in log
    assert tv.budget_line.isVisible() is False  # run 2 had no energy budget

    # both runs are in Runs, with accuracy
    runs = win.runs
    assert sorted(runs.run_ids()) == [1, 2]
    runs.filter_edit.setText("no-such-model")
    assert runs.run_ids() == []
    runs.filter_edit.setText("")
    store_runs = win.ctx.store.runs()
    assert [r["epochs_done"] for r in store_runs] == [2, 1]
    assert all(r["test_acc"] is not None for r in store_runs)

    # compare both (through the Runs view's button) and export
    runs.select_ids([1, 2])
    runs.compare_btn.click()
    assert win.tabs.currentWidget() is win.compare
    cv = win.compare
    assert sorted(cv.checked_ids()) == [1, 2]
    assert cv.table.rowCount() == 2
    time_scores = [r["pepr"]["time"] for r in cv.rows]
    assert all(s is not None for s in time_scores)
    accs = [r["acc"] for r in cv.rows]
    # PePR lies in [P/2, P]; the cheaper run keeps its full accuracy
    for s, a in zip(time_scores, accs):
        assert a / 2 - 1e-9 <= s <= a + 1e-9
    assert any(abs(s - a) < 1e-12 for s, a in zip(time_scores, accs))
    # PePR-optimal epoch count per run, as core.epoch_pepr computes it
    from pepr_desktop.core.scoring.epoch_pepr import for_runs

    expected = {int(c.key): c.best_epochs for c in for_runs(win.ctx.store, store_runs).curves}
    best = {r["run_id"]: r["best_epochs"] for r in cv.rows}
    assert best == expected and best[2] == 1 and best[1] in (1, 2)
    last = cv.table.columnCount() - 1
    assert cv.table.horizontalHeaderItem(last).text() == "Best epochs"
    shown = {int(cv.table.item(i, 0).text()): cv.table.item(i, last).text() for i in range(2)}
    assert shown == {k: str(v) for k, v in best.items()}
    cv.table.selectRow(0)  # the selected run's confusion matrix (issue 13) under the table
    assert cv.selected_run_id() in (1, 2)
    assert "test split" in cv.confusion.title.text()
    assert cv.confusion.matrix.rowCount() == 2
    out = tmp_path / "cmp.csv"
    cv.export_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert [int(r["run_id"]) for r in rows] == [r["run_id"] for r in cv.rows]
    assert float(rows[0]["pepr_T"]) == cv.rows[0]["pepr"]["time"]
    png = tmp_path / "cmp.png"
    cv.export_plot(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "cmp.svg"
    cv.export_plot(svg)
    assert "<svg" in svg.read_text()
    all_csv = tmp_path / "runs.csv"
    assert win.export_runs(all_csv) == 2
    assert len(list(csv.DictReader(all_csv.open()))) == 2


def test_stop_mid_run_keeps_finished_epochs(window, qtbot) -> None:
    win = window
    _record_events(win)
    _set_up(win, epochs=20, fraction=0.2)
    win.experiment.train_btn.click()
    qtbot.waitUntil(lambda: any(isinstance(e, EpochEnded) for e in win._seen), timeout=60_000)
    assert win.training.stop_btn.isEnabled()
    win.training.stop_btn.click()
    qtbot.waitUntil(lambda: len(_finished_events(win)) == 1, timeout=30_000)
    fin = _finished_events(win)[0]
    assert (fin.status, fin.reason) == ("stopped", "user")
    with Store(win.ctx.store.path) as s:
        run = s.get_run(fin.run_id)
        done = len(s.epochs(fin.run_id))
    assert run["status"] == "stopped"
    assert 1 <= done < 20 and run["epochs_done"] == done
    qtbot.waitUntil(lambda: not win.training.stop_btn.isEnabled(), timeout=5000)


def test_close_during_run_asks_then_stops_cleanly(window, qtbot, monkeypatch) -> None:
    win = window
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes,
    )
    _record_events(win)
    _set_up(win, epochs=20, fraction=0.2)
    win.experiment.train_btn.click()
    qtbot.waitUntil(
        lambda: any(type(e).__name__ == "BatchEnded" for e in win._seen), timeout=60_000
    )
    db = win.ctx.store.path
    win.close()
    assert len(asked) == 1
    assert not win.ctx.training.busy
    with Store(db) as s:
        (run,) = s.runs()
    assert run["status"] == "stopped" and run["reason"] == "user"


def test_bad_import_shows_dialog_and_changes_nothing(window, tmp_path: Path, dialogs) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((3, 28, 28), np.uint8))  # labels and splits missing
    before = window.experiment.dataset_combo.count()
    assert window.experiment.import_path(bad, "mydata") is False
    assert len(dialogs) == 1 and dialogs[0][0] == "Import failed"
    assert "bad.npz" in dialogs[0][1] or "label" in dialogs[0][1].lower()
    assert window.ctx.store.datasets() == []
    assert window.experiment.dataset_combo.count() == before
    not_npz = tmp_path / "notes.npz"
    not_npz.write_text("hello")
    assert window.experiment.import_path(not_npz, "other") is False
    assert len(dialogs) == 2 and window.ctx.store.datasets() == []


def test_unknown_model_is_a_dialog_not_a_run(window, qtbot, dialogs) -> None:
    _set_up(window, epochs=1)
    window.experiment.model_edit.setText("no_such_net")
    window.experiment.train_btn.click()
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=30_000)
    assert "no_such_net" in dialogs[0][1]
    qtbot.waitUntil(lambda: not window.ctx.training.busy, timeout=5000)
    assert window.ctx.store.runs() == []


def test_recommend_fills_candidates_in_background(window, qtbot, dialogs) -> None:
    import pytest

    pytest.importorskip("pepr_desktop.core.search.recommend")
    ex = window.experiment
    _set_up(window, epochs=1, fraction=0.15)
    ex.model_edit.setText("")
    ex.time_spin.setValue(30)
    ex.recommend_pool = [MODEL, "resnet10t"]
    ex.recommend_btn.click()
    assert not ex.recommend_btn.isEnabled()  # the worker has it; the GUI stays live
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=120_000)
    assert dialogs == []
    models = {ex.table.item(r, 1).text() for r in range(ex.table.rowCount())}
    assert models and models <= {MODEL, "resnet10t"}
    assert "candidates" in ex.progress.format()
    cfgs = ex.selected_configs()  # the first candidate is pre-selected
    assert len(cfgs) == 1 and cfgs[0].model in models and cfgs[0].dataset == "sample"


def test_stop_then_resume_from_runs_view_finishes_all_epochs(window, qtbot, dialogs) -> None:
    win = window
    _record_events(win)
    _set_up(win, epochs=6, fraction=0.15)
    stopped: list[int] = []

    def stop_after_first_epoch(ev) -> None:
        if isinstance(ev, EpochEnded) and not stopped:
            stopped.append(ev.run_id)
            win.training.stop_btn.click()

    win.ctx.training.event.connect(stop_after_first_epoch)
    win.experiment.train_btn.click()
    qtbot.waitUntil(lambda: len(_finished_events(win)) == 1, timeout=60_000)
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=10_000)
    rid = _finished_events(win)[0].run_id
    done_before = len(win.ctx.store.epochs(rid))
    assert win.ctx.store.get_run(rid)["status"] == "stopped" and 1 <= done_before < 6

    runs = win.runs
    runs.select_ids([rid])
    assert runs.resume_btn.isEnabled()
    win.tabs.setCurrentWidget(runs)
    runs.resume_btn.click()
    assert win.tabs.currentWidget() is win.training
    qtbot.waitUntil(lambda: len(_finished_events(win)) == 2, timeout=60_000)
    assert dialogs == []
    fin = _finished_events(win)[1]
    assert (fin.run_id, fin.status) == (rid, "finished")
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=10_000)
    run = win.ctx.store.get_run(rid)
    assert run["status"] == "finished" and run["epochs_done"] == 6
    assert [e["epoch"] for e in win.ctx.store.epochs(rid)] == list(range(6))
    assert len(win.ctx.store.runs()) == 1  # the same run continued, no new one
    assert len(win.training.loss_curve.buffer) == 6  # stored epochs + the resumed ones
    assert "resumed at epoch" in win.training.log.toPlainText()
    runs.select_ids([rid])
    assert not runs.resume_btn.isEnabled()  # finished runs cannot be resumed
