"""Core messages in the GUI's words: a CLI hint keeps its text and gains the menu or field.

The core writes one message for both front ends, and its hints name command-line flags
(`--db`, `pepr resume 3`). A dialog that says only `--db` leaves a GUI user stuck, so each hint
gets its GUI equivalent in parentheses. tests/gui/test_gui_text.py checks that every flag and
command that a core message can name has an entry here.
"""

from __future__ import annotations

import re

# (pattern of the CLI hint, where the GUI does it). Longest patterns first: `pepr import-data
# FILE --name NAME` must win over `--name`.
GUI_EQUIVALENTS: list[tuple[str, str]] = [
    (r"`pepr import-data[^`]*`", "Import .npz… or Import image folder… in New experiment"),
    (r"`pepr sweep --resume[^`]*`", "Train selected again in New experiment"),
    (r"`pepr datasets --show[^`]*`", "Preview images in New experiment"),
    (r"`pepr runs --show[^`]*`", "Open details… in Runs"),
    (r"`pepr resume[^`]*`", "Resume in Runs"),
    (r"`pepr recommend --tune[^`]*`", "Tune recipe in New experiment"),
    (r"`pepr runs[^`]*`", "the Runs tab"),
    (r"`pepr train[^`]*`", "Train selected in New experiment"),
    (r"`pepr datasets[^`]*`", "the Dataset list in New experiment"),
    (r"`pepr models[^`]*`", "Recommend in New experiment"),
    (r"`pepr meter[^`]*`", "the Device line of the status bar"),
    (r"`pepr compare[^`]*`", "the Compare tab"),
    (r"`pepr sweep[^`]*`", "Train selected in New experiment"),
    (r"`pepr db[^`]*`", "the recovery dialog shown when a database is damaged"),
    (r"`pepr export[^`]*`", "File > Export runs as CSV…"),
    (r"--db\b", "File > Open database"),
    (r"--image-size\b", "Image size in New experiment"),
    (r"--batch-size\b", "Batch size in New experiment"),
    (r"--class-weights(?: auto)?\b", "Class weights in New experiment"),
    (r"--weights\b", "Start from pretrained weights in New experiment"),
    (r"--pretrained\b", "Start from pretrained weights in New experiment"),
    (r"--device\b", "Device in New experiment"),
    (r"--seed\b", "Seed in New experiment"),
    (r"--epochs\b", "Epochs in New experiment"),
    (r"--lr\b", "Learning rate in New experiment"),
    (r"--data-fraction\b", "Data fraction in New experiment"),
    (r"--name\b", "rename the file or folder before importing it"),
    (r"--overwrite\b", "delete the runs on it, then import again"),
    (r"--classes\b", "the class sub-folder names"),
    (r"--carbon-intensity\b", "Settings > Preferences > Carbon intensity"),
    (r"--region\b", "Settings > Preferences > Region"),
    (r"--backend\b", "Settings > Preferences > Run the queue on"),
    (r"--address\b", "Settings > Preferences > Ray address"),
    (r"--num-cpus\b", "Settings > Preferences > Run the queue on"),
    (r"--num-gpus\b", "Settings > Preferences > Run the queue on"),
    (r"--resource\b", "Rank by PePR of in Compare"),
    (r"--by\b", "Rank by PePR of in New experiment"),
    (r"--allow-mixed\b", "select runs of one dataset in Compare"),
    (r"--recommended\b", "Recommend in New experiment"),
    (r"--models?\b", "the models ticked in the Recommendation table"),
    (r"--head\b", "a model of the same architecture"),
    (r"--resume\b", "Resume in Runs"),
    (r"--time-min\b", "Time in the Budget box"),
    (r"--energy-wh\b", "Energy in the Budget box"),
    (r"--memory-mb\b", "Memory in the Budget box"),
    (r"--download\b", "select the dataset in New experiment (it downloads on first use)"),
]
_COMPILED = [(re.compile(p), gui) for p, gui in GUI_EQUIVALENTS]


def for_gui(message: str) -> str:
    """`message` with the GUI way named after each command-line hint (once per hint)."""
    spans: list[tuple[int, int, str]] = []
    for pattern, gui in _COMPILED:
        for m in pattern.finditer(message):
            if not any(a <= m.start() < b for a, b, _ in spans):  # inside a longer hint
                spans.append((m.start(), m.end(), gui))
    for _start, end, gui in sorted(spans, reverse=True):
        message = f"{message[:end]} ({gui}){message[end:]}"
    return message


def without_cli_hints(message: str) -> str:
    """The message with its `--db` and `pepr ...` clauses dropped, for a dialog that names the
    menu itself (the recovery dialog says File > Open database)."""
    parts = [p for p in re.split(r";\s+", message.strip()) if "--db" not in p and "`pepr" not in p]
    text = "; ".join(parts).rstrip(".") if parts else message.strip().rstrip(".")
    return text + "."
