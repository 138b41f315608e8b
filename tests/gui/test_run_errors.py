"""Issue 19: a failed run in the GUI's words, with what to click."""

from __future__ import annotations

from pepr_desktop.gui.gui_text import CLI_HINT
from pepr_desktop.gui.run_errors import explain


def test_known_failures_get_their_remedy() -> None:
    vit = explain("RuntimeError: Input height (28) doesn't match model (224).", "vit_tiny", 28)
    assert "vit_tiny cannot take these images at 28 px" in vit.what and "224 px" in vit.todo
    small = explain("RuntimeError: Kernel size can't be greater than actual input size", "inc", 8)
    assert "too small" in small.what and "64 px" in small.todo
    oom = explain("out of memory (OutOfMemoryError); try a smaller --batch-size", "resnet50")
    assert "Batch size" in oom.todo and not CLI_HINT.search(oom.text())
    bn = explain("ValueError: Expected more than 1 value per channel when training", "m")
    assert "Batch size to 2" in bn.todo


def test_anything_else_keeps_its_message_in_gui_words_and_points_at_the_log() -> None:
    e = explain("checkpoint unreadable; run `pepr resume 4` to retry", "m")
    assert "checkpoint unreadable" in e.what and "click Resume in Runs" in e.what
    assert "Help > Open log file" in e.todo and not CLI_HINT.search(e.text())
