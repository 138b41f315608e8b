"""One result row per figure, printed for people and as a RESULT line for `python -m benchmarks`.

Each benchmark script calls `report(...)` for every figure it measures side by side; the entry
point collects the RESULT lines of all scripts into one table.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any


def machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        threads = torch.get_num_threads()
    except ImportError:
        gpu, threads = "torch missing", 0
    return (
        f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs "
        f"(torch threads {threads}), {gpu}, Python {platform.python_version()}"
    ).replace("  ", " ")


def report(
    figure: str,
    ours: float,
    reference: float | None,
    unit: str,
    goal: str,
    passed: bool | None,
    ratio: float | None = None,
    **extra: Any,
) -> None:
    """Print one figure. `ratio` defaults to ours / reference (pass the median of paired
    ratios when runs alternate)."""
    if ratio is None and reference not in (None, 0):
        ratio = ours / reference
    row = {
        "figure": figure,
        "ours": ours,
        "reference": reference,
        "unit": unit,
        "ratio": ratio,
        "goal": goal,
        "passed": passed,
        **extra,
    }
    ref = f"{reference:.4g}" if reference is not None else "-"
    rat = f"{ratio:.3f}" if ratio is not None else "-"
    verdict = {True: "PASS", False: "FAIL", None: "info"}[passed]
    print(f"{figure}: ours {ours:.4g} {unit}, reference {ref}, ratio {rat}, goal {goal}: {verdict}")
    print("RESULT\t" + json.dumps(row), file=sys.stdout, flush=True)
