"""Stored runs to a CSV or JSON file: the one export behind `pepr export` and File > Export runs.

Every stored column is written (the same set whoever exports), JSON-valued columns as JSON text in
CSV, NaN/inf as empty (CSV) or null (JSON). Times are ISO 8601 with the UTC offset
("2025-03-01T14:05:09.120+01:00"), and every measured column names its unit (energy_j, co2_g,
train_time_s, peak_mem_mb, carbon_intensity_g_per_kwh). The file is written beside its target and
renamed into place, so a failed export (disk full, a folder that vanished) leaves no half-written
file. CodeCarbon's emissions.csv and MLflow are in codecarbon.py and mlflow.py.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.store import RUN_COLUMNS

FORMATS = ("csv", "json")
TIMESTAMPS = ("created_at", "updated_at", "pid_started")  # stored as Unix seconds
EXPORT_NAMES = {"carbon_intensity": "carbon_intensity_g_per_kwh"}  # stored names without a unit


def iso_time(t: float | None) -> str | None:
    """Unix seconds as local ISO 8601 with its UTC offset, to the millisecond."""
    if t is None or not math.isfinite(t):
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).astimezone().isoformat("T", "milliseconds")


def export_name(column: str) -> str:
    return EXPORT_NAMES.get(column, column)


def export_row(run: dict[str, Any]) -> dict[str, Any]:
    """A stored run as exported: ISO times, unit-bearing names (epochs kept as they are)."""
    return {
        export_name(k): iso_time(v) if k in TIMESTAMPS and isinstance(v, (int, float)) else v
        for k, v in run.items()
    }


def finite_or_none(obj: Any) -> Any:
    """NaN/inf -> None throughout, so JSON output is strict."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def columns_of(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The stored columns (export names), in the store's order, then any others the rows carry."""
    cols = [export_name(c) for c in RUN_COLUMNS]
    for r in runs:
        cols += [n for n in map(export_name, r) if n not in cols and n != "epochs"]
    return cols


def check_target(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name to export to.")
    if not path.parent.exists():
        raise UserError(f"folder {path.parent} does not exist; create it or choose another file.")
    return path


def write_runs(path: Path, runs: Sequence[dict[str, Any]], fmt: str = "csv") -> int:
    """Write `runs` (each may carry its `epochs` for JSON) to `path`; the number written."""
    if fmt not in FORMATS:
        raise UserError(f"export format must be one of {', '.join(FORMATS)}, not '{fmt}'.")
    rows = [export_row(r) for r in runs]

    def write(fh: Any) -> None:
        if fmt == "json":
            json.dump(finite_or_none(rows), fh, indent=2, allow_nan=False)
        else:
            _write_csv(fh, rows)

    write_atomically(path, write)
    return len(runs)


def write_atomically(path: Path, write: Callable[[Any], None]) -> Path:
    """`write(text file)` into a file beside `path`, renamed into place once complete; a
    failure leaves nothing behind and is a UserError."""
    path = check_target(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(
            f"cannot write {path} ({exc.strerror or exc}); free some space or choose another file."
        ) from None
    return path


def _write_csv(fh: Any, runs: Sequence[dict[str, Any]]) -> None:
    w = csv.DictWriter(fh, fieldnames=columns_of(runs), extrasaction="ignore")
    w.writeheader()
    for r in runs:
        w.writerow({k: _cell(v) for k, v in r.items() if k != "epochs"})


def _cell(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return json.dumps(finite_or_none(v))
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v
