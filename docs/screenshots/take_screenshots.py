"""Screenshots of each view from the real app on real data, at a laptop's 1280x720 (run under
Xvfb).

Shows the first launch, imports ../shared/data/pneumoniamnist_28.npz (real chest X-rays,
MedMNIST layout) with its class names, asks the recommender, trains small models on the CPU with
the suggested recipe (class-balanced sampling: the data are imbalanced) and the real meters, and
grabs each view:

    xvfb-run -a -s "-screen 0 1280x720x24" .venv/bin/python docs/screenshots/take_screenshots.py

On a slow machine, train the longer runs first with the same recipe and point PEPR_SHOTS_DB at
that database (its dataset named `pneumonia`); the script then trains only the two short runs the
Live training view shows:

    PEPR_DB=runs.sqlite pepr import-data ../shared/data/pneumoniamnist_28.npz --name pneumonia \
        --classes normal,pneumonia
    PEPR_DB=runs.sqlite pepr train --data pneumonia --model resnet10t --epochs 4 \
        --data-fraction 0.5 --sampler balanced --device cpu     # and other models
    PEPR_SHOTS_DB=runs.sqlite xvfb-run -a -s "-screen 0 1280x720x24" .venv/bin/python \
        docs/screenshots/take_screenshots.py

At the end it runs "Find the best model" (a real budgeted search, 2 minutes) on the bundled
sample and grabs its panel (6_find_best.png); `--find-best` takes only that shot, on a fresh
database (PEPR_SHOTS_MINUTES sets the budget: a loaded 2-core CPU may need 4).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("PEPR_SHOTS") or HERE)  # elsewhere while trying things out
DATA = HERE.parents[1] / ".." / "shared" / "data" / "pneumoniamnist_28.npz"
MODELS = ["resnet10t", "mobilenetv3_small_100", "lcnet_050"]
SEARCH_POOL = ["resnet10t", "lcnet_050", "mobilenetv3_small_050"]
SIZE = (1280, 720)


def pump(app, cond, timeout: float) -> None:
    """Process Qt events until `cond()` holds or `timeout` seconds pass."""
    t0 = time.time()
    while not cond() and time.time() - t0 < timeout:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def main() -> int:
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="pepr_shots_"))
    prepared = os.environ.get("PEPR_SHOTS_DB")
    os.environ["PEPR_DB"] = prepared or str(tmp / "pepr.sqlite")
    os.environ["PEPR_SETTINGS"] = str(tmp / "settings.ini")
    (tmp / "settings.ini").write_text("[General]\nidle_baseline_s=0\nregion=DK\n")
    import torch

    torch.set_num_threads(2)
    from PySide6.QtWidgets import QMessageBox

    from pepr_desktop.core.events import EpochEnded, RunFinished
    from pepr_desktop.gui.app import create_app

    app, win = create_app(sys.argv)
    QMessageBox.warning = lambda *a, **k: print("dialog:", a[1:3])  # type: ignore[method-assign]
    win.resize(*SIZE)
    win.show()
    seen: list = []
    win.ctx.training.event.connect(seen.append)

    def shot(name: str, widget=None) -> None:
        pump(app, lambda: False, 0.5)  # let the charts' 10 Hz timer redraw
        (widget or win).grab().save(str(OUT / f"{name}.png"))
        print("saved", name, flush=True)

    shot("0_first_launch")
    ex = win.experiment
    if prepared:
        ex.select_dataset("pneumonia")
    else:
        assert ex.import_path(DATA, class_names=["normal", "pneumonia"])
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.epochs_spin.setValue(2 if prepared else 3)
    ex.fraction_spin.setValue(0.25 if prepared else 0.5)
    ex.energy_spin.setValue(20.0)
    ex.recommend_pool = [*MODELS, "resnet18", "efficientnet_b0", "ghostnet_100"]
    ex.recommend_btn.click()
    pump(app, lambda: not win.ctx.tasks.busy, 600)
    shot("1_new_experiment")

    models = MODELS[:2] if prepared else MODELS
    epochs = ex.epochs_spin.value()
    for i, m in enumerate(models):
        ex.model_edit.setText(m)
        ex.train_one_btn.click()
        if i == len(models) - 1:  # the last run half done: the earlier ones on the charts
            want = epochs * len(models) - 1
            pump(app, lambda w=want: sum(isinstance(e, EpochEnded) for e in seen) >= w, 1800)
        else:
            n = i + 1
            pump(app, lambda n=n: sum(isinstance(e, RunFinished) for e in seen) >= n, 1800)
    win.tabs.setCurrentWidget(win.training)
    shot("2_live_training")
    pump(app, lambda: sum(isinstance(e, RunFinished) for e in seen) >= len(models), 1800)
    pump(app, lambda: not win.ctx.training.busy, 30)
    shot("2b_live_training_done")
    win.runs.refresh()
    win.tabs.setCurrentWidget(win.runs)
    shot("3_runs")
    ids = win.runs.run_ids()
    win.runs.select_ids(ids)
    win.runs.compare_btn.click()
    win.compare.table.selectRow(0)
    win.compare.bottom_tabs.setCurrentIndex(0)
    shot("4_compare")
    win.compare.bottom_tabs.setCurrentIndex(1)
    shot("4b_compare_confusion")
    win.tabs.setCurrentWidget(win.runs)
    win.runs.select_ids([ids[0]])
    dlg = win.runs.show_details()
    dlg.resize(1000, 640)
    shot("5_run_details", dlg)
    dlg.tabs.setCurrentWidget(dlg.confusion)
    dlg.confusion.choose_cell(0, 1)  # browse one mix-up's test images
    shot("5b_run_details_confusion", dlg)
    dlg.save_report(tmp / "report.png")
    print("report", tmp / "report.png")
    dlg.close()
    win.tabs.setCurrentWidget(win.experiment)
    shoot_find_best(app, win, float(os.environ.get("PEPR_SHOTS_MINUTES", "2")))
    win.close()
    return 0


def shoot_find_best(app, win, minutes: float = 2.0) -> None:
    """'Find the best model' on the bundled PneumoniaMNIST sample (real X-rays; 582 training
    images, so the final runs fit a short budget on a shared CPU): a real budgeted search of
    `minutes` on the CPU, its panel grabbed at the end (6_find_best.png)."""
    ex = win.experiment
    ex.select_dataset("sample")
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.energy_spin.setValue(0)
    ex.memory_spin.setValue(0)
    ex.time_spin.setValue(minutes)
    # small models: on a shared 2-core CPU the default pool's final runs do not fit 2 minutes
    ex.find_best_pool = os.environ.get("PEPR_SHOTS_POOL", ",".join(SEARCH_POOL)).split(",")
    panel = ex.find_best()
    assert panel is not None, "the search did not start"
    panel.resize(*SIZE)

    pump(app, lambda: not panel.running, minutes * 60 * 1.5 + 60)
    pump(app, lambda: False, 0.5)
    panel.grab().save(str(OUT / "6_find_best.png"))
    print("saved 6_find_best", flush=True)


def main_find_best() -> int:
    """Only the search panel's screenshot, on a fresh database:

    xvfb-run -a -s "-screen 0 1280x720x24" .venv/bin/python docs/screenshots/take_screenshots.py \
        --find-best
    """
    tmp = Path(tempfile.mkdtemp(prefix="pepr_shots_"))
    os.environ["PEPR_DB"] = str(tmp / "pepr.sqlite")
    os.environ["PEPR_SETTINGS"] = str(tmp / "settings.ini")
    (tmp / "settings.ini").write_text("[General]\nidle_baseline_s=0\nregion=DK\n")
    import torch

    torch.set_num_threads(2)
    from PySide6.QtWidgets import QMessageBox

    from pepr_desktop.gui.app import create_app

    app, win = create_app(sys.argv[:1])
    QMessageBox.warning = lambda *a, **k: print("dialog:", a[1:3])  # type: ignore[method-assign]
    win.resize(*SIZE)
    win.show()
    shoot_find_best(app, win, float(os.environ.get("PEPR_SHOTS_MINUTES", "2")))
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main_find_best() if "--find-best" in sys.argv else main())
