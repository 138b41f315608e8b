"""The GPU check's steps, run by benchmarks/gpu_check.sh: prerequisites, the `gpu` tests, every
GPU benchmark and a short `pepr auto`, each a subprocess with its own time limit inside one overall
deadline (8 minutes on a GPU), written as ONE markdown table to $OUT/gpu_check.md.

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data" / "pneumoniamnist_28.npz"
GPU_TESTS = ["tests/core/training/test_gpu_path.py"]
BENCHES = [  # (script, seconds allowed on a GPU)
    ("bench_train", 60),
    ("bench_datapath", 75),
    ("bench_throughput", 45),
    ("bench_concurrent", 150),
    ("bench_gpu_energy", 60),
    ("bench_memory", 30),
]
# the CPU run only shows the path works: the small model alone where resnet18 would take minutes
CPU_ARGS = {"bench_datapath": ["--models", "mobilenetv3_small_050"]}
DEADLINE_S = 470  # under 8 minutes in all, with the table written


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if v != v else f"{v:.4g}"
    return str(v)


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, step: str, figure: str, ours: str, ref: str, ratio: str, goal: str, res: str):
        self.rows.append([step, figure, ours, ref, ratio, goal, res])

    def markdown(self) -> str:
        head = ["step", "figure", "ours", "reference", "ratio", "goal", "result"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"


def run(cmd: list[str], limit: float, log) -> tuple[int, str]:
    log.write(f"\n$ {' '.join(cmd)}  (limit {limit:.0f} s)\n")
    log.flush()
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(limit, 5))
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        rc = 124
    log.write(out + f"\n(rc {rc}, {time.perf_counter() - t0:.0f} s)\n")
    log.flush()
    return rc, out


def prerequisites(t: Table, device: str) -> bool:
    """What the check needs, first: torch with CUDA (unless --device cpu), and the optional ones."""
    import torch

    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "no GPU"
    ok = cuda or device == "cpu"
    t.add("needs", f"torch {torch.__version__}, CUDA available", name, "-", "-", "CUDA", _v(ok))
    for mod, why in (("pynvml", "NVML energy"), ("zeus", "Zeus cross-check"), ("medmnist", "")):
        have = importlib.util.find_spec(mod) is not None
        label = f"{mod} importable" + (f" ({why})" if why else "")
        t.add(
            "needs", label, "yes" if have else f"{mod} not installed", "-", "-", "optional", "info"
        )
    return ok


def _v(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "info"}[ok]


def gpu_tests(t: Table, py: str, limit: float, log) -> None:
    rc, out = run(
        [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *GPU_TESTS], limit, log
    )
    last = (out.strip().splitlines() or ["no output"])[-1]
    t.add(
        "gpu tests",
        "pytest -m gpu",
        last,
        "-",
        "-",
        "all pass (skip without CUDA)",
        _v(rc in (0, 5)),
    )


def benches(t: Table, py: str, device: str, quick: bool, deadline: float, log) -> None:
    for name, limit in BENCHES:
        left = deadline - time.perf_counter() - 150  # keep time for the tests, `pepr auto`, table
        cmd = [py, str(HERE / f"{name}.py"), "--device", device] + (["--quick"] if quick else [])
        if device == "cpu":
            cmd += CPU_ARGS.get(name, [])
        rc, out = run(cmd, min(limit * (4 if device == "cpu" else 1), left), log)
        rows = [
            json.loads(ln.split("\t", 1)[1]) for ln in out.splitlines() if ln.startswith("RESULT\t")
        ]
        for r in rows:
            t.add(
                name,
                r["figure"],
                f"{fmt(r['ours'])} {r.get('unit', '')}".strip(),
                fmt(r["reference"]),
                fmt(r["ratio"]),
                r["goal"],
                _v(r["passed"]),
            )
        if rc != 0 or not rows:
            lines = [ln for ln in out.strip().splitlines() if not ln.startswith("RESULT\t")]
            err = (lines or [""])[-1][:160]
            t.add(
                name, "(did not finish)" if rc == 124 else f"(rc {rc})", err, "-", "-", "-", "FAIL"
            )


def pepr_auto(t: Table, py: str, device: str, quick: bool, limit: float, log) -> None:
    pepr = [py, "-m", "pepr_desktop.cli"]
    rc, _ = run([*pepr, "auto", "--help"], 60, log)
    if rc != 0:
        t.add("pepr auto", "2-minute search on PneumoniaMNIST", "not built", "-", "-", "-", "info")
        return
    if not SHARED.is_file():
        t.add("pepr auto", "PneumoniaMNIST", f"{SHARED} missing", "-", "-", "-", "info")
        return
    minutes = "2"  # the 2-minute search; shorter ones find no model that fits a CPU
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "check.sqlite")
        env_db = ["--db", db]
        run([*pepr, *env_db, "import-data", str(SHARED), "--name", "pneu"], 60, log)
        cmd = [
            *pepr,
            *env_db,
            "auto",
            "--data",
            "pneu",
            "--time-min",
            minutes,
            "--device",
            device,
            "--json",
        ]
        rc, out = run(cmd, limit, log)
    last = (out.strip().splitlines() or ["no output"])[-1][:160]
    t.add(
        "pepr auto",
        f"{minutes}-minute search on PneumoniaMNIST, {device}",
        last,
        "-",
        "-",
        "finishes within the budget",
        _v(rc == 0),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--quick", action="store_true", help="every benchmark's smoke sizes")
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    deadline = t0 + (DEADLINE_S if args.device == "cuda" else 4 * DEADLINE_S)
    py, t = sys.executable, Table()
    with open(out / "gpu_check.log", "w") as log:
        if prerequisites(t, args.device):
            benches(t, py, args.device, args.quick, deadline, log)
            gpu_tests(t, py, 90, log)
            left = deadline - time.perf_counter() - 10
            pepr_auto(t, py, args.device, args.quick, max(left, 30), log)
    from benchmarks._report import machine

    text = (
        f"Machine: {machine()}; `--device {args.device}`{' --quick' if args.quick else ''}; "
        f"{time.perf_counter() - t0:.0f} s\n\n" + t.markdown()
    )
    (out / "gpu_check.md").write_text(text)
    print(text)
    return 0 if all(r[-1] != "FAIL" for r in t.rows) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
