"""Stored runs to a CSV or JSON file: the one export behind `pepr export` and File > Export runs.

Every stored column is written (the same set whoever exports), JSON-valued columns as JSON text in
CSV, NaN/inf as empty (CSV) or null (JSON). The file is written beside its target and renamed into
place, so a failed export (disk full, a folder that vanished) leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.store import RUN_COLUMNS

FORMATS = ("csv", "json")


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
    """The stored columns, in the store's order, then any others the rows carry."""
    cols = list(RUN_COLUMNS)
    for r in runs:
        cols += [k for k in r if k not in cols and k != "epochs"]
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
    path = check_target(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            if fmt == "json":
                json.dump(finite_or_none(list(runs)), fh, indent=2, allow_nan=False)
            else:
                _write_csv(fh, runs)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(
            f"cannot write {path} ({exc.strerror or exc}); free some space or choose another file."
        ) from None
    return len(runs)


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
