"""Everything Ray: sweep jobs as Ray tasks that stream their events back to the driver.

Imported only with `--backend ray` (Ray is the optional extra `pepr-desktop[cluster]`). Each job is
one task with its resource request (`num_cpus`, `num_gpus`) and `max_retries=0`: a job whose node
dies is reported as `interrupted` and rerun by `pepr sweep --resume`, not silently retried with
half of its events already recorded. Tasks are Ray streaming generators: every event reaches the
driver as it happens. The dataset goes into the object store once (`ray.put`); on one machine the
workers read it zero-copy from shared memory, on a cluster each node fetches it from the driver.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.sweeps.jobs import JobLost, SweepSpec, job_events
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

POLL_S = 0.25
_END = object()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(
            "--backend ray needs Ray: pip install 'pepr-desktop[cluster]' (or pip install ray), "
            "or use --backend local."
        ) from None
    return ray


def connect(address: str | None) -> bool:
    """Join the cluster at `address` (None: start a local Ray on this machine); True when this
    call connected (so the caller disconnects), False when Ray was already initialised."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({exc}); start it with `ray start --head` "
            "(docs/cluster.md) or check --address."
        ) from None
    return True


def _job(
    cfg_dict: dict[str, Any], arrays: Any, settings: Any, threads: int, body: Any = None
) -> Iterator[Any]:
    """The task body: one job, its events streamed back one by one."""
    import torch

    torch.set_num_threads(max(1, threads))  # the CPUs Ray granted, not the whole node
    yield from (body or job_events)(TrainConfig.from_dict(cfg_dict), arrays, settings, None)


def classify(exc: BaseException) -> JobLost:
    """A broken stream as a run status: a node or worker that died -> interrupted (resume reruns
    it), a cancelled task -> stopped, anything else (an error raised in the task) -> failed."""
    from ray import exceptions as rx

    name = type(exc).__name__
    if isinstance(exc, rx.TaskCancelledError):
        return JobLost("stopped", "interrupt", "the sweep was stopped")
    lost = tuple(
        getattr(rx, n)
        for n in (
            "NodeDiedError",
            "WorkerCrashedError",
            "ActorDiedError",
            "OwnerDiedError",
            "ObjectLostError",
            "LocalRayletDiedError",
            "RaySystemError",
        )
        if hasattr(rx, n)
    )
    if isinstance(exc, lost):
        return JobLost(
            "interrupted",
            "node",
            f"the worker or its node died ({name}); `pepr sweep --resume` reruns it",
        )
    if isinstance(exc, rx.RayTaskError):
        cause = getattr(exc, "cause", None)
        if cause is not None:
            from pepr_desktop.core.training.runner import failure_message

            return JobLost("failed", "error", failure_message(cause))
        first = str(exc).strip().splitlines()
        return JobLost("failed", "error", f"{name}: {first[-1] if first else ''}")
    return JobLost("failed", "error", f"{name}: {exc}")


def _pump(ray: Any, index: int, gen: Any, out: queue.Queue) -> None:
    """Move one task's stream onto the driver's queue (one thread per job, no store access)."""
    try:
        for ref in gen:
            out.put((index, ray.get(ref)))
    except Exception as exc:
        out.put((index, classify(exc)))
    finally:
        out.put((index, _END))


def run_jobs(
    jobs: list[tuple[int, TrainConfig]],
    arrays: Any,
    spec: SweepSpec,
    *,
    control: Control | None = None,
    job_fn: Callable[..., Iterator[Any]] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Submit every job as a Ray task and yield (job index, message) as messages arrive.

    The caller (the sweep driver) records them; this function never touches the store.
    `control.stop()` cancels the tasks. `job_fn` replaces `job_events` as the job's body, with
    its signature (tests use it to make a job fail or crash its worker).
    """
    ray = import_ray()
    control = control or Control()
    connected = connect(spec.address)
    gens: dict[int, Any] = {}
    live = 0
    try:
        _check_fits(ray, spec)
        arrays_ref = ray.put(arrays)  # once; every task gets the same object
        task = ray.remote(_job).options(
            num_cpus=spec.num_cpus, num_gpus=spec.num_gpus, max_retries=0
        )
        settings = spec.meter_settings()
        threads = max(1, int(spec.num_cpus))
        out: queue.Queue = queue.Queue()
        for index, cfg in jobs:
            gens[index] = task.remote(cfg.to_dict(), arrays_ref, settings, threads, job_fn)
            threading.Thread(target=_pump, args=(ray, index, gens[index], out), daemon=True).start()
        live, cancelled = len(gens), False
        while live:
            if control.stopped and not cancelled:
                cancelled = True
                for g in gens.values():
                    # force: a running task is only told to stop at its next event otherwise;
                    # the driver marks the run stopped either way
                    ray.cancel(g, force=True)
            try:
                index, item = out.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                live -= 1
                continue
            yield index, item
    finally:
        if live:  # the consumer went away (closed, Ctrl-C, an error): no orphan tasks
            for g in gens.values():
                ray.cancel(g, force=True)
        if connected:
            ray.shutdown()


def _check_fits(ray: Any, spec: SweepSpec) -> None:
    """Refuse a request no live node can hold: Ray would keep the jobs waiting forever."""
    try:
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    except Exception:  # a Ray client without the call: nothing to check
        return
    if not nodes:
        return
    cpus = max(n.get("CPU", 0) for n in nodes)
    gpus = max(n.get("GPU", 0) for n in nodes)
    if spec.num_cpus > cpus or spec.num_gpus > gpus:
        raise UserError(
            f"each job asks for {spec.num_cpus:g} CPU and {spec.num_gpus:g} GPU, but the largest "
            f"node has {cpus:g} CPU and {gpus:g} GPU; lower --num-cpus / --num-gpus."
        )
