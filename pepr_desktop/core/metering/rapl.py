"""CPU package and DRAM energy from Intel/AMD RAPL through Linux powercap.

Each zone (`intel-rapl:0`, `intel-rapl:0:2`, ...) has `name`, `energy_uj` (a counter that wraps at
`max_energy_range_uj`) and lives under /sys/class/powercap. Since Linux 5.10 (CVE-2020-8694)
`energy_uj` is readable by root only on most distributions; the meter then says so and how to allow
it, and the factory falls back to the labelled estimate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepr_desktop.core.metering.base import CounterMeter, MeterUnavailable

log = logging.getLogger(__name__)

POWERCAP_ROOT = Path("/sys/class/powercap")


@dataclass
class Zone:
    path: Path
    name: str
    max_range_uj: int | None
    last_uj: int = 0


def find_zones(root: Path, want: Callable[[str], bool]) -> list[Zone]:
    """RAPL zones under `root` whose name passes `want`, each physical zone once."""
    zones, seen = [], set()
    if not root.is_dir():
        return zones
    for d in sorted(root.glob("intel-rapl:*")):
        try:
            name = (d / "name").read_text().strip()
        except OSError:
            continue
        real = os.path.realpath(d)
        if real in seen or not want(name):
            continue
        seen.add(real)
        try:
            max_range = int((d / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            max_range = None
        zones.append(Zone(d, name, max_range))
    return zones


def _is_package(name: str) -> bool:
    return name.startswith("package")


def _is_dram(name: str) -> bool:
    return name == "dram"


def permission_hint(root: Path) -> str:
    return (
        f"RAPL counters under {root} are readable by root only (Linux >= 5.10); allow them with "
        f"`sudo chmod o+r {root}/intel-rapl:*/energy_uj {root}/intel-rapl:*:*/energy_uj` (or a "
        "udev rule), or run as root"
    )


class RaplMeter(CounterMeter):
    """Sum of the RAPL zones of one kind (all CPU packages, or all DRAM domains)."""

    def __init__(self, component: str = "cpu", root: Path | str = POWERCAP_ROOT, **kw: Any) -> None:
        super().__init__(**kw)
        if component not in ("cpu", "dram"):
            raise ValueError(f"RAPL meters cpu or dram, not {component!r}")
        self.component = component
        self.method = "rapl" if component == "cpu" else "rapl_dram"
        self.root = Path(root)
        self.zones: list[Zone] = []
        self._unwrapped = 0.0

    def open(self) -> None:
        want = _is_package if self.component == "cpu" else _is_dram
        self.zones = find_zones(self.root, want)
        if not self.zones:
            what = "package" if self.component == "cpu" else "dram"
            if not self.root.is_dir():
                raise MeterUnavailable(
                    f"no {self.root} (not Linux, or a VM/container without the powercap driver)"
                )
            raise MeterUnavailable(f"no RAPL {what} domain under {self.root}")
        try:
            for z in self.zones:
                z.last_uj = int((z.path / "energy_uj").read_text())
        except PermissionError:
            raise MeterUnavailable(permission_hint(self.root)) from None
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"cannot read {z.path / 'energy_uj'} ({exc})") from None
        self._unwrapped = 0.0
        super().open()

    def _counter_j(self, now: float) -> float:
        for z in self.zones:
            now = int((z.path / "energy_uj").read_text())
            step = now - z.last_uj
            if step < 0:  # the counter wrapped
                if z.max_range_uj is None:
                    raise OSError(f"{z.path} wrapped and has no max_energy_range_uj")
                step += z.max_range_uj
            z.last_uj = now
            self._unwrapped += step / 1e6
        return self._unwrapped

    def info(self) -> dict[str, Any]:
        return {"zones": [z.name for z in self.zones], "root": str(self.root)}
