"""Training quality under a budget (issue 12): test ACC/AUC of a recipe search + final run within
10 minutes, next to a plain ResNet-18 trained with the paper's protocol for 10 epochs.

Both on ../shared/data/pneumoniamnist_28.npz, CPU, 2 threads. Ours: `core/search/tune.py` tries a
few
recipes (paper / class-weighted + augmentation + cosine / balanced sampler + augmentation +
one-cycle + label smoothing) with short runs and chooses by VALIDATION balanced accuracy (the test
split is removed from what the tuner sees); then the chosen recipe trains for as many epochs as the
rest of the budget allows, and its final-epoch test ACC and AUC are read once. The search and the
final run together must fit the budget (wall clock). Goal: test ACC >= 0.90.

    .venv/bin/python benchmarks/bench_quality.py [--quick] [--budget-min 10] [--model resnet18]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._report import machine, report
from pepr_desktop.core.data.sources import read_npz
from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.search.tune import tune
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


def run(cfg: TrainConfig, arrays) -> tuple[dict, float, int]:
    """Train; return the final epoch's metrics, wall seconds and epochs done."""
    t0 = time.perf_counter()
    p = prepare(cfg, arrays)
    last = None
    try:
        for ev in train(cfg, p, run_id=0):
            if isinstance(ev, EpochEnded):
                last = ev
    except Exception as exc:  # a budget stop keeps the epochs done
        if type(exc).__name__ != "StopRun":
            raise
    return (last.metrics if last else {}), time.perf_counter() - t0, (last.epoch + 1 if last else 0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10%% data, 2 epochs, 1.5 min budget")
    ap.add_argument("--budget-min", type=float, default=10.0)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads (2; on a machine loaded by other jobs 1 avoids OpenMP spin-waits)",
    )
    ap.add_argument("--search-share", type=float, default=0.3, help="share of the budget to search")
    args = ap.parse_args()
    if not SHARED.is_file():
        print(f"skipped: {SHARED} not found")
        return 0
    torch.set_num_threads(args.threads)
    arrays = read_npz(SHARED)
    frac, base_epochs = (0.1, 2) if args.quick else (1.0, 10)
    budget_s = (1.5 if args.quick else args.budget_min) * 60
    print(machine())
    print(f"load average before: {os.getloadavg()}")
    base = TrainConfig(
        dataset="pneumoniamnist_28", model=args.model, epochs=base_epochs, device="cpu",
        data_fraction=frac, checkpoint=False,
    )  # fmt: skip

    # reference: the paper's protocol, plain
    ref, ref_s, _ = run(base, arrays)
    print(
        f"paper protocol: {ref_s:.0f} s, test acc {ref['test_acc']:.4f} auc {ref['test_auc']:.4f}"
    )

    # ours: search then final run, both inside the budget
    t0 = time.perf_counter()
    res = tune(
        arrays, base, [args.model], budget_s=budget_s * args.search_share,
        trial_epochs=1 if args.quick else 2, metric="val_bacc", trial_data_fraction=frac * 0.5,
    )  # fmt: skip
    for t in res.trials:
        print(f"  trial {t.model} {t.recipe}: {t.status} {t.note} val {t.val} {t.seconds:.0f} s")
    print(
        f"search spent {res.spent_s:.0f} s of {res.budget_s:.0f} s; "
        f"chose {res.best and res.best.recipe}"
    )
    final = res.best_config(base) if res.best else base
    left = budget_s - (time.perf_counter() - t0)
    trial = res.best
    # trials ran on half the training data: a full epoch costs about twice a trial epoch
    per_epoch = 2 * trial.seconds / max(trial.epochs_done, 1) if trial else left / base_epochs
    epochs = max(1, min(60, int(left * 0.9 / per_epoch)))
    final = dataclasses.replace(final, epochs=epochs, budget_time_min=left / 60)
    print(f"final run: {final.model}, {epochs} epochs planned, {left:.0f} s left")
    ours, _, done = run(final, arrays)
    total_s = time.perf_counter() - t0
    print(f"load average after: {os.getloadavg()}")
    extra = {"recipe": trial.recipe if trial else "paper", "epochs": done, "total_s": total_s}
    report(
        "test ACC, tuned within budget vs paper protocol", ours["test_acc"], ref["test_acc"],
        "acc", ">= 0.90 within the budget", ours["test_acc"] >= 0.90 and total_s <= budget_s,
        **extra,
    )  # fmt: skip
    report(
        "test AUC, tuned within budget vs paper protocol", ours["test_auc"], ref["test_auc"],
        "auc", "info", None, **extra,
    )  # fmt: skip
    report(
        "wall time, search + final vs paper protocol", total_s, ref_s, "s",
        f"<= {budget_s:.0f} s", total_s <= budget_s,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
