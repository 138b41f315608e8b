"""A failed run or task in the GUI's words: what happened and what to click.

The runner stores a failed run's message as it was raised (`RuntimeError: Input height (28)
doesn't match model (224)`); a user needs the remedy. `explain` maps the failures a newcomer
meets to one sentence of cause and one of action; anything else keeps its message (in GUI
words) and points at the log. No Qt here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pepr_desktop.gui.gui_text import for_gui

ADV = "Advanced settings in New experiment"
SMALL_MODELS = "a model made for small images, such as resnet10t or mobilenetv3_small_050"


@dataclass(frozen=True)
class Explained:
    what: str  # what happened, one sentence
    todo: str  # what to click, one sentence

    def text(self) -> str:
        return f"{self.what}\n\nWhat to do: {self.todo}"


def _size_needed(message: str) -> int | None:
    """The input side a model asked for, when the message names it."""
    for pat in (
        r"doesn't match model \((\d+)",
        r"match model \((\d+)\*",
        r"needs at least (\d+) px",
        r"img_size[= ](\d+)",
    ):
        m = re.search(pat, message)
        if m:
            return int(m.group(1))
    return None


def explain(message: str, model: str = "", image_size: int | None = None) -> Explained:
    """Cause and remedy for a run that failed with `message`."""
    msg = message or "the run ended with an error"
    who = model or "the model"
    at = f" at {image_size} px" if image_size else ""
    low = msg.lower()
    needed = _size_needed(msg)
    if "doesn't match model" in low or "does not match model" in low or needed:
        size = f"{needed} px" if needed else "the size it was made for"
        return Explained(
            f"{who} cannot take these images{at}: it needs {size} input.",
            f"set Image size to {size} in {ADV}, or pick {SMALL_MODELS}, then Train again.",
        )
    if any(
        k in low
        for k in (
            "kernel size can't be greater",
            "output size is too small",
            "input size is too small",
            "non-positive",
            "calculated padded input size",
        )
    ):
        return Explained(
            f"The images are too small for {who}{at}: its layers shrink them to nothing.",
            f"set a larger Image size (64 px or more) in {ADV}, or pick {SMALL_MODELS}.",
        )
    if "expected more than 1 value per channel" in low:
        return Explained(
            f"{who} cannot train on a batch of one image (its batch norm needs two or more).",
            f"set Batch size to 2 or more in {ADV}, or a Data fraction that leaves more images.",
        )
    if "out of memory" in low:
        return Explained(
            f"{who} ran out of memory{at}.",
            f"lower Batch size or Image size in {ADV}, or pick a smaller model; "
            "Resume in Runs continues from the last finished epoch.",
        )
    if "no space left" in low:
        return Explained(
            "The disk is full, so the run could not write its checkpoint.",
            "free some disk space, then click Resume in Runs to continue from the last "
            "finished epoch.",
        )
    return Explained(
        f"{who} stopped with an error: {for_gui(msg)}",
        "Help > Open log file shows the details. If the run has finished epochs, Resume in "
        "Runs continues it; otherwise change the settings in New experiment and Train again.",
    )
