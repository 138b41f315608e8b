"""Several trials at once on one device: N job processes side by side, their streams merged.

Small models leave most of a GPU idle (launch-bound), so N trials in N processes finish more trials
per hour than one after another. Each process runs `job_events` (core/sweeps/jobs.py) and sends its
events back over a queue; the caller (the sweep driver, a budgeted search) consumes
`(job index, item)` pairs exactly as from the local backend, and stays the only store writer.

Energy, honestly: a device meter (NVML, RAPL) measures the whole device, so while N trials share it
each trial's figure includes its neighbours' work. Every concurrent run is therefore labelled: its
config's `extra["concurrency"]` and every epoch's `extra` say `energy: "shared"` with how many
trials ran at once; such figures are the device's, not the trial's, and are not comparable with a
run that had the device alone.

N comes from `choose_concurrency`: the device's free memory over what one trial needs (the memory
probe's figure, given by the caller, plus the process's own overhead), capped by the CPU cores
(every process needs one to launch kernels or to compute on the CPU) and by the number of jobs.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.sweeps.jobs import JobLost, job_events
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

CONCURRENCY_KEY = "concurrency"  # in a run's config `extra`: how it shared the device
# What a trial process costs besides the probe's figure: the CUDA context and torch's own
# allocations (measured at 400-600 MiB per process on recent drivers), or on the CPU the
# interpreter, torch and the dataset copy.
PROCESS_OVERHEAD_MB = {"cuda": 600.0, "cpu": 400.0}
MEMORY_HEADROOM = 0.8  # use at most this share of the free memory
_DONE = "__job_done__"


def choose_concurrency(
    n_jobs: int,
    device: str,
    *,
    mem_per_trial_mb: float | None,
    free_mb: float | None = None,
    cpu_cores: int | None = None,
    requested: int | None = None,
) -> int:
    """How many trials to run at once on `device` (at least 1, at most `n_jobs`).

    `mem_per_trial_mb` is the memory probe's figure for one trial (core/search/probe.py); None
    when unknown, which allows one trial per core on the CPU and one on a GPU. `free_mb` defaults
    to the device's free memory now; `requested` (a user's N) is honoured up to those limits."""
    if n_jobs < 1:
        return 1
    cores = cpu_cores or os.cpu_count() or 1
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if free_mb is None:
        free_mb = _free_memory_mb(device)
    by_memory = n_jobs
    if mem_per_trial_mb is not None and free_mb is not None:
        per = max(mem_per_trial_mb, 0.0) + PROCESS_OVERHEAD_MB[kind]
        by_memory = max(1, int(free_mb * MEMORY_HEADROOM // per))
    elif kind == "cuda":
        by_memory = 1  # no probe figure: do not guess a GPU's share
    n = min(n_jobs, cores, by_memory)
    if requested is not None:
        if requested < 1:
            raise UserError(f"concurrent trials must be 1 or more, not {requested}.")
        n = min(n, requested)
    return max(1, n)


def _free_memory_mb(device: str) -> float | None:
    if device.startswith("cuda"):
        try:
            import torch

            free, _total = torch.cuda.mem_get_info(torch.device(device))
            return free / 2**20
        except Exception:  # no CUDA here: the caller's figure or the CPU path decides
            return None
    import psutil

    return psutil.virtual_memory().available / 2**20


def label_shared(cfg: TrainConfig, n: int) -> TrainConfig:
    """`cfg` with the record of how it shared the device (stored with the run's config)."""
    note = {"trials": n, "energy": "shared" if n > 1 else "own"}
    return replace(cfg, extra={**cfg.extra, CONCURRENCY_KEY: note})


def _watch_stop(stop: Any, control: Control) -> None:
    # A shared flag, polled: a waiter on a multiprocessing Event that dies with its process
    # deadlocks the next `set()` in the parent.
    while not stop.value:
        time.sleep(0.2)
    control.stop("user")


def _worker(
    index: int,
    cfg: TrainConfig,
    arrays: Any,
    meter_settings: Any,
    out: Any,
    stop: Any,
    threads: int,
    n: int,
) -> None:
    """One trial in its own process: `job_events`, each item sent back with the job's index."""
    import torch

    torch.set_num_threads(max(1, threads))
    control = Control()
    threading.Thread(target=_watch_stop, args=(stop, control), daemon=True).start()
    try:
        for item in job_events(cfg, arrays, meter_settings, control):
            if isinstance(item, EpochEnded) and n > 1:
                item = replace(item, extra={**item.extra, "energy_shared_by": n})
            out.put((index, item))
    except Exception as exc:  # job_events reports its own failures; this is a last resort
        out.put((index, JobLost("failed", "error", f"{type(exc).__name__}: {exc}")))
    finally:
        out.put((index, _DONE))


def run_jobs(
    jobs: Sequence[tuple[int, TrainConfig]],
    arrays: Any,
    meter_settings: Any,
    control: Control,
    n: int,
) -> Iterator[tuple[int, Any]]:
    """Run `jobs` (index, config) with at most `n` processes at once; yield (index, item) as
    they arrive. A stop on `control` reaches every running trial; queued ones never start."""
    ctx = mp.get_context("spawn")  # CUDA cannot be forked into children
    out, stop = ctx.Queue(), ctx.Value("b", 0)
    threads = max(1, (os.cpu_count() or 1) // max(n, 1))
    pending = list(jobs)
    running: dict[int, Any] = {}
    try:
        while pending or running:
            while pending and len(running) < n and not control.stopped:
                index, cfg = pending.pop(0)
                args = (index, label_shared(cfg, n), arrays, meter_settings, out, stop, threads, n)
                proc = ctx.Process(target=_worker, args=args, daemon=True)
                proc.start()
                running[index] = proc
            if control.stopped:
                stop.value = 1
                pending.clear()
            if not running:
                break
            yield from _drain(out, running)
    finally:
        stop.value = 1
        for proc in running.values():
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def _drain(out: Any, running: dict[int, Any]) -> Iterator[tuple[int, Any]]:
    """Pass on what arrived within a short wait; retire finished or dead processes."""
    try:
        index, item = out.get(timeout=0.2)
    except queue_mod.Empty:
        for index, proc in list(running.items()):
            if not proc.is_alive() and proc.exitcode not in (0, None):
                running.pop(index)
                reason = f"the trial's process ended with code {proc.exitcode}"
                yield index, JobLost("failed", "error", reason)
        return
    if item == _DONE:
        proc = running.pop(index, None)
        if proc is not None:
            proc.join(timeout=10)
        return
    yield index, item


def spec_jobs(
    jobs: Sequence[tuple[int, TrainConfig]], arrays: Any, spec: Any, control: Control
) -> Iterator[tuple[int, Any]]:
    """A sweep's jobs (`SweepSpec.concurrent` trials at once, 0: chosen) on their device."""
    from pepr_desktop.core.devices import resolve_device

    device = resolve_device(jobs[0][1].device) if jobs else "cpu"
    n = choose_concurrency(
        len(jobs),
        device,
        mem_per_trial_mb=spec.trial_memory_mb,
        requested=spec.concurrent or None,
    )
    log.info("%d jobs, %d at once on %s", len(jobs), n, device)
    return run_jobs(jobs, arrays, spec.meter_settings(), control, n)
