"""Every view builds on an empty database; settings persist; charts stay bounded and throttled."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMessageBox

from pepr_desktop.gui.charts import ChartHub, RingBuffer, make_plot
from pepr_desktop.gui.settings import AppSettings


def test_main_window_builds_every_view(window) -> None:
    tabs = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert tabs == ["New experiment", "Live training", "Runs", "Compare"]
    assert str(window.ctx.store.path) in window.db_label.text()
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


def test_about_names_licence_and_citation(window, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda _p, _t, text: shown.append(text))
    window.about()
    assert "MIT" in shown[0] and "2403.12562" in shown[0] and "CC BY 4.0" in shown[0]
