"""Start-up: wall time from launching `pepr --help`, `pepr runs` and the GUI (`pepr-desktop
--smoke`: main window built and shown offscreen) to done, each vs a bare `python -c pass`, plus
whether the command imported torch (it should not for --help). Median of N launches.

    .venv/bin/python benchmarks/bench_startup.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import report  # the benchmarks folder is sys.path[0] when run as a script

BIN = Path(sys.executable).parent


def launch(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median_launch(cmd: list[str], env: dict[str, str], n: int) -> float:
    launch(cmd, env)  # warm the OS file cache
    return statistics.median(launch(cmd, env) for _ in range(n))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 launches each")
    ap.add_argument("-n", type=int, default=7)
    args = ap.parse_args()
    n = 3 if args.quick else args.n
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PEPR_DB": str(Path(tmp) / "s.sqlite"),
               "PEPR_LOG_DIR": tmp, "QT_QPA_PLATFORM": "offscreen",
               "PEPR_SETTINGS": str(Path(tmp) / "settings.ini")}  # fmt: skip
        bare = median_launch([sys.executable, "-c", "pass"], env, n)
        probe = (
            "import sys\nfrom pepr_desktop.cli import build_parser\nbuild_parser()\n"
            "sys.stderr.write(str('torch' in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        torch_free = out.stderr.strip().endswith("False")
        help_s = median_launch([str(BIN / "pepr"), "--help"], env, n)
        report(
            "`pepr --help` start-up",
            help_s,
            bare,
            "s",
            "< 0.5 s, no torch import",
            help_s < 0.5 and torch_free,
            torch_imported=not torch_free,
        )
        runs_s = median_launch([str(BIN / "pepr"), "runs"], env, n)
        report("`pepr runs` (empty database)", runs_s, bare, "s", "< 1 s", runs_s < 1.0)
        gui = [str(BIN / "pepr-desktop"), "--smoke"]
        try:
            gui_s = median_launch(gui, env, n)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            print(f"GUI smoke launch failed: {exc}", file=sys.stderr)
            return 1
        report("GUI launch to main window shown", gui_s, bare, "s", "< 5 s", gui_s < 5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
