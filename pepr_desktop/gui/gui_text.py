"""Core messages in the GUI's words: every command-line hint becomes the menu, field or button
that does the same in the app.

The core writes one message for both front ends, and its hints name command-line flags
(`--db`, `pepr resume 3`). A dialog that says `--db` leaves a GUI user stuck, so `for_gui`
replaces each hint by its GUI equivalent: phrases first (they read better than a word-for-word
swap), then single flags and commands. tests/gui/test_gui_text.py checks that every flag and
command that a core message can name has an entry here, and that none survives `for_gui`.
"""

from __future__ import annotations

import re

ADV = "Advanced settings in New experiment"

# Whole phrases, so the sentence still reads: (pattern, replacement; backrefs allowed).
PHRASES: list[tuple[str, str]] = [
    (r"choose another --name or pass --overwrite", "choose another name in the import dialog"),
    (r"choose another --name", "choose another name in the import dialog"),
    (
        r"consider --class-weights auto",
        f"consider the suggested recipe (class-balanced sampling) or Class weights 'auto' ({ADV})",
    ),
    (r"use --image-size (\d+) or larger", rf"set Image size to \1 px or more ({ADV})"),
    (r"use --batch-size (\d+) or more", rf"set Batch size to \1 or more ({ADV})"),
    (r"use --device cpu", "choose the CPU as Device in New experiment"),
    (
        r"Train from scratch \(drop --pretrained\) or pass --weights FILE",
        f"Train from scratch: untick Start from pretrained weights ({ADV})",
    ),
    (r"\(drop --pretrained\)", f"(untick Start from pretrained weights in {ADV})"),
    (r"or pass --weights FILE", "or untick Start from pretrained weights"),
    (
        r"not cached; --pretrained\)",
        "not cached; tick Start from pretrained weights to fetch them)",
    ),
    (r"or give --model\b", "or type a model name in New experiment"),
    (r"[Rr]un `pepr datasets` for the list", "See the Dataset list in New experiment"),
    (
        r"[Rr]un `pepr models` for the catalogue",
        "Recommend models in New experiment shows the catalogue",
    ),
    (r"run `pepr import-data[^`]*`", "use Import data… in New experiment"),
    (r", --db on the command line", ""),
    (r"\(e\.g\. --resource energy\)", "(e.g. energy, in Compare's Resource list)"),
    (r"--backend ray needs Ray", "Running the queue on Ray needs Ray"),
    (r"or use --backend local", "or run the queue in this process (Settings > Preferences)"),
    (r"pass --weights FILE to fine-tune", "the command line can fine-tune from a weights file"),
    (r"run `pepr resume[^`]*`", "click Resume in Runs"),
    (r", or allow it with --allow-mixed", ""),
    (r"give --models \S+ or --recommended \S+", "select models in the Recommendation table"),
    (
        r"\(or preview it with `pepr datasets --show[^`]*`\)",
        "(select it and train once to download it)",
    ),
    (r"give a file name for -o", "give a file name in the save dialog"),
    (r"choose another -o\b", "choose another file"),
    (r"`ray start --head`", "Ray's own start command on the head node"),
    (r"drop --no-meter or give --time-min\b", "set a Time budget in the Budget box instead"),
    (r"or give other --models", "(Time or Energy in the Budget box)"),
]
# Single commands and flags: (pattern of the CLI hint, where the GUI does it). Longest first:
# `pepr import-data FILE --name NAME` must win over `--name`.
GUI_EQUIVALENTS: list[tuple[str, str]] = [
    (r"`pepr import-data[^`]*`", "Import data… in New experiment"),
    (r"`pepr sweep --resume[^`]*`", "Train selected again in New experiment"),
    (r"`pepr datasets --show[^`]*`", "Preview images in New experiment"),
    (r"`pepr runs --show[^`]*`", "Open details… in Runs"),
    (r"`pepr resume[^`]*`", "Resume in Runs"),
    (r"`pepr recommend --tune[^`]*`", "Tune recipe in New experiment"),
    (r"`pepr runs[^`]*`", "the Runs tab"),
    (r"`pepr train[^`]*`", "Train in New experiment"),
    (r"`pepr datasets[^`]*`", "the Dataset list in New experiment"),
    (r"`pepr models[^`]*`", "Recommend models in New experiment"),
    (r"`pepr meter[^`]*`", "the Meter line of the status bar"),
    (r"`pepr compare[^`]*`", "the Compare tab"),
    (r"`pepr sweep[^`]*`", "Train selected in New experiment"),
    (r"`pepr db[^`]*`", "the recovery dialog shown when a database is damaged"),
    (r"`pepr export[^`]*`", "File > Export runs as CSV…"),
    (r"`pepr [^`]*`", "the matching button in the app"),
    (r"--db\b", "File > Open database"),
    (r"--image-size\b", f"Image size ({ADV})"),
    (r"--batch-size\b", f"Batch size ({ADV})"),
    (r"--class-weights(?: auto)?\b", f"Class weights ({ADV})"),
    (r"--weights(?: FILE)?\b", f"Start from pretrained weights ({ADV})"),
    (r"--pretrained\b", f"Start from pretrained weights ({ADV})"),
    (r"--device\b", "Device in New experiment"),
    (r"--concurrency\b", "running several search trials at once"),
    (r"--seed\b", f"Seed ({ADV})"),
    (r"--epochs\b", f"Epochs ({ADV})"),
    (r"--lr\b", f"Learning rate ({ADV})"),
    (r"--data-fraction\b", f"Data fraction ({ADV})"),
    (r"--name\b", "the name in the import dialog"),
    (r"--overwrite\b", "deleting the dataset's runs and importing it again"),
    (r"--classes\b", "Class names in the import dialog"),
    (r"--carbon-intensity\b", "Carbon intensity (Settings > Preferences)"),
    (r"--region\b", "Region (Settings > Preferences)"),
    (r"--backend(?: local)?\b", "Run the queue on (Settings > Preferences)"),
    (r"--address\b", "Ray address (Settings > Preferences)"),
    (r"--num-cpus\b", "Run the queue on (Settings > Preferences)"),
    (r"--num-gpus\b", "Run the queue on (Settings > Preferences)"),
    (r"--resource\b", "Resource in Compare"),
    (r"--by\b", "Rank by PePR of in New experiment"),
    (r"--allow-mixed\b", "runs of one dataset in Compare"),
    (r"--recommended\b", "Recommend models in New experiment"),
    (r"--models?\b", "the models selected in the Recommendation table"),
    (r"--head\b", "a model of the same architecture"),
    (r"--resume\b", "Resume in Runs"),
    (r"--time-min\b", "Time in the Budget box"),
    (r"--energy-wh\b", "Energy in the Budget box"),
    (r"--memory-mb\b", "Memory in the Budget box"),
    (r"--no-meter\b", "energy metering off"),
    (r"--download\b", "selecting the dataset in New experiment (it downloads on first use)"),
]
_COMPILED = [(re.compile(p), gui) for p, gui in PHRASES + GUI_EQUIVALENTS]
# what is left of a CLI hint after for_gui: the test and the views' own checks use it
CLI_HINT = re.compile(r"`pepr [^`]*`|(?<![\w-])--[a-z][a-z-]+")


def for_gui(message: str) -> str:
    """`message` with each command-line hint replaced by the GUI way to do the same."""
    for pattern, gui in _COMPILED:
        message = pattern.sub(gui, message)
    return message


def without_cli_hints(message: str) -> str:
    """The message with its `--db` and `pepr ...` clauses dropped, for a dialog that names the
    menu itself (the recovery dialog says File > Open database)."""
    parts = [p for p in re.split(r";\s+", message.strip()) if "--db" not in p and "`pepr" not in p]
    text = "; ".join(parts).rstrip(".") if parts else message.strip().rstrip(".")
    return text + "."
