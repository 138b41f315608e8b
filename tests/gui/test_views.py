"""Every view builds on an empty database; settings persist; charts stay bounded and throttled."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMessageBox

from pepr_desktop.gui.charts import ChartHub, RingBuffer, make_plot
from pepr_desktop.gui.settings import AppSettings


def test_main_window_builds_every_view(window) -> None:
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["New experiment", "Live training", "Runs", "Compare"]
    assert str(window.ctx.store.path) == window.db_label.toolTip()
    assert window.ctx.store.path.name in window.db_label.text()
    assert window.device_label.text().startswith("Device: ")
    names = [
        window.experiment.dataset_combo.itemData(i).name
        for i in range(window.experiment.dataset_combo.count())
    ]
    assert "sample" in names and "pneumoniamnist" in names
    assert window.runs.model.rowCount() == 0
    assert window.compare.table.rowCount() == 0
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&Settings", "&Help"]


def test_settings_persist(isolated) -> None:
    s = AppSettings()
    s.region = "DK"
    s.carbon_intensity = 123.0
    s.cpu_watts = 45.0
    s.theme = "dark"
    s.sync()
    again = AppSettings()
    assert (again.region, again.carbon_intensity, again.cpu_watts, again.theme) == (
        "DK",
        123.0,
        45.0,
        "dark",
    )
    again.theme = "purple"  # unknown theme falls back
    assert again.theme == "light"


def test_ring_buffer_wraps_in_order() -> None:
    rb = RingBuffer(4)
    for i in range(6):
        rb.append(i, 10 * i)
    x, y = rb.arrays()
    assert x.tolist() == [2, 3, 4, 5] and y.tolist() == [20, 30, 40, 50]
    assert rb.last() == (5.0, 50.0)
    rb.extend(np.arange(10, 13), np.arange(10, 13))  # vectorised, keeps the newest 4
    assert rb.arrays()[0].tolist() == [5, 10, 11, 12]
    rb.extend(np.arange(100), np.arange(100))
    assert rb.arrays()[0].tolist() == [96, 97, 98, 99] and len(rb) == 4


def test_chart_hub_redraws_on_timer_only(qtbot) -> None:
    w = make_plot("t", "x", "y")
    qtbot.addWidget(w)
    hub = ChartHub(max_hz=10)
    curve = hub.add_curve(w.getPlotItem(), "c", "#000", capacity=100)
    for i in range(1000):
        curve.append(i, i)
    assert hub.redraws == 0  # appends alone never draw
    qtbot.waitUntil(lambda: hub.redraws == 1, timeout=1000)
    x, _ = curve.item.getData()
    assert len(x) == 100 and x[-1] == 999  # bounded: only the newest points are kept


def test_a_long_curve_paints_about_two_points_per_pixel_column(qtbot) -> None:
    """Peak downsampling at one bucket per pixel: a 10k-point run paints its min/max envelope
    (~2 points per column), not pyqtgraph's default 5 buckets per pixel (~7k points)."""
    w = make_plot("t", "x", "y")
    qtbot.addWidget(w)
    w.resize(600, 250)
    w.show()
    hub = ChartHub(max_hz=10)
    curve = hub.add_curve(w.getPlotItem(), "c", "#000")
    i = np.arange(10_000, dtype=np.float64)
    curve.extend(i, 30 + (i * 7919) % 13)
    hub.flush_all()
    qtbot.wait(50)  # the view takes its range, then the curve downsamples to its width
    hub.flush_all()
    w.repaint()
    drawn = len(curve.item.curve.getData()[0])
    width = curve.item.getViewBox().width()
    assert 0 < drawn <= 2.2 * width + 4, (drawn, width)
    assert curve.item.curve.getData()[1].max() == (i * 7919 % 13).max() + 30  # peaks kept


def test_about_names_licence_and_citation(window, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda _p, _t, text: shown.append(text))
    window.about()
    assert "MIT" in shown[0] and "2403.12562" in shown[0] and "CC BY 4.0" in shown[0]


def test_quality_options_default_to_the_paper_and_reach_the_config(window, dialogs) -> None:
    from pepr_desktop.core.training.config import TrainConfig

    ex = window.experiment
    ex.select_dataset("sample")
    ex.recipe_combo.setCurrentIndex(ex.recipe_combo.findData("paper"))  # one choice away
    paper = TrainConfig(dataset="sample", model="resnet10t")
    cfg = ex.base_config("resnet10t")
    for k in (
        "sampler",
        "augment",
        "schedule",
        "label_smoothing",
        "early_stop",
        "early_stop_patience",
        "early_stop_min_gain",
        "image_size",
        "class_weights",
    ):
        assert getattr(cfg, k) == getattr(paper, k), k
    assert not ex.patience_spin.isEnabled()
    ex.sampler_combo.setCurrentText("balanced")
    ex.augment_combo.setCurrentText("light")
    ex.schedule_combo.setCurrentText("onecycle")
    ex.smoothing_spin.setValue(0.1)
    ex.early_check.setChecked(True)
    assert ex.patience_spin.isEnabled()
    ex.patience_spin.setValue(3)
    ex.min_gain_spin.setValue(0.02)
    ex.image_size_spin.setValue(32)
    cfg = ex.base_config("resnet10t").validate()
    assert (cfg.sampler, cfg.augment, cfg.schedule) == ("balanced", "light", "onecycle")
    assert (cfg.label_smoothing, cfg.early_stop, cfg.early_stop_patience) == (0.1, True, 3)
    assert (cfg.early_stop_min_gain, cfg.image_size) == (0.02, 32)
    ex.image_size_spin.setValue(4)  # below the trainer's 8 px minimum: a dialog, no run
    ex.model_edit.setText("resnet10t")
    ex.train_btn.click()
    assert len(dialogs) == 1 and "image size" in dialogs[0][1]
    assert window.ctx.training.pending() == [] and not window.ctx.training.busy


def _stored_run(store, dataset: str, device: str, method: str, acc: float) -> int:
    rid = store.create_run(
        dataset=dataset, model="resnet10t", config={}, epochs_planned=1, device=device
    )
    store.update_run(
        rid,
        status="finished",
        epochs_done=1,
        test_acc=acc,
        train_time_s=10.0 + acc,
        peak_mem_mb=100.0,
        energy_j=360.0 * acc,
        energy_method=method,
    )
    return rid


def test_compare_mixed_datasets_is_a_dialog_and_device_warnings_show(window, dialogs) -> None:
    s = window.ctx.store
    a = _stored_run(s, "sample", "cpu", "rapl", 0.7)
    b = _stored_run(s, "sample", "cuda:0", "nvml", 0.8)
    c = _stored_run(s, "other", "cpu", "rapl", 0.9)
    window.ctx.runs_changed.emit()
    window.runs.select_ids([a, c])
    window.runs.compare_btn.click()
    assert len(dialogs) == 1 and dialogs[0][0] == "Compare"
    msg = dialogs[0][1]
    assert "different datasets" in msg and "other: run 3" in msg and "sample: run 1" in msg
    assert window.compare.rows == []  # nothing was scored across datasets
    window.runs.select_ids([a, b])
    window.runs.compare_btn.click()
    assert len(dialogs) == 1
    cv = window.compare
    assert sorted(r["run_id"] for r in cv.rows) == [a, b]
    note = cv.note.text()
    assert "runs on different devices" in note and "different methods: nvml, rapl" in note
    assert "⚠" in note


def test_live_training_log_is_wide(window, qtbot) -> None:
    window.resize(1360, 860)
    window.show()
    window.tabs.setCurrentWidget(window.training)
    tv = window.training
    assert tv.stack.currentWidget() is tv.empty  # before the first run: what to do, no axes
    tv.stack.setCurrentIndex(1)  # what a run shows
    qtbot.waitExposed(window)
    qtbot.wait(50)
    assert tv.log_panel.width() >= 600  # full-width strip under the charts, not a side column
    assert tv.log_panel.height() >= 150
    assert tv.power_plot.height() >= 200
