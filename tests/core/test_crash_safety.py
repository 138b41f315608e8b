"""Crash safety: a real `pepr train` in a subprocess, killed with SIGKILL at random points.

After every kill the database must pass `PRAGMA integrity_check`, the killed run must be marked
`interrupted` when the store is next opened (its process is gone), every epoch it finished must be
there and agree with `epochs_done`, its checkpoint (if any) must load, and the runs stored before
must be untouched. All kills go to one database, as on a user's laptop.

CI runs a few kills (one per kind of point); `benchmarks/kill_loop.py --iterations 20` runs the
full loop with this same harness and prints survived/tried.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = "mobilenetv3_small_050"
PHASES = ("before_first_epoch", "mid_epoch", "around_commit", "random")
EPOCHS = 30  # never reached: every run is killed long before
START_TIMEOUT_S = 240.0


@dataclass
class KillResult:
    phase: str
    run_id: int | None
    epochs_done: int
    ok: bool
    problems: list[str] = field(default_factory=list)


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=15)


def _latest_run(db: Path, after_id: int) -> tuple[int, int] | None:
    """(id, epochs_done) of the newest run above `after_id`, read without writing anything."""
    if not db.exists():
        return None
    try:
        with _ro(db) as conn:
            row = conn.execute(
                "SELECT id, epochs_done FROM runs WHERE id > ? ORDER BY id DESC LIMIT 1",
                (after_id,),
            ).fetchone()
        conn.close()
    except sqlite3.Error:  # not created yet, or mid-migration
        return None
    return (int(row[0]), int(row[1] or 0)) if row else None


def _snapshot(db: Path) -> dict[int, Any]:
    """Everything stored about each run (row + epochs), to show earlier runs are untouched."""
    if not db.exists():
        return {}
    with _ro(db) as conn:
        runs = {r[0]: r for r in conn.execute("SELECT * FROM runs")}
        out = {}
        for run_id, row in runs.items():
            eps = conn.execute(
                "SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)
            ).fetchall()
            out[run_id] = (row, eps)
    conn.close()
    return out


def _wait(
    proc: subprocess.Popen, cond: Callable[[], bool], timeout: float, poll: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"training exited early with code {proc.returncode}")
        time.sleep(poll)
    raise TimeoutError("the training run did not reach the kill point in time")


def kill_once(db: Path, phase: str, rng: random.Random, seed: int) -> KillResult:
    """Start a training run, SIGKILL it at a point of kind `phase`, and check the database."""
    before = _snapshot(db)
    last_id = max(before, default=0)
    cmd = [
        sys.executable, "-m", "pepr_desktop.cli", "--db", str(db), "train", "--data", "sample",
        "--model", TINY_MODEL, "--epochs", str(EPOCHS), "--no-meter", "--data-fraction", "0.1",
        "--seed", str(seed), "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    err_path = db.with_name(f"{db.stem}_stderr_{seed}.txt")
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
    try:
        started = time.monotonic()
        if phase == "before_first_epoch":
            _wait(proc, lambda: _latest_run(db, last_id) is not None, START_TIMEOUT_S)
            time.sleep(rng.uniform(0.0, 0.3))
        elif phase == "mid_epoch":
            _wait(proc, lambda: (_latest_run(db, last_id) or (0, 0))[1] >= 1, START_TIMEOUT_S)
            t_first = time.monotonic() - started
            time.sleep(rng.uniform(0.05, max(0.1, min(1.5, 0.3 * t_first))))
        elif phase == "around_commit":
            target = rng.randint(1, 2)  # right after epoch `target` is committed
            _wait(
                proc,
                lambda: (_latest_run(db, last_id) or (0, 0))[1] >= target,
                START_TIMEOUT_S,
                poll=0.002,
            )
            time.sleep(rng.choice([0.0, 0.0, 0.005, 0.02]))
        else:  # random: any moment from start-up to a few epochs in
            _wait(proc, lambda: _latest_run(db, last_id) is not None, START_TIMEOUT_S)
            time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is not None:
            raise RuntimeError(f"training exited before the kill with code {proc.returncode}")
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)  # reap it: a zombie would still look alive to the store
    return check_after_kill(db, phase, before, last_id)


def check_after_kill(db: Path, phase: str, before: dict[int, Any], last_id: int) -> KillResult:
    import torch

    from pepr_desktop.core.runner import checkpoint_path
    from pepr_desktop.core.store import Store

    problems: list[str] = []
    with sqlite3.connect(db) as conn:  # as the crash left it, before the app opens it
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    store = Store(db)  # the next open: marks the killed run
    try:
        new = [r for r in store.runs() if r["id"] > last_id]
        run = new[-1] if new else None
        epochs_done = run["epochs_done"] if run else 0
        if len(new) != 1:
            problems.append(f"{len(new)} new runs, expected 1")
        if run is not None:
            if run["status"] != "interrupted" or run["reason"] != "crash":
                problems.append(f"run {run['id']} is {run['status']}/{run['reason']}")
            eps = store.epochs(run["id"])
            if [e["epoch"] for e in eps] != list(range(epochs_done)):
                problems.append(f"epochs {[e['epoch'] for e in eps]} vs epochs_done {epochs_done}")
            for e in eps:
                if not (math.isfinite(e["train_loss"]) and 0 <= e["val_acc"] <= 1):
                    problems.append(f"epoch {e['epoch']} has bad figures")
            if eps and run["test_acc"] != eps[-1]["test_acc"]:
                problems.append("run totals disagree with its last epoch")
            ck = checkpoint_path(store, run["id"])
            if ck.is_file():
                saved = torch.load(ck, map_location="cpu", weights_only=True)["epoch"]
                # the epoch is committed before its checkpoint: at most one epoch behind
                if saved not in (epochs_done - 1, epochs_done - 2):
                    problems.append(f"checkpoint epoch {saved} vs epochs_done {epochs_done}")
            elif epochs_done > 1:
                problems.append("no checkpoint although epochs were done")
        after = _snapshot(db)
        for run_id, stored in before.items():
            if after.get(run_id) != stored:
                problems.append(f"earlier run {run_id} changed")
    finally:
        store.close()
    return KillResult(phase, run["id"] if run else None, epochs_done, not problems, problems)


def kill_loop(
    workdir: Path, iterations: int, seed: int = 0, log: Callable[[str], None] = lambda s: None
) -> list[KillResult]:
    """`iterations` kills into one database, cycling through the kinds of kill point."""
    rng = random.Random(seed)
    db = workdir / "killed.sqlite"
    results = []
    for i in range(iterations):
        phase = PHASES[i % len(PHASES)]
        try:
            res = kill_once(db, phase, rng, seed=i)
        except (RuntimeError, TimeoutError) as exc:
            res = KillResult(phase, None, 0, False, [str(exc)])
        results.append(res)
        log(
            f"kill {i + 1}/{iterations} ({phase}): run {res.run_id}, {res.epochs_done} epoch(s) "
            f"stored -> {'ok' if res.ok else 'FAILED ' + '; '.join(res.problems)}"
        )
    return results


def test_kill_loop_survives_sigkill_at_each_kind_of_point(tmp_path: Path) -> None:
    results = kill_loop(tmp_path, iterations=len(PHASES), seed=1, log=print)
    failed = [r for r in results if not r.ok]
    print(f"kills survived: {len(results) - len(failed)}/{len(results)}")
    assert not failed, failed
    assert any(r.epochs_done >= 1 for r in results)  # some kills came after a stored epoch
