"""Issue 19: runs that a crash interrupted are offered for resume at start-up, in a banner that
never blocks the window."""

from __future__ import annotations

from pepr_desktop.core.training.config import TrainConfig


def test_interrupted_runs_are_offered_for_resume(qtbot, isolated, dialogs, monkeypatch) -> None:
    from pepr_desktop.core.store import Store
    from pepr_desktop.gui.main_window import MainWindow

    with Store(isolated / "pepr.sqlite") as s:
        cfg = TrainConfig(dataset="sample", model="resnet10t", epochs=5).to_dict()
        ids = [
            s.create_run(dataset="sample", model="resnet10t", config=cfg, epochs_planned=5)
            for _ in range(2)
        ]
        for rid in ids:
            s.update_run(rid, status="interrupted", epochs_done=2)
        done = s.create_run(dataset="sample", model="resnet10t", config=cfg, epochs_planned=5)
        s.update_run(done, status="finished", epochs_done=5)
    win = MainWindow()
    qtbot.addWidget(win)
    banner = win.banner
    assert not banner.isHidden() and banner.run_ids == ids
    assert "2 runs were interrupted" in banner.text.text() and "2 of 5 epochs" in banner.text.text()
    banner.show_btn.click()
    assert win.tabs.currentWidget() is win.runs and sorted(win.runs.selected_ids()) == ids
    resumed: list[int] = []
    monkeypatch.setattr(win, "resume_run", lambda rid: resumed.append(rid) or True)
    banner.resume_btn.click()
    assert resumed == ids and banner.isHidden()
    win.offer_resume()  # still interrupted in the store: offered again, and Not now hides it
    assert not banner.isHidden()
    banner.dismiss_btn.click()
    assert banner.isHidden() and dialogs == []
    win.ctx.shutdown()


def test_no_banner_without_interrupted_runs(window) -> None:
    assert window.banner.isHidden() and window.banner.run_ids == []
