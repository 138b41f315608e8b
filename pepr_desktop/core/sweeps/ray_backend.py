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
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.sweeps.jobs import JobLost, JobPlaced, SweepSpec, job_events
from pepr_desktop.core.training.config import Control, TrainConfig

log = logging.getLogger(__name__)

POLL_S = 0.25
_END = object()
JobFn = Callable[..., Iterator[Any]]


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
    call connected (so the caller disconnects), False when Ray was already initialised.

    Workers' output stays on their nodes (`log_to_driver=False`) and Ray's own logger says only
    warnings; Ray still print()s cluster errors ("node ... marked dead") to stdout from a thread,
    so a caller whose stdout is a result (`pepr sweep --json`) points stdout elsewhere meanwhile
    (cli/sweep_cmds.py: `stdout_for_result_only`)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address or None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except ConnectionError as exc:
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({exc}); start it with `ray start --head` "
            "(docs/cluster.md) or check --address. A cluster with token authentication also "
            "needs RAY_AUTH_MODE=token and its token here (~/.ray/auth_token or RAY_AUTH_TOKEN)."
        ) from None
    return True


def _job(
    cfg_dict: dict[str, Any], arrays: Any, settings: Any, threads: int, body: Any = None
) -> Iterator[Any]:
    """The task body: one job, its events streamed back one by one, its placement stamped with
    the Ray node it runs on (the run records it: `runs.node`)."""
    import ray
    import torch

    torch.set_num_threads(max(1, threads))  # the CPUs Ray granted, not the whole node
    node_id = ray.get_runtime_context().get_node_id()
    node_ip = ray.util.get_node_ip_address()
    for item in (body or job_events)(TrainConfig.from_dict(cfg_dict), arrays, settings, None):
        if isinstance(item, JobPlaced) and not item.node_id:
            item = replace(item, node_id=node_id, node_ip=node_ip)
        yield item


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
    except SystemExit:
        pass  # ray.shutdown() raises this in a thread still inside ray.get: nobody reads now
    finally:
        out.put((index, _END))


class RayJobs:
    """Jobs as Ray tasks, submitted one at a time, their messages on one queue.

    The entry point for a caller that decides each next job from the results so far (a budgeted
    search): `submit` a job whenever a slot frees, read `next()` messages (`JobPlaced`, the run's
    events, a `JobLost` when the stream broke: task error, node death, `cancel`), `cancel` a job
    it prunes. It records the messages itself (`SweepDriver.handle`): nothing here touches the
    store, so the caller stays the only writer. `with RayJobs(...)` connects (None address: a
    local Ray), and on leaving cancels what still runs and disconnects.
    """

    def __init__(self, spec: SweepSpec, arrays: Any, *, job_fn: JobFn | None = None) -> None:
        ray = self.ray = import_ray()
        self._gens: dict[int, Any] = {}
        self._out: queue.Queue = queue.Queue()
        self._connected = connect(spec.address)
        try:
            _check_fits(ray, spec)
            self._arrays = ray.put(arrays)  # once; every task gets the same object
        except BaseException:
            self.close()
            raise
        self._task = ray.remote(_job).options(
            num_cpus=spec.num_cpus, num_gpus=spec.num_gpus, max_retries=0
        )
        self._settings = spec.meter_settings()
        self._threads = max(1, int(spec.num_cpus))
        self._job_fn = job_fn

    @property
    def live(self) -> frozenset[int]:
        """The jobs whose stream has not ended yet (queued on Ray, or running)."""
        return frozenset(self._gens)

    def submit(self, index: int, cfg: TrainConfig) -> None:
        """Start job `index` (an id the caller picks, unique among live jobs) with `cfg`."""
        if index in self._gens:
            raise ValueError(f"job {index} is still running")
        args = (cfg.to_dict(), self._arrays, self._settings, self._threads, self._job_fn)
        gen = self._task.remote(*args)
        self._gens[index] = gen
        threading.Thread(target=_pump, args=(self.ray, index, gen, self._out), daemon=True).start()

    def cancel(self, index: int | None = None) -> None:
        """Cancel one job (None: every live job); its stream then ends with JobLost("stopped")."""
        for i in [index] if index is not None else list(self._gens):
            gen = self._gens.get(i)
            if gen is not None:
                # force: a running task is only told to stop at its next event otherwise
                self.ray.cancel(gen, force=True)

    def next(self, timeout: float = POLL_S) -> tuple[int, Any] | None:
        """The next (job index, message); None when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                index, item = self._out.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if item is not _END:
                return index, item
            self._gens.pop(index, None)

    def close(self) -> None:
        """Cancel the live jobs (no orphan tasks) and disconnect if this object connected."""
        if self._gens and self.ray.is_initialized():
            self.cancel()
        self._gens.clear()
        if self._connected:
            self._connected = False
            self.ray.shutdown()

    def __enter__(self) -> RayJobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_jobs(
    jobs: list[tuple[int, TrainConfig]],
    arrays: Any,
    spec: SweepSpec,
    *,
    control: Control | None = None,
    job_fn: JobFn | None = None,
) -> Iterator[tuple[int, Any]]:
    """Submit every job as a Ray task and yield (job index, message) as messages arrive.

    The caller (the sweep driver) records them; this function never touches the store.
    `control.stop()` cancels the tasks. `job_fn` replaces `job_events` as the job's body, with
    its signature (tests use it to make a job fail or crash its worker).
    """
    control = control or Control()
    with RayJobs(spec, arrays, job_fn=job_fn) as pool:
        for index, cfg in jobs:
            pool.submit(index, cfg)
        cancelled = False
        while pool.live:
            if control.stopped and not cancelled:
                cancelled = True  # the driver marks the runs stopped either way
                pool.cancel()
            message = pool.next()
            if message is not None:
                yield message


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
