"""Sweeps: one dataset, a list of (model, settings) jobs, run one after another in this process or
as Ray tasks on a cluster, with every result written by this process (the driver) alone.

Why the driver alone: SQLite is not for concurrent network writers. A job therefore runs
`job_events`, which needs no store: it trains and streams its events (epochs, meter samples, the
final result) back, and `SweepDriver` records them with the runner's own `RunRecorder`, exactly as
a single `pepr train` would. The dataset is loaded once by the driver and handed to the jobs (on
Ray through the object store), so no node downloads it.

The jobs themselves (`SweepSpec`, `make_spec`, `job_events`, `JobPlaced`, `JobLost`) are in
core/sweeps/jobs.py, which this module and core/sweeps/ray_backend.py both import (re-exported
here);
this module picks the backend, and ray_backend never imports it.

A sweep is a row of the `sweeps` table (its spec as JSON); its runs carry `runs.sweep_id` and their
job index in `config.extra.sweep_job`, and a Ray job's run its node and worker (`runs.node`).
Running a sweep runs the jobs that are not done yet, so `--resume SWEEP_ID` is the same call on an
existing id.

A caller that picks each next job from the results so far (a budgeted search) drives the pieces
itself: `ray_backend.RayJobs` (submit / next / cancel, one job at a time) or `job_events` in this
process, and a `SweepDriver` (`add_job`, then `handle` for every message) to record them.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import BatchEnded, EpochEnded, MeterSample, RunFinished, RunStarted
from pepr_desktop.core.store import Store
from pepr_desktop.core.sweeps.jobs import (
    JOB_KEY,
    JobLost,
    JobPlaced,
    SweepSpec,
    job_events,
    make_spec,
    spec_from_configs,
)
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
# A job is done when its run finished, or stopped because the next epoch would break its budget
# (that is the budget doing its job, not something to rerun).
DONE = "done"


def validate(spec: SweepSpec, store: Store) -> Any:
    """Every user mistake before any job starts (one message, no run created); returns the
    dataset's info."""
    if spec.backend not in BACKENDS:
        raise UserError(f"backend must be local or ray, not '{spec.backend}'.")
    if not spec.jobs:
        raise UserError("a sweep needs at least one model; give --models M1,M2 or --recommended K.")
    if not (math.isfinite(spec.num_cpus) and spec.num_cpus > 0):
        raise UserError(f"--num-cpus must be a positive number, not {spec.num_cpus!r}.")
    if not (math.isfinite(spec.num_gpus) and spec.num_gpus >= 0):
        raise UserError(f"--num-gpus must be 0 or more, not {spec.num_gpus!r}.")
    if isinstance(spec.concurrent, bool) or not isinstance(spec.concurrent, int):
        raise UserError(f"concurrent trials must be a whole number, not {spec.concurrent!r}.")
    if spec.concurrent < 0:
        raise UserError(f"concurrent trials must be 0 (chosen) or more, not {spec.concurrent}.")
    from pepr_desktop.core.models.build import check_model_name

    for cfg in spec.configs():
        if cfg.dataset != spec.dataset:
            raise UserError(f"job {cfg.model} is on {cfg.dataset}, the sweep on {spec.dataset}.")
        if spec.backend == "ray":
            # The device is the worker's: this machine may have no GPU while the cluster has.
            dev = (cfg.device or "auto").lower()
            if dev not in ("auto", "cpu") and not dev.startswith("cuda"):
                raise UserError(f"device must be auto, cpu, cuda or cuda:N, not '{cfg.device}'.")
            if dev.startswith("cuda") and spec.num_gpus <= 0:
                raise UserError(
                    f"--device {cfg.device} on Ray needs --num-gpus (e.g. 1, or 0.5 to share a "
                    "GPU): Ray hides GPUs from tasks that did not ask for one."
                )
            replace(cfg, device="cpu").validate()
        else:
            cfg.validate()
        check_model_name(cfg.model)
        if cfg.weights and not Path(cfg.weights).expanduser().is_file():
            raise UserError(f"weights file {cfg.weights} does not exist.")
    spec.meter_settings()  # a bad meter setting fails here, not inside every job
    return datasets.resolve(spec.dataset, store)


# ------------------------------------------------------------------ the driver side


@dataclass
class _MeterInfo:
    """What the recorder reads from a meter (carbon, PUE), for a meter that lives elsewhere."""

    settings: Any
    carbon: Any
    last_window: Any = None


@dataclass
class _Job:
    index: int
    cfg: TrainConfig
    run_id: int | None = None
    recorder: Any = None
    started: float | None = None
    fraction: float = 0.0
    status: str = "queued"  # queued, running, or the run's final status


@dataclass
class SweepProgress:
    """Counts for the progress line and an ETA from the jobs seen so far (None: no basis yet)."""

    sweep_id: str
    total: int
    done: int
    running: int
    failed: int
    other: int  # stopped or interrupted in this session
    queued: int
    eta_s: float | None

    def line(self) -> str:
        eta = "n/a" if self.eta_s is None else _fmt_s(self.eta_s)
        extra = f", {self.other} stopped/interrupted" if self.other else ""
        return (
            f"sweep {self.sweep_id}: {self.done}/{self.total} done, {self.running} running, "
            f"{self.failed} failed{extra}, {self.queued} queued, ETA {eta}"
        )


@dataclass
class SweepUpdate:
    """One step of a sweep for its consumer (CLI, GUI): the job, its event, the progress."""

    job: int
    event: Any
    progress: SweepProgress
    run_id: int | None = None


def _fmt_s(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class SweepDriver:
    """Turns the jobs' interleaved streams into store writes; the only writer of the store."""

    def __init__(
        self, store: Store, sweep_id: str, spec: SweepSpec, info: Any, jobs: list[_Job], done: int
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.spec = spec
        self.info = info
        self.jobs = {j.index: j for j in jobs}
        self.total = len(spec.jobs)
        self.done_before = done
        self.durations: list[float] = []
        settings = spec.meter_settings()
        self.meter_info = (
            _MeterInfo(settings, getattr(settings, "intensity", None)) if settings else None
        )

    def add_job(self, index: int, cfg: TrainConfig) -> None:
        """One more job to record (a search submits its trials one by one: `RayJobs.submit`)."""
        if index in self.jobs:
            raise ValueError(f"job {index} is already known")
        self.jobs[index] = _Job(index, cfg)
        self.total += 1

    def handle(self, index: int, item: Any) -> SweepUpdate | None:
        """Record one message of job `index`; the update for the consumer (None: nothing new)."""
        from pepr_desktop.core.training.runner import RunRecorder

        job = self.jobs[index]
        if isinstance(item, JobPlaced):
            cfg = job.cfg
            job.run_id = self.store.create_run(
                **item.run_fields(cfg, self.info.content_hash), sweep_id=self.sweep_id
            )
            job.recorder = RunRecorder(self.store, job.run_id)
            job.recorder.meter = self.meter_info
            job.started, job.status = time.monotonic(), "running"
            return SweepUpdate(index, item, self.progress(), job.run_id)
        if isinstance(item, JobLost):
            if job.status not in ("queued", "running"):
                return None  # the run already ended; the stream closing after it says nothing
            if job.status == "queued" and item.status == "stopped":
                job.status = "stopped"  # cancelled before it started: no run to show
                return SweepUpdate(index, item, self.progress())
            return self._end(job, item.status, item.reason, item.message)
        if job.run_id is None:  # an event before JobPlaced cannot happen; be safe anyway
            log.warning("job %d sent %s before it was placed", index, type(item).__name__)
            return None
        ev = replace(item, run_id=job.run_id)
        if isinstance(ev, RunFinished):
            evaluation = getattr(ev, "evaluation", None)
            if evaluation is not None:  # per-class test figures; stored before `finished`
                self.store.update_run(job.run_id, evaluation=evaluation)
            return self._end(job, ev.status, ev.reason, ev.message)
        job.recorder.record(ev)
        if isinstance(ev, BatchEnded) and ev.batches:
            epochs = max(job.cfg.epochs, 1)
            job.fraction = min(1.0, (ev.epoch + ev.batch / ev.batches) / epochs)
        elif isinstance(ev, EpochEnded):
            job.fraction = min(1.0, (ev.epoch + 1) / max(job.cfg.epochs, 1))
        elif isinstance(ev, (MeterSample, RunStarted)):
            pass
        return SweepUpdate(index, ev, self.progress(), job.run_id)

    def _end(self, job: _Job, status: str, reason: str, message: str) -> SweepUpdate:
        from pepr_desktop.core.training.runner import close_run

        if job.run_id is None:  # lost before it said where it ran: still a visible run
            cfg = job.cfg
            job.run_id = self.store.create_run(
                dataset=cfg.dataset,
                dataset_hash=self.info.content_hash,
                model=cfg.model,
                pretrained=bool(cfg.pretrained or cfg.weights),
                host="",
                config=cfg.to_dict(),
                epochs_planned=cfg.epochs,
                sweep_id=self.sweep_id,
            )
            self.store.update_run(job.run_id, status=status, reason=reason, message=message)
        else:
            close_run(self.store, job.recorder, job.run_id, status, reason, message)
        if job.started is not None and status == "finished":
            self.durations.append(time.monotonic() - job.started)
        job.status = status
        ev = RunFinished(job.run_id, status, reason, message)
        return SweepUpdate(job.index, ev, self.progress(), job.run_id)

    def close_open(self, status: str, reason: str, message: str) -> list[SweepUpdate]:
        """End every job still running (the sweep was stopped or its backend went away)."""
        return [
            self._end(j, status, reason, message)
            for j in self.jobs.values()
            if j.status == "running"
        ]

    def progress(self) -> SweepProgress:
        jobs = list(self.jobs.values())
        running = [j for j in jobs if j.status == "running"]
        queued = [j for j in jobs if j.status == "queued"]
        finished = sum(1 for j in jobs if _is_done(j.status, ""))
        failed = sum(1 for j in jobs if j.status == "failed")
        other = sum(1 for j in jobs if j.status in ("stopped", "interrupted"))
        return SweepProgress(
            sweep_id=self.sweep_id,
            total=self.total,
            done=self.done_before + finished,
            running=len(running),
            failed=failed,
            other=other,
            queued=len(queued),
            eta_s=self._eta(running, len(queued)),
        )

    def _eta(self, running: list[_Job], queued: int) -> float | None:
        """Remaining work / jobs in parallel. A job's length: the mean of finished jobs, else
        extrapolated from the running jobs' progress (elapsed / fraction done)."""
        now = time.monotonic()
        estimates = {
            id(j): (now - j.started) / j.fraction
            for j in running
            if j.started is not None and j.fraction > 0.02
        }
        if self.durations:
            per_job = statistics.mean(self.durations)
        elif estimates:
            per_job = statistics.mean(estimates.values())
        else:
            return None if (running or queued) else 0.0
        left = queued * per_job
        for j in running:
            elapsed = now - (j.started or now)
            left += max(estimates.get(id(j), per_job) - elapsed, 0.0)
        return left / max(len(running), 1)


def _is_done(status: str, reason: str) -> bool:
    return status == "finished" or (status == "stopped" and reason == "budget")


# ------------------------------------------------------------------ sweeps in the store


def new_sweep_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def _driver_stamp() -> dict[str, Any]:
    me = psutil.Process()
    return {"host": socket.gethostname(), "pid": me.pid, "pid_started": me.create_time()}


def create_sweep(spec: SweepSpec, store: Store) -> str:
    """Validate `spec` and record it; the new sweep's id."""
    validate(spec, store)
    sweep_id = new_sweep_id()
    store.add_sweep(
        {
            "id": sweep_id,
            "created_at": time.time(),
            "spec": {**spec.to_dict(), "driver": _driver_stamp()},
            "status": "created",
            "backend": spec.backend,
        }
    )
    return sweep_id


def get_sweep(store: Store, sweep_id: str) -> dict[str, Any]:
    row = store.get_sweep(sweep_id)
    if row is None:
        known = [r["id"] for r in list_sweeps(store)][-5:]
        hint = f" Recent sweeps: {', '.join(known)}." if known else ""
        raise UserError(f"no sweep with id '{sweep_id}'.{hint} `pepr runs` lists sweep runs.")
    return row


def list_sweeps(store: Store) -> list[dict[str, Any]]:
    return store.sweeps()


def _set_sweep(store: Store, sweep_id: str, **fields: Any) -> None:
    store.update_sweep(sweep_id, **fields)


def sweep_runs(store: Store, sweep_id: str) -> list[dict[str, Any]]:
    return store.runs(sweep_id=sweep_id)


def _job_of(run: dict[str, Any]) -> int | None:
    cfg = run.get("config")
    extra = cfg.get("extra") if isinstance(cfg, dict) else None
    job = extra.get(JOB_KEY) if isinstance(extra, dict) else None
    return int(job) if isinstance(job, int) else None


def latest_runs(store: Store, sweep_id: str) -> dict[int, dict[str, Any]]:
    """Job index -> its latest run (a resumed job has older, failed attempts too)."""
    out: dict[int, dict[str, Any]] = {}
    for r in sweep_runs(store, sweep_id):
        job = _job_of(r)
        if job is not None and (job not in out or r["id"] > out[job]["id"]):
            out[job] = r
    return out


def _driver_alive(stamp: dict[str, Any] | None) -> bool:
    if not stamp or stamp.get("host") != socket.gethostname():
        return False
    if stamp.get("pid") == os.getpid():
        return False
    try:
        proc = psutil.Process(int(stamp["pid"]))
        if proc.status() == psutil.STATUS_ZOMBIE:  # ended, only not reaped yet
            return False
        started = proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, ValueError, TypeError):
        return False
    return abs(started - float(stamp.get("pid_started") or 0)) < 1.0


def mark_lost_runs(store: Store, sweep_id: str) -> int:
    """Runs of a sweep still `running` although its driver is gone (it crashed, or its Ray
    node died with it): `interrupted`. Returns how many."""
    lost = [r["id"] for r in sweep_runs(store, sweep_id) if r["status"] == "running"]
    for run_id in lost:
        store.update_run(
            run_id,
            status="interrupted",
            reason="crash",
            message="the sweep's driver ended before this run finished",
        )
    return len(lost)


# ------------------------------------------------------------------ running


JobFn = Callable[..., Iterator[Any]]


def run_sweep(
    store: Store,
    sweep_id: str,
    *,
    control: Control | None = None,
    overrides: dict[str, Any] | None = None,
    job_fn: JobFn | None = None,
) -> Iterator[SweepUpdate]:
    """Run the jobs of `sweep_id` that are not done, recording everything here.

    `overrides` changes how this session runs (backend, address, num_cpus, num_gpus), e.g. a
    sweep started locally resumed on a cluster. `job_fn` replaces `job_events` (tests inject
    failures with it). Yields an update per recorded event; the sweep's status is set at the end:
    finished (all jobs done), stopped (the user stopped it) or incomplete.
    """
    control = control or Control()
    row = get_sweep(store, sweep_id)
    stored = row["spec"]
    if row["status"] == "running" and _driver_alive(stored.get("driver")):
        raise UserError(
            f"sweep {sweep_id} is still running (process {stored['driver']['pid']}); wait for "
            "it or stop it first."
        )
    spec = SweepSpec.from_dict({**stored, **(overrides or {})})
    info = validate(spec, store)
    mark_lost_runs(store, sweep_id)
    latest = latest_runs(store, sweep_id)
    configs = spec.configs()
    todo = [
        _Job(i, cfg)
        for i, cfg in enumerate(configs)
        if i not in latest or not _is_done(latest[i]["status"], latest[i].get("reason") or "")
    ]
    done_before = len(configs) - len(todo)
    driver = SweepDriver(store, sweep_id, spec, info, todo, done_before)
    _set_sweep(
        store,
        sweep_id,
        status="running",
        backend=spec.backend,
        spec={**spec.to_dict(), "driver": _driver_stamp()},
    )
    log.info(
        "sweep %s: %d of %d jobs to run on %s", sweep_id, len(todo), len(configs), spec.backend
    )
    final = "incomplete"
    try:
        if todo:
            arrays = datasets.load(info)  # once, here: jobs get the arrays, no node downloads
            if spec.backend == "ray":
                from pepr_desktop.core.sweeps import ray_backend

                stream = ray_backend.run_jobs(
                    [(j.index, j.cfg) for j in todo], arrays, spec, control=control, job_fn=job_fn
                )
            elif spec.concurrent != 1 and job_fn is None:
                from pepr_desktop.core.sweeps import concurrent

                jobs = [(j.index, j.cfg) for j in todo]
                stream = concurrent.spec_jobs(jobs, arrays, spec, control)
            else:
                stream = _run_local(todo, arrays, spec, control, job_fn or job_events)
            for index, item in stream:
                update = driver.handle(index, item)
                if update is not None:
                    yield update
        if control.stopped:
            yield from driver.close_open("stopped", "interrupt", "the sweep was stopped")
        yield from driver.close_open("interrupted", "lost", "the job's stream ended early")
        p = driver.progress()
        if p.done == p.total:
            final = "finished"
        elif control.stopped:
            final = "stopped"
    finally:
        # a consumer that closes us, Ctrl-C, or a backend error: no run stays `running`
        driver.close_open("stopped", "interrupt", "the sweep was stopped")
        _set_sweep(store, sweep_id, status=final)


def _run_local(
    todo: list[_Job], arrays: Any, spec: SweepSpec, control: Control, job_fn: JobFn
) -> Iterator[tuple[int, Any]]:
    """One job after another in this process (no Ray needed)."""
    settings = spec.meter_settings()
    for job in todo:
        if control.stopped:
            return
        try:
            for item in job_fn(job.cfg, arrays, settings, control):
                yield job.index, item
        except Exception as exc:  # a job function that raises instead of reporting
            from pepr_desktop.core.training.runner import failure_message

            log.exception("job %d raised", job.index)
            yield job.index, JobLost("failed", "error", failure_message(exc))


# ------------------------------------------------------------------ summary


def summarize(store: Store, sweep_id: str) -> dict[str, Any]:
    """The sweep's jobs (latest run each), counts, total measured energy per method, warnings
    (mixed devices or meter methods, runs that shared a machine), and PePR over its finished
    runs (like with like: the comparison notes say where it is not)."""
    row = get_sweep(store, sweep_id)
    spec = SweepSpec.from_dict(row["spec"])
    runs = sweep_runs(store, sweep_id)
    latest = latest_runs(store, sweep_id)
    jobs = []
    for i, cfg in enumerate(spec.configs()):
        r = latest.get(i)
        jobs.append(
            {
                "job": i,
                "model": cfg.model,
                "run_id": r["id"] if r else None,
                "status": r["status"] if r else "pending",
                "reason": (r.get("reason") or "") if r else "",
                "message": (r.get("message") or "") if r else "",
                "host": r.get("host") if r else None,
                "node": r.get("node") if r else None,
                "device": r.get("device") if r else None,
                "device_name": r.get("device_name") if r else None,
                "energy_method": r.get("energy_method") if r else None,
                "epochs_done": r.get("epochs_done") if r else 0,
                "test_acc": r.get("test_acc") if r else None,
                "train_time_s": r.get("train_time_s") if r else None,
                "energy_j": r.get("energy_j") if r else None,
                "attempts": sum(1 for x in runs if _job_of(x) == i),
            }
        )
    counts: dict[str, int] = {}
    for j in jobs:
        key = DONE if _is_done(j["status"], j["reason"]) else j["status"]
        counts[key] = counts.get(key, 0) + 1
    by_method: dict[str, float] = {}
    unmeasured = []
    for r in runs:
        if r.get("energy_j") is None:
            unmeasured.append(r["id"])
        else:
            m = r.get("energy_method") or "unknown"
            by_method[m] = by_method.get(m, 0.0) + float(r["energy_j"])
    finished = [latest[j["job"]] for j in jobs if j["run_id"] and j["status"] == "finished"]
    warnings = sweep_warnings(runs)
    comparison = None
    if finished:
        from pepr_desktop.core.scoring.compare import compare_runs

        comparison = compare_runs(finished, "all").to_dict()
    return {
        "id": sweep_id,
        "status": row["status"],
        "backend": row["backend"],
        "created_at": row["created_at"],
        "dataset": spec.dataset,
        "counts": counts,
        "jobs": jobs,
        "energy_j": sum(by_method.values()) if by_method else None,
        "energy_j_by_method": by_method,
        "energy_note": (
            f"runs {', '.join(map(str, unmeasured))} have no measured energy and are not in the "
            "total"
            if unmeasured
            else ""
        ),
        "warnings": warnings,
        "comparison": comparison,
    }


def sweep_warnings(runs: list[dict[str, Any]]) -> list[str]:
    """Why the sweep's resource figures may not compare like with like."""
    out = []
    devices = sorted(
        {f"{r.get('device')} ({r.get('device_name')})" for r in runs if r.get("device")}
    )
    if len(devices) > 1:
        out.append(f"runs ran on different devices: {', '.join(devices)}; compare within one.")
    methods = sorted({r["energy_method"] for r in runs if r.get("energy_method")})
    if len(methods) > 1:
        out.append(
            f"energy was measured with different methods: {', '.join(methods)}; PePR-E/C compare "
            "like with like only within one method."
        )
    metered = [
        r
        for r in runs
        if r.get("energy_j") is not None
        and r.get("created_at") is not None
        and r.get("updated_at") is not None
    ]
    shared = set()
    for i, a in enumerate(metered):
        for b in metered[i + 1 :]:
            same_host = a.get("host") and a.get("host") == b.get("host")
            if (
                same_host
                and a["created_at"] < b["updated_at"]
                and b["created_at"] < a["updated_at"]
            ):
                shared.update((a["id"], b["id"]))
    if shared:
        out.append(
            f"runs {', '.join(map(str, sorted(shared)))} ran at the same time on one machine: "
            "machine-wide meters (RAPL, the CPU estimate) counted the shared power in each, so "
            "their energy is overstated; use one job per machine (--backend local, or Ray with "
            "--num-cpus = the node's cores) for energy you compare."
        )
    return out


__all__ = [
    "JobLost",
    "JobPlaced",
    "SweepDriver",
    "SweepProgress",
    "SweepSpec",
    "SweepUpdate",
    "create_sweep",
    "get_sweep",
    "job_events",
    "list_sweeps",
    "make_spec",
    "run_sweep",
    "spec_from_configs",
    "summarize",
    "sweep_warnings",
]
