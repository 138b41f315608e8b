"""The full crash-safety loop: `pepr train` killed with SIGKILL at random points, 20 times by
default, into one database; after each kill the database is checked (integrity, the run marked
`interrupted`, every finished epoch present, checkpoint loadable, earlier runs untouched).

    .venv/bin/python benchmarks/kill_loop.py [--iterations 20] [--seed 0]

Prints each kill and `kills survived: S/T`; exits 1 if any kill was not survived. The harness is
tests/core/test_crash_safety.py (CI runs one kill per kind of point).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.test_crash_safety import kill_loop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="4 kills, one of each kind")
    args = ap.parse_args()
    if args.quick:
        args.iterations = 4
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pepr_kill_") as tmp:
        results = kill_loop(Path(tmp), args.iterations, args.seed, log=print)
    survived = sum(r.ok for r in results)
    by_epochs = sorted({r.epochs_done for r in results})
    print(
        f"kills survived: {survived}/{len(results)} (epochs stored at kill: {by_epochs}; "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    from benchmarks._report import report

    report(
        "SIGKILL crash loop: runs recovered intact",
        survived,
        len(results),
        "kills",
        "all",
        survived == len(results),
    )
    return 0 if survived == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
