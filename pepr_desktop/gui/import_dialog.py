"""The import dialog: a dataset's name and class names before it is imported.

A file named like a built-in dataset (`pneumoniamnist_28.npz`) or like one already imported
gets a free name suggested (`my_pneumoniamnist_28`, `pneu_2`), never an error. Class names are
optional for a .npz (its labels are 0..K-1); an image folder's classes are its sub-folder names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pepr_desktop.core.data import sources

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
MAX_TRIES = 1000


def builtin(name: str) -> bool:
    """True for the bundled sample's name and any MedMNIST-style name (`pathmnist_64`)."""
    return name == sources.SAMPLE_NAME or sources.parse_medmnist_name(name) is not None


def safe_name(stem: str) -> str:
    """`stem` as a valid dataset name: other characters become '_', a letter first."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:56] or "data"
    return name if name[:1].isalpha() else f"d_{name}"


def free_name(stem: str, taken: Callable[[str], bool]) -> str:
    """A valid dataset name for a file or folder named `stem` that is neither built in nor
    `taken`: the stem itself, else `my_<stem>`, else `<name>_2`, `_3`, ..."""
    base = safe_name(stem)
    if builtin(base):
        base = f"my_{base}"[:56]
    if not builtin(base) and not taken(base):
        return base
    for i in range(2, MAX_TRIES):
        name = f"{base}_{i}"
        if not builtin(name) and not taken(name):
            return name
    raise RuntimeError(f"no free dataset name after {base}_{MAX_TRIES - 1}")  # never in practice


def parse_class_names(text: str) -> list[str] | None:
    """'normal, pneumonia' -> ['normal', 'pneumonia']; blank -> None (names from the file)."""
    names = [n.strip() for n in text.split(",")]
    names = [n for n in names if n]
    return names or None


class ImportDialog(QDialog):
    """Name (suggested free) and class names for one file or folder; `values()` after OK."""

    def __init__(
        self, path: Path, taken: Callable[[str], bool], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.taken = taken
        self.setWindowTitle("Import a dataset")
        lay = QVBoxLayout(self)
        kind = "image folder" if self.path.is_dir() else ".npz file"
        head = QLabel(f"Import the {kind} <b>{self.path.name}</b>")
        head.setWordWrap(True)
        lay.addWidget(head)
        form = QFormLayout()
        self.name_edit = QLineEdit(free_name(self.path.stem, taken))
        self.name_edit.setValidator(QRegularExpressionValidator(NAME_PATTERN, self))
        self.name_edit.setToolTip("Letters, digits, '_', '-' or '.', starting with a letter")
        self.name_note = QLabel()
        self.name_note.setObjectName("hint")
        self.name_note.setWordWrap(True)
        self.classes_edit = QLineEdit()
        if self.path.is_dir():
            self.classes_edit.setEnabled(False)
            self.classes_edit.setPlaceholderText("the sub-folder names")
        else:
            self.classes_edit.setPlaceholderText("e.g. normal, pneumonia (label 0, 1, …)")
        form.addRow("Dataset name", self.name_edit)
        form.addRow("", self.name_note)
        form.addRow("Class names", self.classes_edit)
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._check_name)
        self._check_name(self.name_edit.text())
        self.resize(460, self.sizeHint().height())

    def _check_name(self, text: str) -> None:
        """A taken or built-in name is not an error: the note offers the free one."""
        name = text.strip()
        if not name:
            self.name_note.setText("Give the dataset a name.")
        elif builtin(name) or self.taken(name):
            self.name_note.setText(
                f"'{name}' is already used; it will be imported as '{free_name(name, self.taken)}'."
            )
        else:
            self.name_note.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(name))

    def values(self) -> tuple[str, list[str] | None]:
        """The (free) name and the class names (None: from the file)."""
        name = self.name_edit.text().strip() or self.path.stem
        if builtin(name) or self.taken(name):
            name = free_name(name, self.taken)
        return name, parse_class_names(self.classes_edit.text())
