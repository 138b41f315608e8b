"""Scoring stored runs: 1000 runs x 10 epochs in a Store in a temp dir, then time the query +
PePR-E/C/T/M + rank + Pareto front that `pepr compare` and the GUI's Compare view do.
Goal: under 0.5 s. Also times `score_table` on the paper's 1048-row table (goal for `pepr score`:
under 1 s) and the O(n log n) Pareto sweep against the O(n^2) definition, side by side.

    .venv/bin/python benchmarks/bench_score.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pepr_desktop.core.scoring.compare import compare_runs
from pepr_desktop.core.scoring.pepr import pareto_front, score_table
from pepr_desktop.core.store import Store
from pepr_desktop.resources_path import resource

GOAL_COMPARE_S = 0.5
GOAL_SCORE_S = 1.0


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), out


def fill(store: Store, n_runs: int, epochs: int, rng: random.Random) -> None:
    """Bulk insert (one transaction) so the setup is quick; the timed part is the read."""
    now = time.time()
    runs, eps = [], []
    for i in range(1, n_runs + 1):
        acc = rng.uniform(0.6, 0.97)
        secs = [rng.uniform(1, 30) for _ in range(epochs)]
        joules = [s * rng.uniform(20, 200) for s in secs]
        runs.append(
            {
                "id": i, "name": f"run{i}", "created_at": now, "updated_at": now,
                "status": "finished", "dataset": "pneumoniamnist", "model": f"model{i % 131}",
                "params": rng.randint(500_000, 130_000_000), "device": "cuda",
                "config": f'{{"epochs": {epochs}}}', "epochs_planned": epochs,
                "epochs_done": epochs, "test_acc": acc, "val_acc": acc,
                "train_time_s": sum(secs), "energy_j": sum(joules),
                "co2_g": sum(joules) / 3.6e6 * 250, "peak_mem_mb": rng.uniform(200, 20_000),
            }
        )  # fmt: skip
        for e in range(epochs):
            eps.append(
                {
                    "run_id": i, "epoch": e + 1, "train_loss": rng.random(), "val_acc": acc,
                    "test_acc": acc, "seconds": secs[e], "energy_j": joules[e],
                    "peak_mem_mb": runs[-1]["peak_mem_mb"],
                }
            )  # fmt: skip
    with store.transaction():
        store.db["runs"].insert_all(runs)
        store.db["epochs"].insert_all(eps)


def brute_front(perf: list[float], res: list[float]) -> list[bool]:
    return [
        not any(
            perf[j] >= perf[i] and res[j] <= res[i] and (perf[j] > perf[i] or res[j] < res[i])
            for j in range(len(perf))
        )
        for i in range(len(perf))
    ]


def pareto_cases(n: int, rng: random.Random) -> list[tuple[str, list[float], list[float]]]:
    """Random points (most dominated early) and a trade-off curve (every point on the front,
    the definition's worst case)."""
    rand_p, rand_r = [rng.random() for _ in range(n)], [rng.random() for _ in range(n)]
    curve_r = sorted(rng.random() for _ in range(n))
    curve_p = [r**0.5 for r in curve_r]
    return [("random", rand_p, rand_r), ("trade-off curve", curve_p, curve_r)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    repeats = 3 if args.quick else 15
    rng = random.Random(0)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        t0 = time.perf_counter()
        fill(store, args.runs, args.epochs, rng)
        setup = time.perf_counter() - t0
        print(f"setup: {args.runs} runs x {args.epochs} epochs inserted in {setup:.2f} s")

        def query_and_score() -> Any:
            runs = store.runs(dataset="pneumoniamnist", status="finished")
            return compare_runs(runs, "all")

        med, best, table = timed(query_and_score, repeats)
        assert len(table.rows) == args.runs
        assert any(r.pareto["energy"] for r in table.rows)
        q_med, _, _ = timed(
            lambda: store.runs(dataset="pneumoniamnist", status="finished"), repeats
        )
        store.close()
    print(
        f"query + PePR-E/C/T/M + rank + Pareto, {args.runs} runs: median {med * 1000:.1f} ms "
        f"(min {best * 1000:.1f} ms; query alone {q_med * 1000:.1f} ms) over {repeats} repeats; "
        f"goal < {GOAL_COMPARE_S} s: {'PASS' if med < GOAL_COMPARE_S else 'FAIL'} "
        f"(goal/measured = {GOAL_COMPARE_S / med:.1f}x)"
    )

    with resource("pepr_paper", "all_results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    s_med, _, _ = timed(
        lambda: score_table(rows, "test_09", ["energy", "co2", "train_time", "memR"], "dataset"),
        repeats,
    )
    print(
        f"score_table on the paper's {len(rows)} rows x 4 resources, 8 groups: median "
        f"{s_med * 1000:.1f} ms; goal for `pepr score` < {GOAL_SCORE_S} s (process start excluded)"
    )

    for label, perf, res in pareto_cases(args.runs, rng):
        f_med, _, fast = timed(lambda p=perf, r=res: pareto_front(p, r), repeats)
        b_med, _, slow = timed(lambda p=perf, r=res: brute_front(p, r), 1 if args.quick else 3)
        assert fast == slow
        print(
            f"Pareto front of {args.runs} points ({label}, {sum(fast)} on the front): sweep "
            f"{f_med * 1000:.2f} ms vs O(n^2) definition {b_med * 1000:.1f} ms, same result, "
            f"ratio {b_med / f_med:.0f}x"
        )
    from benchmarks._report import report

    report(
        f"query + score + Pareto, {args.runs} stored runs",
        med,
        None,
        "s",
        "< 0.5 s",
        med < GOAL_COMPARE_S,
    )
    report(
        f"score_table, paper's {len(rows)} rows x 4 resources",
        s_med,
        None,
        "s",
        "< 1 s",
        s_med < GOAL_SCORE_S,
    )
    return 0 if med < GOAL_COMPARE_S else 1


if __name__ == "__main__":
    sys.exit(main())
