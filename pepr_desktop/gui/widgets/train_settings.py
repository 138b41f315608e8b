"""Advanced training settings: batch size, learning rate, data fraction, seed, class weights,
pretrained weights, and the training-quality options (sampler, augmentation, schedule, label
smoothing, early stop, image size). Every default is the paper's (docs/training.md); the option
lists are core's choice tuples. A recipe is applied with `apply`; `recipe_edited` fires when the
user changes one of a recipe's fields by hand."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)

from pepr_desktop.core.training.config import AUGMENTS, CLASS_WEIGHTS, SAMPLERS, SCHEDULES
from pepr_desktop.gui.recipes import FIELDS


class TrainSettings(QWidget):
    recipe_edited = Signal()  # a recipe field changed, not by `apply`

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._applying = False
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._build_training_box(), 1)
        lay.addWidget(self._build_quality_box(), 1)
        for w in (self.lr_spin, self.smoothing_spin, self.image_size_spin):
            w.valueChanged.connect(self._edited)
        for c in (
            self.class_weights_combo,
            self.sampler_combo,
            self.augment_combo,
            self.schedule_combo,
        ):
            c.currentTextChanged.connect(self._edited)
        self.pretrained_check.toggled.connect(self._edited)

    def _build_training_box(self) -> QGroupBox:
        box = QGroupBox("Training")
        tf = QFormLayout(box)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65_536)
        self.batch_spin.setValue(32)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(6)
        self.lr_spin.setRange(1e-6, 9.99)
        self.lr_spin.setSingleStep(1e-4)
        self.lr_spin.setValue(5e-4)
        self.fraction_spin = QDoubleSpinBox()
        self.fraction_spin.setRange(0.01, 1.0)
        self.fraction_spin.setSingleStep(0.05)
        self.fraction_spin.setValue(1.0)
        self.fraction_spin.setToolTip("Share of the training split used (1.00: all of it)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.pretrained_check = QCheckBox("Start from pretrained weights")
        self.class_weights_combo = QComboBox()
        self.class_weights_combo.addItems(list(CLASS_WEIGHTS))
        self.class_weights_combo.setToolTip("auto: the loss weighs each class by 1 / its share")
        tf.addRow("Batch size", self.batch_spin)
        tf.addRow("Learning rate (Adam)", self.lr_spin)
        tf.addRow("Data fraction", self.fraction_spin)
        tf.addRow("Seed", self.seed_spin)
        tf.addRow("Class weights", self.class_weights_combo)
        tf.addRow(self.pretrained_check)
        return box

    def _build_quality_box(self) -> QGroupBox:
        box = QGroupBox("Training quality")
        qf = QFormLayout(box)
        self.sampler_combo = QComboBox()
        self.sampler_combo.addItems(list(SAMPLERS))
        self.sampler_combo.setToolTip("balanced: every class drawn equally often per epoch")
        self.augment_combo = QComboBox()
        self.augment_combo.addItems(list(AUGMENTS))
        self.augment_combo.setToolTip("light: flips and a small affine jitter, on the device")
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(list(SCHEDULES))
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.5)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.early_check = QCheckBox("Energy-aware early stop")
        self.early_check.setToolTip(
            "Stop when further epochs are not expected to buy the minimum validation gain per Wh"
        )
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 1000)
        self.patience_spin.setValue(2)
        self.min_gain_spin = QDoubleSpinBox()
        self.min_gain_spin.setRange(0.0, 100.0)
        self.min_gain_spin.setDecimals(3)
        self.min_gain_spin.setSingleStep(0.005)
        self.min_gain_spin.setValue(0.01)
        self.min_gain_spin.setSuffix(" acc/Wh")
        for w in (self.patience_spin, self.min_gain_spin):
            w.setEnabled(False)
        self.early_check.toggled.connect(self.patience_spin.setEnabled)
        self.early_check.toggled.connect(self.min_gain_spin.setEnabled)
        self.image_size_spin = QSpinBox()
        self.image_size_spin.setRange(0, 1024)
        self.image_size_spin.setSpecialValueText("dataset's own")
        self.image_size_spin.setSuffix(" px")
        self.image_size_spin.setToolTip("Images are resized to this side before training")
        qf.addRow("Sampler", self.sampler_combo)
        qf.addRow("Augmentation", self.augment_combo)
        qf.addRow("LR schedule", self.schedule_combo)
        qf.addRow("Label smoothing", self.smoothing_spin)
        qf.addRow(self.early_check)
        qf.addRow("Patience (epochs)", self.patience_spin)
        qf.addRow("Min. gain", self.min_gain_spin)
        qf.addRow("Image size", self.image_size_spin)
        return box

    def _edited(self, *_a: Any) -> None:
        if not self._applying:
            self.recipe_edited.emit()

    def recipe_values(self) -> dict[str, Any]:
        """The recipe fields as set (image_size None: the dataset's own)."""
        return {
            "lr": self.lr_spin.value(),
            "class_weights": self.class_weights_combo.currentText(),
            "sampler": self.sampler_combo.currentText(),
            "augment": self.augment_combo.currentText(),
            "schedule": self.schedule_combo.currentText(),
            "label_smoothing": self.smoothing_spin.value(),
            "pretrained": self.pretrained_check.isChecked(),
            "image_size": self.image_size_spin.value() or None,
        }

    def apply(self, settings: dict[str, Any]) -> list[str]:
        """Set the recipe fields named in `settings`; returns the names it does not know."""
        self._applying = True
        try:
            o = settings
            if "lr" in o:
                self.lr_spin.setValue(float(o["lr"]))
            if "class_weights" in o:
                self.class_weights_combo.setCurrentText(str(o["class_weights"]))
            if "sampler" in o:
                self.sampler_combo.setCurrentText(str(o["sampler"]))
            if "augment" in o:
                self.augment_combo.setCurrentText(str(o["augment"]))
            if "schedule" in o:
                self.schedule_combo.setCurrentText(str(o["schedule"]))
            if "label_smoothing" in o:
                self.smoothing_spin.setValue(float(o["label_smoothing"]))
            if "pretrained" in o:
                self.pretrained_check.setChecked(bool(o["pretrained"]))
            if "image_size" in o:
                self.image_size_spin.setValue(int(o["image_size"] or 0))
        finally:
            self._applying = False
        return sorted(set(settings) - set(FIELDS))
