"""Training throughput on a CPU that another process shares: the thread governor
(core/training/threads.py, torch's threads follow the CPUs left free) vs torch's fixed
one-thread-per-core, in alternating pairs; and the same on the quiet machine (no loss allowed).

Ours and the reference are the app's own trainer (`prepare` + `train`) on the shared
PneumoniaMNIST, same model, seed, data and epochs; the reference has the governor switched off.
The competing process is one pure-Python busy loop (one core), started before and stopped
after each pair. Goals: under load >= 3x; quiet >= 0.97.

    .venv/bin/python benchmarks/bench_threads.py [--quick] [--pairs 3] [--model resnet10t]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._report import machine, report
from pepr_desktop.core.data.sources import read_npz
from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.training import threads as threads_mod
from pepr_desktop.core.training import train as train_mod
from pepr_desktop.core.training.config import TrainConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"
REAL_GOVERNOR = threads_mod.governor_for


def images_per_s(cfg: TrainConfig, arrays, governed: bool) -> tuple[float, dict]:
    """Training images per second over the run's epochs (evaluation excluded)."""
    threads_mod.governor_for = REAL_GOVERNOR if governed else (lambda device: None)
    try:
        p = train_mod.prepare(cfg, arrays)
        seconds, images, extra = 0.0, 0, {}
        for ev in train_mod.train(cfg, p, run_id=0):
            if isinstance(ev, EpochEnded):
                seconds += ev.seconds
                images += len(p.train)
                extra = ev.extra.get("cpu_threads") or {}
        return images / seconds, extra
    finally:
        threads_mod.governor_for = REAL_GOVERNOR


def busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 pair, 1 epoch on 10%% of the data")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--model", default="resnet10t")
    args = ap.parse_args()
    if not SHARED.is_file():
        print(f"skipped: {SHARED} not found")
        return 0
    if torch.get_num_threads() < 2:
        print("skipped: torch has one thread here (OMP_NUM_THREADS=1?), nothing to govern")
        return 0
    arrays = read_npz(SHARED)
    pairs, frac, epochs = (1, 0.1, 1) if args.quick else (args.pairs, 0.3, 2)
    cfg = TrainConfig(
        dataset="pneumoniamnist_28", model=args.model, epochs=epochs, device="cpu",
        data_fraction=frac, checkpoint=False,
    )  # fmt: skip
    print(machine())
    results: dict[str, list[float]] = {
        k: [] for k in ("load_on", "load_off", "quiet_on", "quiet_off")
    }
    lowest = []
    images_per_s(cfg, arrays, False)  # warm-up: the process's first run pays the cold start
    for i in range(pairs):
        print(f"pair {i + 1}/{pairs}, load average {os.getloadavg()[0]:.2f}")
        for governed in (True, False) if i % 2 == 0 else (False, True):
            ips, extra = images_per_s(cfg, arrays, governed)
            results[f"quiet_{'on' if governed else 'off'}"].append(ips)
            print(f"  quiet, governor {'on ' if governed else 'off'}: {ips:7.1f} img/s {extra}")
        hog = busy_process()
        try:
            time.sleep(1.0)
            for governed in (True, False) if i % 2 == 0 else (False, True):
                ips, extra = images_per_s(cfg, arrays, governed)
                results[f"load_{'on' if governed else 'off'}"].append(ips)
                if governed:
                    lowest.append(extra.get("lowest"))
                print(f"  one busy process, governor {'on ' if governed else 'off'}: "
                      f"{ips:7.1f} img/s {extra}")  # fmt: skip
        finally:
            hog.kill()
            hog.wait()
        time.sleep(2.0)

    def ratio(kind: str) -> float:
        on, off = results[f"{kind}_on"], results[f"{kind}_off"]
        return statistics.median(a / b for a, b in zip(on, off))

    load, quiet = ratio("load"), ratio("quiet")
    report(
        "training img/s with one busy process beside, governor vs fixed threads",
        statistics.median(results["load_on"]), statistics.median(results["load_off"]), "img/s",
        ">= 3x", load >= 3, ratio=load, pairs=pairs, lowest_threads=lowest, model=args.model,
    )  # fmt: skip
    report(
        "training img/s on the quiet machine, governor vs fixed threads",
        statistics.median(results["quiet_on"]), statistics.median(results["quiet_off"]), "img/s",
        ">= 0.97", quiet >= 0.97, ratio=quiet, pairs=pairs, model=args.model,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
