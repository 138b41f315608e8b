"""TryItPanel: drops classify off the GUI thread, match the core's predictions, and show
unreadable files in their row."""

from __future__ import annotations

import numpy as np
import pytest
from issue13_helpers import SHARED_NPZ, make_run, save_test_pngs, torch_probs
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from pepr_desktop.gui.widgets.try_it import TryItPanel

pytestmark = pytest.mark.skipif(not SHARED_NPZ.is_file(), reason=f"no shared data: {SHARED_NPZ}")


def test_drop_images_classifies_them(qtbot, store, tmp_path) -> None:
    run_id, net = make_run(store)
    pngs, arrays = save_test_pngs(tmp_path / "imgs", 3)
    bad = tmp_path / "imgs" / "zz_broken.png"
    bad.write_text("nope")
    panel = TryItPanel()
    qtbot.addWidget(panel)
    assert not panel.pick.isEnabled()
    panel.set_run(store.path, run_id)
    assert panel.pick.isEnabled()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in [*pngs, bad]])
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    with qtbot.waitSignal(panel.predictionsReady, timeout=60_000) as sig:
        panel.dropEvent(drop)
    rows = sig.args[0]
    assert [r["path"] for r in rows] == [str(p) for p in [*pngs, bad]]
    ref = torch_probs(net, arrays)
    got = np.array(
        [[r["probabilities"]["normal"], r["probabilities"]["pneumonia"]] for r in rows[:3]]
    )
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert "not a readable image" in rows[3]["error"]
    assert panel.table.rowCount() == 4
    assert panel.table.item(3, 2).text() == "unreadable"
    assert panel.table.item(0, 2).text().startswith(rows[0]["label"])
    assert panel.status.text() == "3 classified, 1 unreadable"


def test_run_without_model_reports_failure(qtbot, store, tmp_path) -> None:
    run_id = store.create_run(dataset="sample", model="resnet10t", config={"dataset": "sample"})
    pngs, _ = save_test_pngs(tmp_path, 1)
    panel = TryItPanel()
    qtbot.addWidget(panel)
    panel.set_run(store.path, run_id)
    with qtbot.waitSignal(panel.failed, timeout=30_000) as sig:
        panel.predict_paths([str(pngs[0])])
    assert "has no saved model" in sig.args[0] and "has no saved model" in panel.status.text()
