"""Wall time of a 4-job sweep: local backend (one job after another) vs a local Ray (one CPU per
job, so two jobs at a time on a 2-core machine), and the per-job overhead Ray adds.

    .venv/bin/python benchmarks/bench_sweep.py [--quick] [--models M1,M2,M3,M4] [--epochs N]

Both sweeps train the same jobs on the bundled sample (28 px) with metering off, side by side in
one process. Ray's overhead per job is measured with jobs that train nothing (they only report
where they ran and finish), run through the same driver: (Ray wall - local wall) / jobs, with
Ray's workers cold (first use: process start and imports) and warm (reused). Ray start-up
(`ray.init`) is reported on its own. The load average is printed because on a shared machine other
work changes every figure; compare the ratios, which are measured seconds apart.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from pepr_desktop.core.events import RunFinished
from pepr_desktop.core.store import Store
from pepr_desktop.core.sweeps import driver as sweep
from pepr_desktop.core.training.config import TrainConfig

DEFAULT_MODELS = "mobilenetv3_small_050,resnet10t,mobilenetv3_small_075,mobilenetv3_small_100"


def noop_body(cfg, arrays, settings, control):
    """A job with no work: what is left of its wall time is the backend's own cost."""
    yield sweep.JobPlaced(socket.gethostname(), "cpu", "noop", "unavailable", os.getpid())
    yield RunFinished(0, "finished")


def timed_sweep(store: Store, spec: sweep.SweepSpec, job_fn=None) -> tuple[float, dict]:
    sid = sweep.create_sweep(spec, store)
    t0 = time.perf_counter()
    for _ in sweep.run_sweep(store, sid, job_fn=job_fn):
        pass
    wall = time.perf_counter() - t0
    return wall, sweep.summarize(store, sid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5%% of the data (default 30%%)")
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument(
        "--threads", type=int, help="torch threads of the local backend (default: torch's own)"
    )
    args = ap.parse_args()
    import ray
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    models = [m for m in args.models.split(",") if m]
    frac = 0.05 if args.quick else 0.3
    base = TrainConfig(
        dataset="sample", model="", epochs=args.epochs, data_fraction=frac, device="cpu"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"local backend: {torch.get_num_threads()} torch threads, Ray jobs: 1 each")  # fmt: skip
    print(f"jobs: {len(models)} x ({', '.join(models)}), {args.epochs} epoch(s), {frac:.0%} of "
          "the bundled sample, metering off")  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.sqlite")

        local_s, local_sum = timed_sweep(store, sweep.make_spec(base, models))
        print(f"local backend: {local_s:.1f} s wall ({local_s / len(models):.1f} s per job)")

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t0
        ray_spec = sweep.make_spec(base, models, backend="ray", num_cpus=1)
        ray_s, ray_sum = timed_sweep(store, ray_spec)
        print(f"ray.init (local, 2 CPUs): {init_s:.1f} s")
        print(f"ray backend, 1 CPU per job: {ray_s:.1f} s wall, {ray_s + init_s:.1f} s with init")
        print(
            f"ratio local / ray: {local_s / ray_s:.2f} (with init {local_s / (ray_s + init_s):.2f})"
        )

        for name, s in (("local", local_sum), ("ray", ray_sum)):
            times = [j["train_time_s"] for j in s["jobs"]]
            if s["counts"] != {"done": len(models)}:
                print(f"  {name}: not every job finished: {s['counts']}", file=sys.stderr)
            print(f"  {name}: per-job training time (s): "
                  + ", ".join(f"{t:.1f}" if t is not None else "n/a" for t in times))  # fmt: skip

        n = 8
        noop = sweep.make_spec(base, [models[0]] * n)
        local_noop, _ = timed_sweep(store, noop, job_fn=noop_body)
        ray.shutdown()  # cold workers: a fresh Ray, no worker has imported anything yet
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_noop = sweep.make_spec(base, [models[0]] * n, backend="ray", num_cpus=1)
        cold, _ = timed_sweep(store, ray_noop, job_fn=noop_body)
        warm, _ = timed_sweep(store, ray_noop, job_fn=noop_body)
        ray.shutdown()
        print(f"empty jobs x{n}: local {local_noop:.2f} s, ray cold workers {cold:.2f} s, "
              f"ray warm workers {warm:.2f} s")  # fmt: skip
        print(f"ray overhead per job: cold {(cold - local_noop) / n:.2f} s, warm "
              f"{(warm - local_noop) / n:.3f} s (2 jobs in parallel)")  # fmt: skip
        from _report import report  # the benchmarks folder is sys.path[0] when run as a script

        report(
            f"{len(models)}-job sweep wall time, local Ray (excl. init) vs local backend",
            ray_s,
            local_s,
            "s",
            "info",
            None,
        )
        report(
            "Ray overhead per job, cold workers", (cold - local_noop) / n, None, "s", "info", None
        )
        store.close()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
