"""The crash and fault matrix (issue 16): real processes killed, frozen, starved of disk or given
a read-only disk; after each fault the database is checked (PRAGMA integrity_check, everything
committed before still there, no run left `running` after the next open) and every killed run is
finished with `pepr resume` (a killed sweep with `pepr sweep --resume`).

    .venv/bin/python benchmarks/kill_loop.py [--iterations 10] [--faults 5] [--power 3]
                                             [--cases cli_train,gui_train,...] [--seed 0]
    .venv/bin/python benchmarks/kill_loop.py --quick      # one trial per case, about 2-3 min

Cases (tests/core/test_crash_safety.py holds the harness; CI runs one trial of each):

    cli_train       SIGKILL `pepr train` at random points of 4 kinds, all into one database
    gui_train       SIGKILL the GUI (main window, training through ctx.training); its store
                    process must exit by itself
    import_data     SIGKILL `pepr import-data` (33 MB .npz) while it reads, while it writes its
                    temporary file, right after the rename into place, or at random
    sweep           SIGKILL `pepr sweep` (2 models) at a random moment
    concurrent_cli  `pepr runs` / `pepr import-data` in a loop on the same database during the four
                    cases above (every command must succeed, every import stay)
    txn_kill        SIGKILL while the writer is inside an epoch's transaction, its frames in the WAL
    power_cut       the writer frozen at random instants, db + WAL copied by another process (the
                    power-cut image), and the same image with the WAL's unsynced last commit lost
    disk_full       the disk (a 24 MB tmpfs) fills during a run
    read_only       the database on a tmpfs remounted read-only, clean and after a crash

Prints one line per trial, then the table (case, trials, intact, committed-lost, what the user is
told) and a RESULT line per case; exits 1 if any trial was not intact. Needs root for the tmpfs
cases (disk_full falls back to RLIMIT_FSIZE, read_only is then reported as not measured).
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core import test_crash_safety as harness
from tests.core.test_crash_safety import KillResult

KILL_CASES = ("cli_train", "gui_train", "import_data", "sweep")
OTHER_CASES = ("txn_kill", "power_cut", "disk_full", "read_only")
ROWS = {
    "cli_train": "SIGKILL `pepr train`, 4 kinds of point",
    "gui_train": "SIGKILL the GUI while it trains",
    "import_data": "SIGKILL `pepr import-data`",
    "sweep": "SIGKILL `pepr sweep` (2 models)",
    "concurrent_cli": "`pepr runs`/`import-data` loop during those kills",
    "txn_kill": "SIGKILL inside a transaction (WAL uncommitted)",
    "power_cut_image": "power-cut image (writer frozen, db+WAL copied)",
    "power_cut_tail_lost": "power-cut image, unsynced last commit lost",
    "disk_full": "disk fills during a run",
    "read_only": "database on a read-only medium",
}


def run_matrix(
    tmp: Path,
    cases: list[str],
    iterations: int,
    faults: int,
    power: int,
    seed: int,
    concurrent: bool = True,
    epochs: int = 10,
    log=print,
) -> list[KillResult]:
    db = tmp / "laptop.sqlite"  # one database for the kills, as on a user's laptop
    results: list[KillResult] = []
    t0 = time.perf_counter()

    def timed(what: str, got: list[KillResult]) -> list[KillResult]:
        nonlocal t0
        log(f"  ({what}: {time.perf_counter() - t0:.0f} s)")
        t0 = time.perf_counter()
        return got

    kill_cases = [c for c in KILL_CASES if c in cases]
    if kill_cases:
        loop = harness.CliLoop(db, harness.tiny_npz(tmp / "tiny.npz")) if concurrent else None
        if loop:
            loop.__enter__()
        try:
            if "cli_train" in cases:
                results += timed(
                    "cli_train",
                    harness.kill_loop(tmp, iterations, seed, log, epochs=epochs, db=db),
                )
            if "gui_train" in cases:
                results += timed(
                    "gui_train",
                    harness.kill_loop(
                        tmp, iterations, seed + 1, log, gui=True, epochs=epochs, db=db
                    ),
                )
            if "import_data" in cases:
                results += timed("import_data", harness.import_loop(db, iterations, seed, log))
            if "sweep" in cases:
                results += timed("sweep", harness.sweep_loop(db, iterations, seed, log))
        finally:
            if loop:
                loop.__exit__(None, None, None)
        if loop:
            results.append(loop.result())
            log(f"concurrent CLI: {'; '.join(results[-1].notes)}, {results[-1].message}")
    if "txn_kill" in cases:
        results += timed("txn_kill", harness.txn_loop(tmp / "txn.sqlite", faults, seed, log))
    if "power_cut" in cases:
        results += timed("power_cut", harness.power_loop(tmp, power, seed, log))
    if "disk_full" in cases:
        results += timed("disk_full", harness.disk_full_loop(tmp, faults, seed, log))
    if "read_only" in cases:
        results += timed("read_only", harness.read_only_loop(tmp, 1, seed, log))
    todo = [r for r in results if r.resume]
    log(f"resuming {len(todo)} interrupted runs / sweeps with `pepr resume` ...")
    t0 = time.perf_counter()
    harness.finish_resumes(results)
    log(f"  done in {time.perf_counter() - t0:.0f} s")
    for r in todo:
        if not r.ok:
            log(f"  {r.case} {r.resume}: {'; '.join(r.problems)}")
    return results


def summarise(results: list[KillResult]) -> list[dict]:
    rows = []
    by_case: dict[str, list[KillResult]] = collections.defaultdict(list)
    for r in results:
        by_case[r.case].append(r)
    for case in ROWS:
        got = by_case.get(case)
        if not got:
            continue
        intact = sum(r.ok for r in got)
        lost = sum(r.lost for r in got)
        trials = len(got)
        if got[0].count is not None:  # one row of many commands
            intact, trials = got[0].count
        failed = [r for r in got if not r.ok]
        messages = collections.Counter(r.message for r in got)
        told = "; ".join(f"{m} (x{n})" if n > 1 else m for m, n in messages.most_common(2))
        if failed:
            told = f"FAILED: {'; '.join(failed[0].problems)[:200]} | {told}"
        extra = ""
        rolled = sum(r.rolled_back for r in got)
        if case == "power_cut_tail_lost":
            extra = f" [{rolled} unsynced epoch commit(s) rolled back, by design]"
        if case == "gui_train":
            zombie = sum("counted alive" in " ".join(r.notes) for r in got)
            extra = f" [store process a zombie after the kill, counted alive: {zombie}/{len(got)}]"
        if case == "sweep":
            stale = sum("sweep row 'running'" in r.message for r in got)
            extra = f" [sweep row left 'running' until --resume: {stale}/{len(got)}]"
        if case == "power_cut_image":
            mid = sum("0 uncommitted" not in " ".join(r.notes) for r in got)
            extra = f" [{mid} image(s) taken mid-transaction]"
        rows.append(
            {
                "case": case,
                "what": ROWS[case],
                "trials": trials,
                "intact": intact,
                "lost": lost,
                "told": told + extra,
                "passed": intact == trials and lost == 0,
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=10, help="trials per kill case (10)")
    ap.add_argument("--faults", type=int, default=5, help="trials of txn_kill, disk_full (5)")
    ap.add_argument("--power", type=int, default=3, help="power-cut writers, 3 images each (3)")
    ap.add_argument("--cases", default=",".join(KILL_CASES + OTHER_CASES))
    ap.add_argument("--no-concurrent", action="store_true", help="no CLI loop during the kills")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one trial per case")
    args = ap.parse_args()
    if args.quick:
        args.iterations = args.faults = args.power = 1
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(KILL_CASES + OTHER_CASES)
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when written to a file
    # SIGTERM as an exception: the tmpfs mounts and the temporary folder are removed on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pepr_faults_") as tmp:
        try:
            results = run_matrix(
                Path(tmp),
                cases,
                args.iterations,
                args.faults,
                args.power,
                args.seed,
                concurrent=not args.no_concurrent,
                epochs=6 if args.quick else 10,  # planned: every kill lands before the end
            )
        finally:
            harness.unmount_all()
    rows = summarise(results)
    print()
    print("| case | trials | intact | committed-lost | what the user is told |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['what']} | {row['trials']} | {row['intact']} | {row['lost']} | {row['told']} |"
        )
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    from benchmarks._report import report

    for row in rows:
        report(
            f"fault matrix, {row['what']}: intact",
            row["intact"],
            row["trials"],
            "trials",
            "all intact, 0 lost",
            row["passed"],
            lost=row["lost"],
        )
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
