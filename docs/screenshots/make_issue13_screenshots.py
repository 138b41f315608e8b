"""Screenshots of the issue-13 widgets on real data (offscreen).

Usage: QT_QPA_PLATFORM=offscreen python docs/screenshots/make_issue13_screenshots.py DB RUN_ID

DB holds a finished run RUN_ID trained on an imported copy of ../shared/data/pneumoniamnist_28.npz;
the try-it panel classifies a few test images of that file saved as PNG.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

from pepr_desktop.core.data.registry import resolve
from pepr_desktop.core.store import Store
from pepr_desktop.gui.widgets.confusion import ConfusionView
from pepr_desktop.gui.widgets.preview_grid import PreviewGrid
from pepr_desktop.gui.widgets.try_it import TryItPanel

OUT = Path(__file__).resolve().parent
NPZ = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pneumoniamnist_28.npz"


def main(db: str, run_id: int) -> None:
    app = QApplication.instance() or QApplication([])
    store = Store(db)
    run = store.get_run(run_id)

    grid = PreviewGrid(per_class=8, thumb_px=56)
    grid.resize(720, 420)
    grid.show_dataset(resolve(run["dataset"], store))
    grid.show()
    app.processEvents()
    grid.grab().save(str(OUT / "preview_grid.png"))

    view = ConfusionView()
    view.resize(900, 560)
    view.load_run(store, run_id)
    view.show()
    app.processEvents()
    view.choose_cell(0, 1)  # normal X-rays called pneumonia
    app.processEvents()
    view.grab().save(str(OUT / "confusion.png"))

    tmp = Path(tempfile.mkdtemp())
    with np.load(NPZ) as z:
        x, y = z["test_images"], z["test_labels"][:, 0]
    picks = [*np.flatnonzero(y == 0)[:2], *np.flatnonzero(y == 1)[:2]]
    paths = []
    for i in picks:
        p = tmp / f"xray_test_{i}_{'normal' if y[i] == 0 else 'pneumonia'}.png"
        Image.fromarray(x[i]).resize((112, 112)).convert("RGB").save(p)  # other size and mode
        paths.append(str(p))
    (tmp / "notes.png").write_text("not an image")
    paths.append(str(tmp / "notes.png"))
    panel = TryItPanel(thumb_px=48)
    panel.resize(760, 400)
    panel.set_run(db, run_id)
    panel.show()
    done: list[object] = []
    panel.predictionsReady.connect(done.append)
    panel.predict_paths(paths)
    while not done:
        app.processEvents()
        panel.wait(100)
    app.processEvents()
    panel.grab().save(str(OUT / "try_it.png"))
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
