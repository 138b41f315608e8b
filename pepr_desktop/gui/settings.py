"""Persistent user settings: database path, carbon region/intensity, CPU watts (in the settings
file shared with `pepr`, core/config.py), and in QSettings theme,
window geometry, and the last experiment's dataset, budget, recipe and device. One small typed
wrapper so views never spell keys or defaults twice."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from pepr_desktop.core import config as shared_config
from pepr_desktop.core.budget import Budget
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.paths import default_db_path

ORG, APP = "pepr-desktop", "PePR Desktop"
THEMES = ("light", "dark")
QUEUE_BACKENDS = ("local", "ray")
BUDGET_FIELDS = ("energy_wh", "time_min", "memory_mb", "max_params")
log = logging.getLogger(__name__)


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

    # shared with `pepr` (issue 20): the environment, then the settings file (core/config.py);
    # a value this app kept in QSettings before that file existed is read until the next save
    def _shared(self, name: str, legacy: str, kind: type):
        try:
            value = shared_config.get(name)
        except UserError as exc:  # a damaged file: the app still starts, the log says why
            log.warning("%s", exc)
            value = None
        if value is None:
            old = self._get(legacy, None, kind)
            value = old if old else None  # 0 / "" meant unset
        return value

    def _share(self, name: str, legacy: str, value) -> None:
        """Write to the settings file; UserError for a value `pepr` would refuse too."""
        shared_config.save(name, value or None)
        self.q.remove(legacy)

    # database -------------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        stored = self._shared("db", "db_path", str)
        return Path(stored).expanduser() if stored else default_db_path()

    @db_path.setter
    def db_path(self, path: Path | str) -> None:
        self._share("db", "db_path", str(path))

    # metering -------------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self._shared("region", "region", str) or ""

    @region.setter
    def region(self, value: str) -> None:
        self._share("region", "region", value)

    @property
    def carbon_intensity(self) -> float | None:
        """gCO2eq/kWh typed by the user; None means 'use the region's table value'."""
        return self._shared("carbon_intensity", "carbon_intensity", float)

    @carbon_intensity.setter
    def carbon_intensity(self, value: float | None) -> None:
        self._share("carbon_intensity", "carbon_intensity", value)

    @property
    def cpu_watts(self) -> float | None:
        """CPU package power (TDP) used when RAPL is unreadable; None: the meter's own default."""
        return self._shared("cpu_watts", "cpu_watts", float)

    @cpu_watts.setter
    def cpu_watts(self, value: float | None) -> None:
        self._share("cpu_watts", "cpu_watts", value)

    @property
    def pue(self) -> float | None:
        """Power usage effectiveness from the settings file (no field in the dialog yet)."""
        return self._shared("pue", "pue", float)

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

    # the last experiment (issue 19): dataset, budget, recipe, device, epochs ---------------
    @property
    def last_dataset(self) -> str:
        return self._get("experiment/dataset", "", str)

    @last_dataset.setter
    def last_dataset(self, value: str) -> None:
        self.q.setValue("experiment/dataset", value or "")

    @property
    def last_budget(self) -> Budget:
        """The budget last set in New experiment (no limits when none was stored or it is bad)."""
        raw = self._get("experiment/budget", "", str)
        try:
            d = json.loads(raw) if raw else {}
            return Budget(**{k: d[k] for k in BUDGET_FIELDS if d.get(k) is not None}).validate()
        except (TypeError, ValueError, UserError):
            return Budget()

    @last_budget.setter
    def last_budget(self, value: Budget) -> None:
        self.q.setValue(
            "experiment/budget", json.dumps({k: getattr(value, k) for k in BUDGET_FIELDS})
        )

    @property
    def last_recipe(self) -> str:
        return self._get("experiment/recipe", "", str)

    @last_recipe.setter
    def last_recipe(self, value: str) -> None:
        self.q.setValue("experiment/recipe", value or "")

    @property
    def last_device(self) -> str:
        return self._get("experiment/device", "", str)

    @last_device.setter
    def last_device(self, value: str) -> None:
        self.q.setValue("experiment/device", value or "")

    @property
    def last_epochs(self) -> int | None:
        v = self._get("experiment/epochs", 0, int)
        return v if v > 0 else None

    @last_epochs.setter
    def last_epochs(self, value: int) -> None:
        self.q.setValue("experiment/epochs", int(value))

    @property
    def advanced(self) -> dict:
        """The Advanced settings of a custom recipe, as last set ({} when none)."""
        raw = self._get("experiment/advanced", "", str)
        try:
            d = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return d if isinstance(d, dict) else {}

    @advanced.setter
    def advanced(self, value: dict) -> None:
        self.q.setValue("experiment/advanced", json.dumps(value))

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
