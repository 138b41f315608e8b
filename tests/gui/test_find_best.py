"""New experiment's "Find the best model": a real budgeted search (core.search.auto) on a tiny
dataset, watched in its panel (chart, budget bar, leaderboard), with Pause, Cancel and the
winner opened in Run details."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TINY_MODEL, write_npz


def _set_up(window, tmp_path: Path, minutes: float) -> None:
    import timm  # noqa: F401  (imported before the search's clock starts: seconds on a slow box)

    ex = window.experiment
    data = write_npz(tmp_path / "tiny.npz", (64, 32, 32), 28)
    assert ex.import_path(data, "tiny")
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.find_best_pool = [TINY_MODEL]
    ex.find_best_options = {"upscale": False, "trial_epochs": 2}
    ex.time_spin.setValue(minutes)
    ex.energy_spin.setValue(0)


def test_find_best_runs_a_search_and_opens_the_winner(window, qtbot, dialogs, tmp_path) -> None:
    from pepr_desktop.core.search.auto.engine import AutoResult
    from pepr_desktop.gui.views.run_details import RunDetails

    ex = window.experiment
    assert ex.find_best_btn.isEnabled()
    _set_up(window, tmp_path, 0.0)
    ex.find_best_btn.click()  # no budget: one clear dialog, nothing runs
    assert len(dialogs) == 1 and "Time" in dialogs[0][1] and ex.find_best_panel is None
    assert not window.ctx.tasks.busy
    dialogs.clear()
    changed: list[int] = []
    window.ctx.runs_changed.connect(lambda: changed.append(1))
    ex.time_spin.setValue(0.3)
    ex.find_best_btn.click()
    panel = ex.find_best_panel
    assert panel is not None and panel.running and window.ctx.tasks.busy
    assert not ex.recommend_btn.isEnabled()  # the shared worker is taken
    shares: list[int] = []
    panel.budget_bar.valueChanged.connect(shares.append)
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=120_000)
    assert dialogs == []
    res = panel.result
    assert isinstance(res, AutoResult) and not res.cancelled
    assert res.spent["within_budget"]
    assert shares and max(shares) > 0  # the budget bar moved with the events' `spent`
    assert "spent" in panel.budget_bar.format()
    # one curve per trial or final that trained; the leaderboard lists every record
    trained = [r for r in res.trials + res.finals if r.epochs]
    assert trained and {(r.phase, r.number) for r in trained} <= set(panel.chart.curves)
    assert panel.table.rowCount() == len(res.trials) + len(res.finals) > 0
    models = {panel.table.item(r, 2).text() for r in range(panel.table.rowCount())}
    assert models == {TINY_MODEL}
    w = res.winner
    assert w is not None and w.run_id is not None
    assert "Winner" in panel.winner_label.text() and TINY_MODEL in panel.winner_label.text()
    if w.predicted and w.predicted.get("value") is not None:  # a fresh store: no past test
        assert "expected on test unknown" in panel.winner_label.text()
    te = {"value": 0.85, "low": 0.8, "high": 0.9, "method": "x: the median gap of 2 past runs"}
    shown = panel._prediction_html({"value": 0.95, "low": 0.9, "high": 1.0, "test_expected": te})
    assert "Predicted val" in shown and "expected on test 0.850 [0.800, 0.900]" in shown
    if res.finals:  # the finals' test figures are shown once read
        row = next(
            r for r in range(panel.table.rowCount()) if panel.table.item(r, 1).text() == "final"
        )
        assert panel.table.item(row, 10).text() != "n/a"
    assert f"winner: val BACC {w.score:.3f}" in panel.status_label.text()
    assert changed  # Runs and Compare refresh: the trials are stored runs
    assert not panel.pause_btn.isEnabled() and not panel.cancel_btn.isEnabled()
    assert panel.open_btn.isEnabled()
    panel.open_btn.click()
    dlg = panel.details
    assert isinstance(dlg, RunDetails) and dlg.run_id == w.run_id
    assert window.ctx.store.get_run(w.run_id)["model"] == TINY_MODEL
    dlg.close()
    assert ex.find_best_btn.isEnabled() and ex.recommend_btn.isEnabled()


def test_pause_and_cancel_end_the_search_without_a_traceback(
    window, qtbot, dialogs, tmp_path
) -> None:
    ex = window.experiment
    _set_up(window, tmp_path, 10.0)
    panel = ex.find_best()
    assert panel is not None and panel.running
    qtbot.waitUntil(lambda: bool(panel.started), timeout=60_000)  # the first trial is training
    panel.pause_btn.click()
    assert panel.control.paused and panel.pause_btn.text() == "Resume"
    assert "Paused" in panel.status_label.text()
    assert ex.find_best() is panel  # while it runs, the button shows the search again
    ex.model_edit.setText(TINY_MODEL)
    ex.train_one_btn.click()  # no run beside the search: it measures this machine
    assert len(dialogs) == 1 and "measuring" in dialogs[0][1]
    assert not window.ctx.training.busy
    dialogs.clear()
    panel.cancel_btn.click()  # while paused: the stop wakes it
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=30_000)
    assert dialogs == []
    assert not panel.running and panel.result is not None and panel.result.cancelled
    assert panel.status_label.text().startswith("Cancelled")
    assert ex.find_best_btn.isEnabled()


def test_the_panel_fits_a_laptop_screen(window, qtbot) -> None:
    from pepr_desktop.core.search.auto.spec import AutoSpec
    from pepr_desktop.gui.views.find_best import FindBestPanel

    spec = AutoSpec(dataset="sample", time_min=2)
    panel = FindBestPanel(window.ctx, spec, window)
    qtbot.addWidget(panel)
    for w, h in ((1280, 720), (1024, 700)):
        hint = panel.minimumSizeHint()
        assert hint.width() <= w - 40 and hint.height() <= h - 60, hint.toTuple()
    panel.resize(984, 640)
    panel.show()
    qtbot.waitExposed(panel)
    for b in (panel.pause_btn, panel.cancel_btn, panel.open_btn, panel.close_btn):
        assert panel.rect().contains(b.geometry()) and b.width() >= b.sizeHint().width()


def test_a_search_that_fails_shows_one_dialog_in_gui_words(
    window, qtbot, dialogs, monkeypatch, tmp_path
) -> None:
    from pepr_desktop.core.errors import UserError
    from pepr_desktop.core.search.auto import engine

    ex = window.experiment
    _set_up(window, tmp_path, 1.0)

    def nothing_fits(*_a, **_k):
        raise UserError(
            "no model fits time <= 1 min on this machine; widen the budget or give other --models."
        )

    monkeypatch.setattr(engine, "run_search", nothing_fits)
    panel = ex.find_best()
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=10_000)
    assert len(dialogs) == 1
    title, text = dialogs[0]
    assert title == "Find the best model" and "no model fits" in text and "--" not in text
    assert "failed" in panel.status_label.text() and not panel.running
    assert not panel.open_btn.isEnabled()

    def bug(*_a, **_k):
        raise KeyError("arm")

    monkeypatch.setattr(engine, "run_search", bug)
    dialogs.clear()
    panel = ex.find_best()
    qtbot.waitUntil(lambda: not window.ctx.tasks.busy, timeout=10_000)
    assert len(dialogs) == 1 and "fault in the app" in dialogs[0][1]
    assert ex.find_best_btn.isEnabled()
