"""The budget box: energy, time, memory and model-size limits (0 = no limit) and the device.

It reads as core's `Budget` (`budget()`), the one budget type of every layer, and the device as
a spec for `TrainConfig.device` (`device()`); the devices offered are `core.devices.list_devices`.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QWidget

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.devices import list_devices


def optional_spin(suffix: str, maximum: float, decimals: int = 2) -> QDoubleSpinBox:
    """0 shows as 'no limit', so an unset budget is visible rather than silently zero."""
    s = QDoubleSpinBox()
    s.setRange(0, maximum)
    s.setDecimals(decimals)
    s.setSuffix(f" {suffix}")
    s.setSpecialValueText("no limit")
    s.setValue(0)
    return s


class BudgetBox(QGroupBox):
    """Budget limits and the device to train on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Budget (0 = no limit)", parent)
        form = QFormLayout(self)
        self.energy_spin = optional_spin("Wh", 1e6, 3)
        self.time_spin = optional_spin("min", 1e5, 1)
        self.memory_spin = optional_spin("MB", 1e7, 0)
        self.params_spin = optional_spin("M params", 1e4, 2)
        form.addRow("Energy", self.energy_spin)
        form.addRow("Time", self.time_spin)
        form.addRow("Memory", self.memory_spin)
        form.addRow("Max parameters", self.params_spin)
        self.device_combo = QComboBox()
        for label, spec in list_devices():
            self.device_combo.addItem(label, spec)
        form.addRow("Device", self.device_combo)

    def budget(self) -> Budget:
        """The limits as set; 0 (shown as 'no limit') is None. Max parameters are in millions."""

        def opt(s: QDoubleSpinBox) -> float | None:
            return s.value() or None

        mp = opt(self.params_spin)
        return Budget(
            energy_wh=opt(self.energy_spin),
            time_min=opt(self.time_spin),
            memory_mb=opt(self.memory_spin),
            max_params=int(mp * 1e6) if mp else None,
        )

    def device(self) -> str:
        """The chosen device spec ('cpu', 'cuda:0', ...; 'auto' when none is listed)."""
        return self.device_combo.currentData() or "auto"
