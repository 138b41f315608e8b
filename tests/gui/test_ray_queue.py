"""The training queue on Ray (issue 11, GUI side): "Train selected" submits one sweep to a local
Ray, the worker thread (the only store writer) forwards the jobs' events as the usual signals, the
runs carry the sweep id, and Stop cancels the sweep."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pepr_desktop.core.events import EpochEnded, RunFinished, RunStarted

MODEL = "mobilenetv3_small_050"


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is the optional extra pepr-desktop[cluster]")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _queue_on_ray(win, models: list[str], epochs: int) -> list:
    win.settings.queue_backend = "ray"
    win.settings.ray_address = ""  # the Ray this test started
    seen: list = []
    win.ctx.training.event.connect(seen.append)
    ex = win.experiment
    ex.select_dataset("sample")
    ex.epochs_spin.setValue(epochs)
    ex.fraction_spin.setValue(0.15)
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.show_candidates(
        [SimpleNamespace(model=m, pretrained=False, fits=True, params=None) for m in models]
    )
    ex.table.selectAll()
    ex.train_btn.click()
    return seen


def test_train_selected_on_ray_runs_one_sweep(ray_local, window, qtbot, dialogs) -> None:
    win = window
    seen = _queue_on_ray(win, [MODEL, "resnet10t"], epochs=1)
    finished = lambda: [e for e in seen if isinstance(e, RunFinished)]  # noqa: E731
    qtbot.waitUntil(lambda: len(finished()) == 2, timeout=60_000)
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=10_000)
    assert dialogs == []
    assert sorted(e.status for e in finished()) == ["finished", "finished"]
    # the same signals as a local run, with the driver's run ids
    started = [e for e in seen if isinstance(e, RunStarted)]
    assert sorted(e.model for e in started) == sorted([MODEL, "resnet10t"])
    assert {e.run_id for e in started} == {e.run_id for e in finished()}
    assert any(isinstance(e, EpochEnded) for e in seen)
    runs = win.ctx.store.runs()
    assert len(runs) == 2
    sweep_ids = {r["sweep_id"] for r in runs}
    assert len(sweep_ids) == 1 and None not in sweep_ids
    (sid,) = sweep_ids
    for r in runs:
        assert r["status"] == "finished" and r["host"]
        assert len(win.ctx.store.epochs(r["id"])) == 1
    log = win.training.log.toPlainText()
    assert f"sweep {sid} submitted: 2 jobs on local Ray" in log
    assert f"sweep {sid}: 2/2 done" in log and f"sweep {sid} finished" in log

    from pepr_desktop.gui.views.runs import RunDetails

    details = RunDetails(win.ctx, runs[0]["id"])
    qtbot.addWidget(details)
    assert details.figures["sweep_id"].text() == sid
    assert details.figures["host"].text() == runs[0]["host"]


def test_stop_cancels_the_ray_sweep(ray_local, window, qtbot, dialogs) -> None:
    win = window
    seen = _queue_on_ray(win, [MODEL, MODEL], epochs=50)
    qtbot.waitUntil(lambda: any(isinstance(e, RunStarted) for e in seen), timeout=60_000)
    win.training.stop_btn.click()
    qtbot.waitUntil(lambda: not win.ctx.training.busy, timeout=30_000)
    assert dialogs == []
    runs = win.ctx.store.runs()
    assert runs and all(r["status"] == "stopped" for r in runs)
    from pepr_desktop.core.sweeps import driver as sweep

    assert sweep.get_sweep(win.ctx.store, runs[0]["sweep_id"])["status"] == "stopped"


def test_settings_dialog_stores_the_queue_backend(window, qtbot) -> None:
    from pepr_desktop.gui.main_window import SettingsDialog

    assert window.settings.queue_backend == "local"  # the default: this process
    dlg = SettingsDialog(window.settings, window)
    qtbot.addWidget(dlg)
    assert not dlg.ray_address.isEnabled()
    dlg.backend.setCurrentIndex(dlg.backend.findData("ray"))
    assert dlg.ray_address.isEnabled()
    dlg.ray_address.setText("  10.0.0.5:6379 ")
    dlg.accept()
    assert (window.settings.queue_backend, window.settings.ray_address) == ("ray", "10.0.0.5:6379")
