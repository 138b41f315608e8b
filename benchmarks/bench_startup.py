"""Start-up: wall time from launching `pepr --help`, `pepr runs`, `pepr datasets` and the GUI
(`pepr-desktop --smoke`: main window built and shown offscreen) to done, each vs a bare
`python -c pass`, plus whether the command imported torch (it should not for --help and
datasets), whether the shown window had imported pyqtgraph (it should not: the first tab has no
chart, issue 20) and the peak memory of `pepr datasets`. Median of N launches; the CPU time (user +
sys, from wait4) is reported beside the wall time because it moves less when other processes
share the cores.

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


LAST: dict[str, float] = {}  # CPU seconds and peak RSS (MB) of the last median_launch


def launch(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one run of cmd to its exit."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_launch(cmd: list[str], env: dict[str, str], n: int) -> float:
    launch(cmd, env)  # warm the OS file cache
    runs = [launch(cmd, env) for _ in range(n)]
    LAST.update(cpu_s=statistics.median(r[1] for r in runs), peak_mb=max(r[2] for r in runs))
    return statistics.median(r[0] for r in runs)


def imports(code: str, env: dict[str, str], module: str = "torch") -> bool:
    """Whether running `code` in a fresh interpreter imported `module`."""
    code = f"import sys\n{code}\nsys.stderr.write(str({module!r} in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stderr.strip().endswith("True")


# the --smoke path: the window built, shown offscreen and closed
SHOWN = "import time\nfrom pepr_desktop.gui.app import smoke\nsmoke(time.perf_counter(), ['x'])"


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
        torch_free = not imports("from pepr_desktop.cli import build_parser\nbuild_parser()", env)
        help_s = median_launch([str(BIN / "pepr"), "--help"], env, n)
        report(
            "`pepr --help` start-up",
            help_s,
            bare,
            "s",
            "< 0.5 s, no torch import",
            help_s < 0.5 and torch_free,
            torch_imported=not torch_free,
            **LAST,
        )
        runs_s = median_launch([str(BIN / "pepr"), "runs"], env, n)
        report("`pepr runs` (empty database)", runs_s, bare, "s", "< 1 s", runs_s < 1.0, **LAST)
        ds_free = not imports("from pepr_desktop.cli import main\nmain(['datasets'])", env)
        ds_s = median_launch([str(BIN / "pepr"), "datasets"], env, n)
        report(
            "`pepr datasets`",
            ds_s,
            bare,
            "s",
            "< 0.8 s and < 200 MB, no torch import",
            ds_s < 0.8 and LAST["peak_mb"] < 200 and ds_free,
            torch_imported=not ds_free,
            **LAST,
        )
        gui = [str(BIN / "pepr-desktop"), "--smoke"]
        try:
            gui_s = median_launch(gui, env, n)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            print(f"GUI smoke launch failed: {exc}", file=sys.stderr)
            return 1
        charts = imports(SHOWN, env, "pyqtgraph")
        report(
            "GUI launch to main window shown",
            gui_s,
            bare,
            "s",
            "< 2 s",
            gui_s < 2.0,
            pyqtgraph_imported=charts,
            **LAST,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
