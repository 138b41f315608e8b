"""Recommender benchmark: how long a recommendation takes, and how well it predicts training time.

Imports ../shared/data/pneumoniamnist_28.npz into a throw-away database, asks for a recommendation
under a time budget (cold caches, then warm), trains the top fitting candidates on the CPU with
exactly the recommended settings (through `core.runner.execute`, as `pepr train` does) and prints
predicted vs actual training time and the median absolute % error (goal <= 15 %), plus the wall
time of the recommendation (goal < 60 s for a 28 px dataset).

    .venv/bin/python benchmarks/bench_recommend.py            # 3 epochs, full data, 5 models
    .venv/bin/python benchmarks/bench_recommend.py --quick    # 1 epoch, 30 % of the data
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "pneumoniamnist_28.npz"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch on 30 %% of the data")
    ap.add_argument("--models", type=int, default=5, help="candidates to train (default 5)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default 3; quick 1)")
    ap.add_argument("--time-min", type=float, default=None, help="time budget (default 5)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if not DATA.is_file():
        print(f"skipped: {DATA} is absent")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="pepr_bench_rec_"))
    os.environ["PEPR_CACHE"] = str(tmp / "cache")  # cold caches: the first call measures all

    from pepr_desktop.core.budget import Budget
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.search.recommend import recommend
    from pepr_desktop.core.store import Store
    from pepr_desktop.core.training.config import TrainConfig
    from pepr_desktop.core.training.runner import execute

    epochs = args.epochs or (1 if args.quick else 3)
    fraction = 0.3 if args.quick else 1.0
    budget = Budget(time_min=args.time_min or 5.0)
    store = Store(tmp / "bench.sqlite")
    info = datasets.import_dataset(DATA, "pneu", store)
    cfg = TrainConfig(
        dataset="pneu",
        model="",
        epochs=epochs,
        data_fraction=fraction,
        device=args.device,
        checkpoint=False,
    )
    walls = []
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        rec = recommend(info, store, budget, cfg)
        walls.append(time.perf_counter() - t0)
        print(
            f"recommendation ({label} caches): {walls[-1]:.1f} s wall, "
            f"{len(rec.fitting)} fitting; {rec.message}"
        )
    print(f"settings: {rec.settings}; power: {rec.power_source}")
    chosen = rec.fitting[: args.models]
    if len(chosen) < args.models:
        print(f"only {len(chosen)} fitting candidates to train")
    rows = []
    from pepr_desktop.core.search.probe import probe

    for c in chosen:
        # the same probe again right before training: separates the predictor's own error from
        # the machine's load drifting between the recommendation and the run (shared CPUs)
        fresh = probe(
            c.model,
            channels=info.channels,
            n_classes=info.n_classes,
            native_size=info.image_size,
            input_size=c.image_size,
            batch_size=cfg.batch_size,
            eval_batch_size=cfg.eval_batch_size,
            device=args.device,
        )
        st = rec.settings
        fresh_pred = (
            epochs
            * (st["batches_per_epoch"] * fresh.step_s + st["eval_images"] * fresh.eval_s_per_image)
            + fresh.cold_s
        )
        run_cfg = TrainConfig(
            dataset="pneu",
            model=c.model,
            epochs=epochs,
            data_fraction=fraction,
            device=args.device,
            checkpoint=False,
            image_size=c.image_size if c.image_size != info.image_size else None,
        )
        t0 = time.perf_counter()
        events = list(execute(run_cfg, store))
        wall = time.perf_counter() - t0
        run = store.get_run(events[-1].run_id)
        actual = run["train_time_s"] or 0.0
        err = (c.predicted_time_s - actual) / actual * 100 if actual else float("nan")
        err2 = (fresh_pred - actual) / actual * 100 if actual else float("nan")
        rows.append((c.model, c.predicted_time_s, actual, err, wall, run["status"], err2))
        print(
            f"  {c.model:<24} predicted {c.predicted_time_s:7.1f} s  actual {actual:7.1f} s  "
            f"error {err:+6.1f} %  | re-probed just before: {fresh_pred:7.1f} s "
            f"({err2:+6.1f} %)  (run wall {wall:.1f} s, {run['status']})",
            flush=True,
        )
    from _report import report  # the benchmarks folder is sys.path[0] when run as a script

    report(
        "recommendation wall time, 28 px dataset (cold cache)",
        walls[0],
        None,
        "s",
        "< 60 s",
        walls[0] < 60,
    )
    if rows:
        med = statistics.median(abs(r[3]) for r in rows)
        med2 = statistics.median(abs(r[6]) for r in rows)
        report(
            f"median |predicted - actual| training time, {len(rows)} models",
            med,
            None,
            "%",
            "<= 15 %",
            med <= 15,
        )
        print(
            f"median absolute error of predicted training time: {med:.1f} % over {len(rows)} "
            f"models (goal <= 15 %); with a probe just before each run: {med2:.1f} %"
        )
    print(f"recommendation wall time: cold {walls[0]:.1f} s, warm {walls[1]:.1f} s (goal < 60 s)")
    print(f"machine: {os.cpu_count()} logical CPUs; load average {os.getloadavg()}")
    store.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
