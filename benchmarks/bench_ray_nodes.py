"""`pepr sweep --backend ray` on a real two-node Ray cluster, its worker node killed mid-sweep
(issue 18, scale-out): the timeline, the nodes seen, and whether stdout stayed valid JSON.

    .venv/bin/python benchmarks/bench_ray_nodes.py [--jobs 3] [--data-fraction 0.15] [--epochs 1]

The head and the worker are started with `ray start` on this machine (one CPU each, own ports,
own temp folder, own auth token: tests/core/sweeps/ray_nodes.py), the sweep runs as a user runs
it (`python -m pepr_desktop.cli sweep ... --json` in a subprocess), the worker's raylet and its
workers get SIGKILL once a job runs there, then `pepr sweep --resume` finishes the sweep on what
is left. Prints each step with its time since the start, then RESULT lines; exits 1 if stdout was
not the JSON summary alone, the killed job was not `interrupted`, resume did not finish it, or the
runs do not name both nodes. tests/core/sweeps/test_ray_two_nodes.py checks the same in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import TINY_MODEL  # noqa: E402
from tests.core.sweeps.ray_nodes import RayNodes  # noqa: E402

FAST_DEATH = {  # the head declares a silent node dead after ~3 s (Ray's default: ~30 s)
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "5000",  # a killed raylet refuses at once, a busy one is slow
    "RAY_health_check_failure_threshold": "3",
}
T0 = time.monotonic()


def say(what: str) -> None:
    print(f"{time.monotonic() - T0:7.1f} s  {what}", flush=True)


def sweep(cluster: RayNodes, db: Path, args: list[str], watch: str | None = None) -> dict:
    """Run `pepr sweep ... --json`; with `watch` (a node id), kill that node once a job runs on
    it. Prints each progress line as it appears; returns rc, stdout, stderr and wall time."""
    out, err = db.with_suffix(".out"), db.with_suffix(".err")
    cmd = [sys.executable, "-m", "pepr_desktop.cli", "--db", str(db), "sweep", *args, "--json"]
    start = time.monotonic()
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(cmd, env=cluster.env, stdout=o, stderr=e, cwd=ROOT)
    seen: list[str] = []
    killed_at = None
    while proc.poll() is None:
        lines = err.read_text().splitlines()
        for line in lines[len(seen) :]:
            if line.startswith(("job ", "sweep ")) and "ETA" not in line:
                say(f"  {line}")
            elif "marked dead" in line:
                say("  (stderr) Ray: " + line[line.find("The node") :][:80] + "...")
        seen = lines
        if watch and killed_at is None and f"Ray node {watch[:8]} " in "\n".join(lines):
            worker = next(n for n in cluster.nodes if n.node_id == watch)
            cluster.kill(worker)
            killed_at = time.monotonic()
            say(f"  killed the worker node {watch[:8]} (raylet pid {worker.raylet_pid})")
        time.sleep(0.1)
    text_err = err.read_text()
    return {
        "rc": proc.returncode,
        "out": out.read_text(),
        "err": text_err,
        "wall_s": time.monotonic() - start,
        "killed_at": killed_at,
        "driver_pid": proc.pid,
    }


def parse(text: str) -> dict | None:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def scenario(cluster: RayNodes, db: Path, jobs: int, job: list[str]) -> dict:
    """Both nodes up, the sweep with the worker killed, the resume: figures and verdicts."""
    head, worker = cluster.start(workers=1)
    up_s = time.monotonic() - T0
    say(f"head node {head.node_id[:8]} at {cluster.address} (`ray start --head`) and worker "
        f"node {worker.node_id[:8]} (`ray start --address`) up")  # fmt: skip
    models = ",".join([TINY_MODEL] * jobs)
    args = ["--data", "sample", "--models", models, *job, "--backend", "ray", "--address",
            cluster.address]  # fmt: skip
    first = sweep(cluster, db, args, watch=worker.node_id)
    s = parse(first["out"])
    say(f"sweep ended: rc {first['rc']}, {first['wall_s']:.1f} s, JSON stdout {s is not None}")
    if s is None:
        print(first["out"][:2000])
        return {"ok": False, "json": False, "up_s": up_s, "first": first, "again": None, "runs": []}
    lost = [j for j in s["jobs"] if j["status"] == "interrupted"]
    again = sweep(cluster, db, ["--resume", s["id"]])
    r = parse(again["out"])
    say(f"resume ended: rc {again['rc']}, {again['wall_s']:.1f} s, JSON stdout {r is not None}")
    from pepr_desktop.core.store import Store

    with Store(db, readonly=True) as store:
        runs = store.runs()
    nodes = {(run["node"] or {}).get("id") for run in runs}
    ok = (
        "marked dead" in first["err"]  # the node's death was printed (to stderr, not stdout)
        and len(lost) == 1
        and lost[0]["node"]["id"] == worker.node_id
        and r is not None
        and r["counts"] == {"done": jobs}
        and nodes == {head.node_id, worker.node_id}
    )
    return {"ok": ok, "json": r is not None, "up_s": up_s, "first": first, "again": again,
            "runs": runs, "nodes": nodes}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--data-fraction", default="0.15")
    ap.add_argument("--epochs", default="1")
    ap.add_argument("--quick", action="store_true", help="the same (it is already minimal)")
    a = ap.parse_args()
    job = ["--epochs", a.epochs, "--data-fraction", a.data_fraction, "--device", "cpu",
           "--no-meter"]  # fmt: skip
    print(f"load average at the start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    with RayNodes() as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.env.update(FAST_DEATH)
        res = scenario(cluster, Path(tmp) / "p.sqlite", a.jobs, job)
    print("\nrun  status       node      host  worker pid  driver pid")
    for run in res["runs"]:
        n = run["node"] or {}
        print(f"{run['id']:>3}  {run['status']:<11}  {str(n.get('id'))[:8]}  {run['host']}  "
              f"{n.get('pid')!s:>10}  {run['pid']:>10}")  # fmt: skip
    nodes = res.get("nodes") or set()
    print(f"\nnodes seen: {len(nodes)} ({', '.join(sorted(str(n)[:8] for n in nodes))})")
    from _report import report  # the benchmarks folder is sys.path[0] when run as a script

    report("two `ray start` nodes up (started at once)", res["up_s"], None, "s", "info", None)
    first, again = res["first"], res["again"]
    report("sweep with its worker node killed, wall", first["wall_s"], None, "s", "info", None)
    if again is not None:
        report("--resume of the interrupted job, wall", again["wall_s"], None, "s", "info", None)
    report("stdout valid JSON after a node died", float(res["json"]), 1.0, "bool", "== 1",
           res["json"])  # fmt: skip
    report("distinct nodes recorded in the runs", float(len(nodes)), 2.0, "nodes", "== 2",
           len(nodes) == 2)  # fmt: skip
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("PASS" if res["ok"] else "FAIL")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
