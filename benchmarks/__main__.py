"""Run every benchmark and print one table: figure, ours, reference, ratio, goal, pass/fail.

    .venv/bin/python -m benchmarks [--quick] [--only NAME ...]

Each benchmark is a script in this folder, also runnable alone (`python benchmarks/bench_X.py
[--quick]`); they run as subprocesses one after another so that they do not disturb each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._report import machine

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_train",
    "bench_datapath",
    "bench_meter",
    "bench_recommend",
    "bench_score",
    "bench_gui",
    "bench_startup",
    "bench_preview",
    "bench_threads",
    "bench_sweep",
    "kill_loop",
    "bench_quality",  # the longest: 10 minutes of CPU training plus the baseline
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode for every benchmark")
    ap.add_argument("--only", nargs="*", help="benchmark names, e.g. bench_train")
    args = ap.parse_args()
    names = [n for n in ORDER if (HERE / f"{n}.py").is_file()]
    if args.only:
        names = [n for n in names if n in args.only]
    rows: list[dict] = []
    for name in names:
        cmd = [sys.executable, str(HERE / f"{name}.py")] + (["--quick"] if args.quick else [])
        print(f"== {name} ({' '.join(cmd[1:])})", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        found = 0
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT\t"):
                rows.append({"bench": name, **json.loads(line.split("\t", 1)[1])})
                found += 1
            else:
                print("   " + line)
        if proc.returncode != 0 or not found:
            err = proc.stderr.strip().splitlines()[-1:] or [""]
            rows.append(
                {
                    "bench": name,
                    "figure": "(failed to run)",
                    "ours": None,
                    "reference": None,
                    "ratio": None,
                    "unit": "",
                    "goal": "",
                    "passed": False,
                    "error": err[0],
                }
            )
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nMachine: {machine()}\n")
    head = ["benchmark", "figure", "ours", "reference", "ratio", "goal", "result"]
    table = [head]
    for r in rows:

        def f(v):
            return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

        table.append(
            [
                r["bench"],
                r["figure"],
                f"{f(r['ours'])} {r.get('unit', '')}".strip(),
                f(r["reference"]),
                f(r["ratio"]),
                r["goal"],
                {True: "PASS", False: "FAIL", None: "info"}[r["passed"]],
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return 0 if all(r["passed"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
