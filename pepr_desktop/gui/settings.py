"""Persistent user settings (QSettings): database path, carbon region/intensity, CPU watts, theme,
window geometry. One small typed wrapper so views never spell keys or defaults twice."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from pepr_desktop.core.paths import default_db_path

ORG, APP = "pepr-desktop", "PePR Desktop"
THEMES = ("light", "dark")
QUEUE_BACKENDS = ("local", "ray")


class AppSettings:
    """Typed access to QSettings. `PEPR_SETTINGS` (an .ini path) isolates tests and portable use."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        if qsettings is None:
            ini = os.environ.get("PEPR_SETTINGS")
            qsettings = QSettings(ini, QSettings.Format.IniFormat) if ini else QSettings(ORG, APP)
        self.q = qsettings

    def _get(self, key: str, default, kind: type):
        value = self.q.value(key, default)
        try:
            return kind(value) if value is not None else default
        except (TypeError, ValueError):
            return default

    # database -------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        env = os.environ.get("PEPR_DB")
        if env:
            return Path(env).expanduser()
        stored = self._get("db_path", "", str)
        return Path(stored).expanduser() if stored else default_db_path()

    @db_path.setter
    def db_path(self, path: Path | str) -> None:
        self.q.setValue("db_path", str(path))

    # metering -------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self._get("region", "", str)

    @region.setter
    def region(self, value: str) -> None:
        self.q.setValue("region", value)

    @property
    def carbon_intensity(self) -> float | None:
        """gCO2eq/kWh typed by the user; None means 'use the region's table value'."""
        v = self._get("carbon_intensity", 0.0, float)
        return v if v > 0 else None

    @carbon_intensity.setter
    def carbon_intensity(self, value: float | None) -> None:
        self.q.setValue("carbon_intensity", float(value or 0.0))

    @property
    def cpu_watts(self) -> float | None:
        """CPU package power (TDP) used when RAPL is unreadable; None: the meter's own default."""
        v = self._get("cpu_watts", 0.0, float)
        return v if v > 0 else None

    @cpu_watts.setter
    def cpu_watts(self, value: float | None) -> None:
        self.q.setValue("cpu_watts", float(value or 0.0))

    @property
    def idle_baseline_s(self) -> float:
        """Seconds of idle power measured before a run (for net energy); 0 switches it off."""
        v = self._get("idle_baseline_s", 3.0, float)
        return v if 0 <= v <= 600 else 3.0

    @idle_baseline_s.setter
    def idle_baseline_s(self, value: float) -> None:
        self.q.setValue("idle_baseline_s", float(value))

    # queue backend (issue 11) ---------------------------------------------------------------
    @property
    def queue_backend(self) -> str:
        """'local' (this process, the default) or 'ray' (the queue's models as one Ray sweep)."""
        v = self._get("queue_backend", "local", str)
        return v if v in QUEUE_BACKENDS else "local"

    @queue_backend.setter
    def queue_backend(self, value: str) -> None:
        self.q.setValue("queue_backend", value if value in QUEUE_BACKENDS else "local")

    @property
    def ray_address(self) -> str:
        """Ray cluster address; blank: start a local Ray on this machine."""
        return self._get("ray_address", "", str).strip()

    @ray_address.setter
    def ray_address(self, value: str) -> None:
        self.q.setValue("ray_address", (value or "").strip())

    # appearance -----------------------------------------------------------------------------
    @property
    def theme(self) -> str:
        t = self._get("theme", "light", str)
        return t if t in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        self.q.setValue("theme", value if value in THEMES else "light")

    @property
    def geometry(self) -> QByteArray | None:
        v = self.q.value("geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.q.setValue("geometry", value)

    def sync(self) -> None:
        self.q.sync()
