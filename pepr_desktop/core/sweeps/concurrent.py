"""Several trials at once on one device: N job processes side by side, their streams merged.

Small models leave most of a GPU idle (launch-bound), so N trials in N processes finish more trials
per hour than one after another. Each process runs `job_events` (core/sweeps/jobs.py) and sends its
events back over a queue; the caller (the sweep driver, a budgeted search) consumes
`(job index, item)` pairs exactly as from the local backend, and stays the only store writer.
`run_jobs` runs a fixed list (a sweep); `TrialPool` starts each trial when the caller decides
and stops or pauses each on its own (a budgeted search asks for its next trial as one ends, and
prunes one while the others go on).

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

import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
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
MAX_BATCH = 256  # messages passed on per poll at most
RUN, STOP, PAUSE = 0, 1, 2  # a trial's shared flag, set by the caller, polled by the trial


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


def _watch_stop(flag: Any, control: Control, finished: threading.Event) -> None:
    # A shared flag, polled: a waiter on a multiprocessing Event that dies with its process
    # deadlocks the next `set()` in the parent.
    paused = False
    while flag.value != STOP:
        if finished.is_set():
            return
        if (flag.value == PAUSE) != paused:
            paused = not paused
            control.pause() if paused else control.resume()
        time.sleep(0.2)
    control.stop("user")


def _worker(
    jobs: Any,
    arrays: Any,
    meter_settings: Any,
    out: Any,
    flag: Any,
    threads: int,
) -> None:
    """One slot's process: trials one after another as they arrive on `jobs` (None ends it),
    each item sent back with its job's index. It lives for many trials because starting one
    costs seconds (importing torch and timm, a CUDA context) that a short trial cannot spare."""
    import torch

    import pepr_desktop.core.training.train  # noqa: F401  (its imports, before the first job)

    torch.set_num_threads(max(1, threads))
    while (job := jobs.get()) is not None:
        index, cfg, n = job  # n: trials at once on the device, for the energy label
        control, finished = Control(), threading.Event()
        threading.Thread(target=_watch_stop, args=(flag, control, finished), daemon=True).start()
        try:
            for item in job_events(cfg, arrays, meter_settings, control):
                if isinstance(item, EpochEnded) and n > 1:
                    item = replace(item, extra={**item.extra, "energy_shared_by": n})
                out.put((index, item))
        except Exception as exc:  # job_events reports its own failures; this is a last resort
            out.put((index, JobLost("failed", "error", f"{type(exc).__name__}: {exc}")))
        finally:
            finished.set()
            out.put((index, _DONE))


@dataclass
class _Slot:
    """One worker process, its job queue and its flag; `index` is the job it runs now."""

    proc: Any
    jobs: Any
    flag: Any
    index: int | None = None


class TrialPool:
    """At most `n` trials at once on one device, in `n` worker processes that each run trial
    after trial; `start` hands a trial to an idle one (starting it when needed), `stop` and
    `pause` reach one trial or all through its flag, `poll` passes on what arrived as
    (index, item)."""

    def __init__(self, n: int, arrays: Any, meter_settings: Any) -> None:
        self.n, self.arrays, self.meter_settings = n, arrays, meter_settings
        self.ctx = mp.get_context("spawn")  # CUDA cannot be forked into children
        self.out = self.ctx.Queue()
        self.threads = max(1, (os.cpu_count() or 1) // max(n, 1))
        self.slots: list[_Slot] = []
        self.running: dict[int, _Slot] = {}  # job index -> the slot that runs it

    @property
    def free(self) -> int:
        return self.n - len(self.running)

    def warm(self) -> None:
        """Start every worker now, so that their imports (seconds) overlap the caller's work;
        `n` may be lowered afterwards (a busy slot is never taken away)."""
        while len(self.slots) < self.n:
            self._new_slot()

    def _new_slot(self) -> _Slot:
        jobs, flag = self.ctx.Queue(), self.ctx.Value("b", RUN)
        args = (jobs, self.arrays, self.meter_settings, self.out, flag, self.threads)
        proc = self.ctx.Process(target=_worker, args=args, daemon=True)
        proc.start()
        slot = _Slot(proc, jobs, flag)
        self.slots.append(slot)
        return slot

    def start(self, index: int, cfg: TrainConfig) -> None:
        if self.free < 1:
            raise RuntimeError("no free trial slot")  # the caller's bug, not the user's
        idle = [s for s in self.slots if s.index is None and s.proc.is_alive()]
        slot = idle[0] if idle else self._new_slot()
        slot.flag.value = RUN  # before the job: its watcher must not see the last one's stop
        slot.index = index
        slot.jobs.put((index, label_shared(cfg, self.n), self.n))
        self.running[index] = slot

    def stop(self, index: int) -> None:
        if index in self.running:
            self.running[index].flag.value = STOP

    def pause(self, paused: bool) -> None:
        """Pause (or resume) every running trial; a stop already sent stays."""
        for slot in self.running.values():
            if slot.flag.value != STOP:
                slot.flag.value = PAUSE if paused else RUN

    def poll(self) -> Iterator[tuple[int, Any]]:
        """What arrived within a short wait; a trial whose process died is reported lost."""
        try:
            arrived = [self.out.get(timeout=0.2)]
        except queue_mod.Empty:
            yield from self._lost()
            return
        while len(arrived) < MAX_BATCH:  # what else is waiting: one round, not one item
            try:
                arrived.append(self.out.get_nowait())
            except queue_mod.Empty:
                break
        for index, item in arrived:
            if item == _DONE:
                slot = self.running.pop(index, None)
                if slot is not None:
                    slot.index = None  # idle: ready for the next trial
                continue
            yield index, item

    def _lost(self) -> Iterator[tuple[int, Any]]:
        for index, slot in list(self.running.items()):
            if not slot.proc.is_alive():
                self.running.pop(index)
                self.slots.remove(slot)
                reason = f"the trial's process ended with code {slot.proc.exitcode}"
                yield index, JobLost("failed", "error", reason)

    def close(self) -> None:
        """Stop every trial still running, end the workers and wait (terminated after 10 s)."""
        for index in list(self.running):
            self.stop(index)
        for slot in self.slots:
            slot.jobs.put(None)
        deadline = time.monotonic() + 10
        while any(s.proc.is_alive() for s in self.slots) and time.monotonic() < deadline:
            with contextlib.suppress(queue_mod.Empty):  # a worker cannot exit with unread items
                self.out.get(timeout=0.1)
        for slot in self.slots:
            if slot.proc.is_alive():
                slot.proc.terminate()
            slot.proc.join(timeout=1)
        self.slots.clear()
        self.running.clear()


def run_jobs(
    jobs: Sequence[tuple[int, TrainConfig]],
    arrays: Any,
    meter_settings: Any,
    control: Control,
    n: int,
) -> Iterator[tuple[int, Any]]:
    """Run `jobs` (index, config) with at most `n` processes at once; yield (index, item) as
    they arrive. A stop on `control` reaches every running trial; queued ones never start; a
    pause holds the running ones."""
    pool = TrialPool(n, arrays, meter_settings)
    pending = list(jobs)
    try:
        while pending or pool.running:
            while pending and pool.free > 0 and not control.stopped:
                pool.start(*pending.pop(0))
            if control.stopped:
                for index in list(pool.running):
                    pool.stop(index)
                pending.clear()
            else:
                pool.pause(control.paused)
            if not pool.running:
                break
            yield from pool.poll()
    finally:
        pool.close()


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
    for _index, cfg in jobs:
        # in place: the driver stores these same configs as each job is placed
        cfg.extra[CONCURRENCY_KEY] = label_shared(cfg, n).extra[CONCURRENCY_KEY]
    return run_jobs(jobs, arrays, spec.meter_settings(), control, n)
