"""Trials a budgeted search (`pepr auto`) finishes in its search phase with N trials at once vs
one after another, same budget, data and arm. On a CPU the cores bind and each worker's start-up
(importing torch and timm) costs seconds, so N = 1 is the default there and this is information
only; on a GPU small models leave most of it idle, which is what N > 1 is for.

    .venv/bin/python benchmarks/bench_auto_concurrency.py [--n 1,2] [--time-min 0.6]
        [--device cpu|cuda] [--model mobilenetv3_small_050]

The arm's costs are fixed (no probe), so both searches plan alike; the data are 64 synthetic
28 px images (tests/conftest.py's `write_npz`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_search(n: int, minutes: float, device: str, model: str) -> dict:
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.search.auto import engine
    from pepr_desktop.core.search.auto.space import Arm
    from pepr_desktop.core.search.auto.spec import AutoSpec
    from pepr_desktop.core.store import Store
    from tests.conftest import write_npz

    def planner(*args, **kwargs):
        return [Arm(model, 28, False, step_s=0.05, eval_s_per_image=0.001, memory_mb=60.0)], []

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.sqlite") as store:
        data = write_npz(Path(tmp) / "t.npz", (64, 28, 28), 28)
        datasets.import_dataset(data, "tiny", store)
        spec = AutoSpec(
            dataset="tiny",
            time_min=minutes,
            models=[model],
            device=device,
            trial_epochs=2,
            upscale=False,
            search_share=0.7,
            concurrency=n,
        )
        t0 = time.perf_counter()
        r = engine.run_search(spec, store, planner=planner)
        wall = time.perf_counter() - t0
    trained = [t for t in r.trials if t.epochs]
    return {
        "n": n,
        "wall_s": wall,
        "spent_s": r.spent["spent_s"],
        "trials": len(trained),
        "within_budget": r.spent["within_budget"],
        "message": r.message,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="1,2", help="concurrency values to compare (default 1,2)")
    ap.add_argument("--time-min", type=float, default=0.6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="mobilenetv3_small_050")
    args = ap.parse_args()
    import timm  # noqa: F401  (before the clocks: its import is not any search's)

    rows = [one_search(int(n), args.time_min, args.device, args.model) for n in args.n.split(",")]
    print("| trials at once | search trials trained | spent s | within budget |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['n']} | {r['trials']} | {r['spent_s']:.1f} | {r['within_budget']} |")
        print(f"  {r['message']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
