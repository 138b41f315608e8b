"""The CPU's power (TDP) for the estimate where RAPL cannot be read: this machine's CPU model,
looked up in CodeCarbon's table of about 4,900 CPUs (`resources/cpu_power/`, MIT), else 7 W per
physical core, with a source that says which.

The match follows CodeCarbon 3.3.2 (`codecarbon/core/cpu.py`, `TDP._get_matching_cpu`) without its
rapidfuzz dependency: only its perfect scores (100) count there, and those reduce to set and string
tests. 1) the name equals a table name (case-insensitive); 2) the same after dropping "(R)",
"CPU @ 2.80GHz" and " CPU"; 3) exactly one table name whose words are all among the CPU's words,
or the other way round (rapidfuzz's token_set_ratio == 100); several such names: no match.
"""

from __future__ import annotations

import csv
import logging
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pepr_desktop.resources_path import resource

log = logging.getLogger(__name__)

TABLE = ("cpu_power", "cpu_power.csv")
TABLE_SOURCE = "CodeCarbon 3.3.2 CPU table"
WATTS_PER_CORE = 7.0
MIN_TDP_W = 15.0
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuPower:
    """The TDP the estimate uses, the CPU it was found for, and where the figure came from."""

    watts: float
    cpu_model: str  # as the system names it; "" when unknown
    source: str  # e.g. "CodeCarbon 3.3.2 CPU table: Intel Core i7-8550U"
    matched: str | None = None  # the table's name, None when the rule was used


@cache
def table() -> dict[str, float]:
    """Table name -> TDP in watts. The few rows whose TDP is no number (CodeCarbon's file has
    "27.29.5" for some old Celerons) are left out, so those CPUs take the fallback rule."""
    out: dict[str, float] = {}
    with resource(*TABLE).open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                out[row["Name"].strip()] = float(row["TDP"])
            except (TypeError, ValueError):
                log.debug("CPU table: no TDP for %r (%r)", row.get("Name"), row.get("TDP"))
    return out


def _words(text: str) -> frozenset[str]:
    """rapidfuzz's default_process, split: lower case, every non-alphanumeric a separator."""
    return frozenset(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@cache
def _table_words() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((name, _words(name)) for name in table())


def _strip_vendor_noise(name: str) -> str:
    """CodeCarbon's clean-up: no "(R)", nothing from " CPU @ " on, no " CPU", no "@ 2.80GHz"."""
    name = name.replace("(R)", "")
    cut = name.find(" CPU @ ")
    if cut > 0:
        name = name[:cut]
    name = name.replace(" CPU", "")
    return re.sub(r" @\s*\d+\.\d+GHz", "", name)


def match_cpu(model: str, names: dict[str, float] | None = None) -> str | None:
    """The table name for `model`, or None when it matches none or several equally well."""
    names = table() if names is None else names
    by_lower = {n.lower(): n for n in names}
    for candidate in (model, _strip_vendor_noise(model)):
        hit = by_lower.get(candidate.strip().lower())
        if hit is not None:
            return hit
    words = _words(_strip_vendor_noise(model))
    if not words:
        return None
    pool = _table_words() if names is table() else tuple((n, _words(n)) for n in names)
    hits = {n for n, w in pool if w and (w <= words or words <= w)}
    return hits.pop() if len(hits) == 1 else None


def detect_cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's marketing name as the system reports it ("" when it says nothing useful)."""
    try:
        if sys.platform.startswith("linux") and cpuinfo.is_file():
            return _from_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
        if sys.platform == "darwin":
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            return out.stdout.strip()
        if sys.platform == "win32":
            return _windows_cpu_name()
    except (OSError, subprocess.SubprocessError):
        log.debug("CPU model detection failed", exc_info=True)
    return platform.processor().strip()


def _from_cpuinfo(text: str) -> str:
    """`model name` (x86), else `Model` / `Hardware` / `cpu model` (ARM, MIPS boards)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model"):
        if key in fields and not fields[key].isdigit():  # x86's "model : 142" is a number
            return fields[key]
    return ""


def _windows_cpu_name() -> str:
    import winreg  # type: ignore[import-not-found]

    key = winreg.OpenKey(
        winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
    )
    with key:
        return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()


def core_count_tdp_w(physical_cores: int | None = None) -> float:
    """The fallback rule: about 7 W per physical core, at least 15 W (4 cores ~ 28 W, like a
    laptop i7; 16 cores ~ 112 W, like a desktop Ryzen 9)."""
    if physical_cores is None:
        import psutil

        physical_cores = psutil.cpu_count(logical=False) or max(1, (os.cpu_count() or 2) // 2)
    return max(MIN_TDP_W, WATTS_PER_CORE * physical_cores)


def cpu_power(model: str | None = None, physical_cores: int | None = None) -> CpuPower:
    """This CPU's TDP from the table, else from the core count; `model` overrides detection."""
    model = detect_cpu_model() if model is None else model.strip()
    matched = match_cpu(model) if model else None
    if matched is not None:
        return CpuPower(table()[matched], model, f"{TABLE_SOURCE}: {matched}", matched)
    rule = core_count_tdp_w(physical_cores)
    why = f"'{model}' matches no single row of the {TABLE_SOURCE}" if model else "CPU unknown"
    return CpuPower(rule, model, f"{WATTS_PER_CORE:g} W per physical core ({why})")


@cache
def this_cpu() -> CpuPower:
    """`cpu_power()` for this machine, looked up once per process."""
    return cpu_power()
