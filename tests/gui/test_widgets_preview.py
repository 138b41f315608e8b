"""PreviewGrid on the real PneumoniaMNIST file: counts, warning, thumbnails; errors shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr_desktop.core.data.preview import preview_npz
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.gui.widgets.preview_grid import PreviewGrid, array_to_pixmap


def test_preview_grid_shows_counts_warning_and_samples(qtbot, pneumonia_npz) -> None:
    grid = PreviewGrid(per_class=6, thumb_px=40)
    qtbot.addWidget(grid)
    info = DatasetInfo(
        name="pneu", source="imported", path=pneumonia_npz, n_classes=2, channels=1,
        image_size=28, task="binary-class", class_names=["normal", "pneumonia"],
    )  # fmt: skip
    assert grid.show_dataset(info)
    cells = [
        [grid.counts.item(r, c).text() for c in range(4)] for r in range(grid.counts.rowCount())
    ]
    assert cells == [["normal", "388", "135", "234"], ["pneumonia", "3494", "389", "390"]]
    assert not grid.warnings.isHidden() and "9.0x" in grid.warnings.text()
    assert "28x28 px" in grid.summary.text() and "grey" in grid.summary.text()
    assert grid.thumbnail_count() == 12
    grid.set_preview(preview_npz(pneumonia_npz, per_class=2))  # refill: old thumbnails go
    assert grid.thumbnail_count() == 4


def test_preview_grid_reports_problem_in_place(qtbot, tmp_path: Path) -> None:
    grid = PreviewGrid()
    qtbot.addWidget(grid)
    info = DatasetInfo(
        name="gone", source="imported", path=tmp_path / "gone.npz", n_classes=2, channels=1,
        image_size=28, task="binary-class",
    )  # fmt: skip
    assert not grid.show_dataset(info)
    assert "no such file" in grid.summary.text() and grid.counts.rowCount() == 0


@pytest.mark.parametrize("shape", [(28, 28), (20, 30, 3)])
def test_array_to_pixmap(qtbot, shape) -> None:
    import numpy as np

    pix = array_to_pixmap(np.full(shape, 200, dtype=np.uint8), 60)
    assert max(pix.width(), pix.height()) == 60
    assert pix.toImage().pixelColor(5, 5).red() == 200
