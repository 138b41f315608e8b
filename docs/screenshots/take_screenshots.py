"""Screenshots of each view from the real app on real data (run under Xvfb).

Imports ../shared/data/pneumoniamnist_28.npz (real chest X-rays, MedMNIST layout), asks the
recommender, trains three small models on the CPU with the real meters, and grabs each view:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/take_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / ".." / "shared" / "data" / "pneumoniamnist_28.npz"
MODELS = ["mobilenetv3_small_050", "resnet10t", "mobilenetv3_small_100"]


def main() -> int:
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="pepr_shots_"))
    os.environ["PEPR_DB"] = str(tmp / "pepr.sqlite")
    os.environ["PEPR_SETTINGS"] = str(tmp / "settings.ini")
    (tmp / "settings.ini").write_text("[General]\nidle_baseline_s=0\nregion=DK\n")
    import torch

    torch.set_num_threads(2)
    from PySide6.QtWidgets import QMessageBox

    from pepr_desktop.core.events import EpochEnded, RunFinished
    from pepr_desktop.gui.app import create_app

    app, win = create_app(sys.argv)
    QMessageBox.warning = lambda *a, **k: print("dialog:", a[1:3])  # type: ignore[method-assign]
    win.resize(1500, 920)
    win.show()
    seen: list = []
    win.ctx.training.event.connect(seen.append)

    def pump(cond, timeout: float) -> None:
        t0 = time.time()
        while not cond() and time.time() - t0 < timeout:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()

    def shot(name: str) -> None:
        pump(lambda: False, 0.4)  # let the charts' 10 Hz timer redraw
        win.grab().save(str(HERE / f"{name}.png"))
        print("saved", name)

    ex = win.experiment
    assert ex.import_path(DATA, "pneumonia_local")
    ex.device_combo.setCurrentIndex(ex.device_combo.findData("cpu"))
    ex.epochs_spin.setValue(3)
    ex.fraction_spin.setValue(0.1)
    ex.energy_spin.setValue(1.0)
    ex.time_spin.setValue(4)
    ex.preview_btn.setChecked(True)  # the dataset preview (issue 13) in the first shot
    ex.recommend_pool = [*MODELS, "efficientnet_b0", "ghostnet_100"]
    ex.recommend_btn.click()
    pump(lambda: not win.ctx.tasks.busy, 400)
    shot("1_new_experiment")

    for i, m in enumerate(MODELS):
        ex.model_edit.setText(m)
        ex.table.clearSelection()
        ex.train_btn.click()
        if i == len(MODELS) - 1:
            pump(lambda: sum(isinstance(e, EpochEnded) for e in seen) >= 2 * len(MODELS) + 2, 900)
        else:
            n = i + 1
            pump(lambda n=n: sum(isinstance(e, RunFinished) for e in seen) >= n, 900)
    win.tabs.setCurrentWidget(win.training)
    shot("2_live_training")
    pump(lambda: sum(isinstance(e, RunFinished) for e in seen) >= len(MODELS), 900)
    pump(lambda: not win.ctx.training.busy, 30)
    win.runs.refresh()
    win.tabs.setCurrentWidget(win.runs)
    shot("3_runs")
    ids = win.runs.run_ids()
    win.runs.select_ids(ids)
    win.runs.compare_btn.click()
    win.compare.table.selectRow(0)
    win.compare.bottom_tabs.setCurrentIndex(0)
    shot("4_compare")
    win.tabs.setCurrentWidget(win.runs)
    win.runs.select_ids([ids[-1]])
    dlg = win.runs.show_details()
    dlg.resize(1000, 680)
    dlg.tabs.setCurrentWidget(dlg.confusion)
    dlg.confusion.choose_cell(0, 1)  # browse one mix-up's test images
    pump(lambda: False, 0.4)
    dlg.grab().save(str(HERE / "5_run_details.png"))
    print("saved 5_run_details")
    dlg.close()
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
