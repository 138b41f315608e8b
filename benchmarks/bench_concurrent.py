"""Trials per hour with N trial processes at once on one device (core/sweeps/concurrent.py) vs the
same trials one after another (in one worker process, which pays its start-up once). Goal on a
GPU: >= 3x for small models (they leave most of it idle); on a CPU the cores are the limit, so the
figure is information only.

    .venv/bin/python benchmarks/bench_concurrent.py [--quick] [--device cpu|cuda] [--n N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import report
from pepr_desktop.core.data.sources import bundled_sample_path, read_npz
from pepr_desktop.core.events import RunFinished
from pepr_desktop.core.sweeps.concurrent import choose_concurrency, run_jobs
from pepr_desktop.core.training.config import Control, TrainConfig
from pepr_desktop.core.training.train import resolve_device

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


def trials_per_hour(jobs: list[tuple[int, TrainConfig]], arrays, n: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    ok = 0
    for _, item in run_jobs(jobs, arrays, None, Control(), n):
        if isinstance(item, RunFinished) and item.status == "finished":
            ok += 1
    return len(jobs) * 3600 / (time.perf_counter() - t0), ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 trials of 1 epoch on 5 %% of the data")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default="mobilenetv3_small_050")
    ap.add_argument("--n", type=int, default=None, help="trials at once (default: chosen)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    arrays = read_npz(SHARED if SHARED.is_file() else bundled_sample_path())
    trials = 2 if args.quick else 6  # 6: sequential start-ups fit the GPU check's time
    cfg = TrainConfig(
        dataset="bench",
        model=args.model,
        epochs=1,
        device=device,
        data_fraction=0.05 if args.quick else 0.5,
        checkpoint=False,
    )
    jobs = [(i, TrainConfig(**{**cfg.to_dict(), "seed": i})) for i in range(trials)]
    # ~300 MiB: a small model's probe figure at 28 px (bench_memory.py measures it)
    n = args.n or choose_concurrency(trials, device, mem_per_trial_mb=300)
    seq, ok_seq = trials_per_hour(jobs, arrays, 1)
    conc, ok_conc = trials_per_hour(jobs, arrays, n)
    gpu = device.startswith("cuda")
    ratio = conc / seq
    report(
        f"trials/hour, {trials} x {args.model}, {n} at once vs 1, {device}",
        conc,
        seq,
        "trials/h",
        ">= 3 (GPU)" if gpu else "info (CPU: cores bound)",
        (ratio >= 3.0) if gpu else None,
        finished=f"{ok_conc}/{trials} and {ok_seq}/{trials}",
    )
    return 0 if ok_seq == ok_conc == trials else 1


if __name__ == "__main__":
    sys.exit(main())
