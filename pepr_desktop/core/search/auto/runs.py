"""One run of a search (a trial or a final run), trained in this process or as a Ray task, and
recorded in the store by this process alone.

Why not `runner.execute`: it loads the dataset itself and evaluates the test split after every
epoch. A search trial must not even compute a test figure, so it trains on a copy of the data
without the test split (`tune.without_test`), which needs the worker side of a run that takes the
arrays: the sweep job protocol (`sweeps.jobs.job_events`, over `runner.run_events`). The driver
side is the runner's own recorder (`RunRecorder`, `close_run`), exactly as `pepr sweep` records
its jobs; with `backend="ray"` the job runs through the project's Ray backend
(`sweeps.ray_backend.run_jobs`) and its events stream back here. The final runs use the same
path with the full data, so their test figures are the run's own, read once at the end.
`ConcurrentRuns` records several trials at once, from worker processes on one device
(core/sweeps/concurrent.py), with the same `Recording` as one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from pepr_desktop.core.events import EpochEnded, Event, RunFinished
from pepr_desktop.core.sweeps.jobs import JobLost, JobPlaced
from pepr_desktop.core.training.config import TrainConfig

STOP_MESSAGES = {
    "pruned": "pruned by the search: its validation curve fell behind the others",
    "budget": "stopped by the search's budget guard",
}


@dataclass
class RunOutcome:
    """How one run of the search ended, with its validation curve (no test figure)."""

    run_id: int | None
    status: str
    reason: str = ""
    message: str = ""
    curve: list[dict[str, Any]] = field(default_factory=list)  # per epoch: val_*, seconds...
    wall_s: float = 0.0
    host: str = ""

    @property
    def epochs(self) -> int:
        return len(self.curve)

    def val(self, key: str) -> float | None:
        return self.curve[-1].get(key) if self.curve else None


@dataclass
class _MeterInfo:
    """What the recorder reads from a meter that lives in the job (carbon, PUE)."""

    settings: Any
    carbon: Any
    last_window: Any = None


def val_point(ev: EpochEnded) -> dict[str, Any]:
    """The validation side of an epoch: the only figures the search reads while it chooses."""
    point = {k: v for k, v in ev.metrics.items() if k.startswith("val_")}
    point.update(
        epoch=ev.epoch,
        seconds=ev.seconds,
        energy_j=ev.energy_j,
        peak_mem_mb=ev.peak_mem_mb,
    )
    return point


class RunExecutor:
    """Trains one config at a time and records it; `on_event(run_id, event)` sees every event
    after it is stored (the search prunes and watches its budget there)."""

    def __init__(
        self,
        store: Any,
        info: Any,
        *,
        meter_settings: Any = None,
        backend: str = "local",
        address: str | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
    ) -> None:
        self.store = store
        self.info = info
        self.meter_settings = meter_settings
        self.backend = backend
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.meter_info = (
            _MeterInfo(meter_settings, getattr(meter_settings, "intensity", None))
            if meter_settings is not None
            else None
        )

    def stream(self, cfg: TrainConfig, arrays: Any, control: Any) -> Iterator[Any]:
        """The job's messages: JobPlaced, the run's events (run_id 0), RunFinished / JobLost."""
        if self.backend == "ray":
            from pepr_desktop.core.sweeps import ray_backend
            from pepr_desktop.core.sweeps.jobs import SweepSpec

            spec = SweepSpec(
                dataset=cfg.dataset,
                jobs=[cfg.to_dict()],
                backend="ray",
                meter=None if self.meter_settings is None else _settings_dict(self.meter_settings),
                address=self.address,
                num_cpus=self.num_cpus,
                num_gpus=self.num_gpus,
            )
            for _, item in ray_backend.run_jobs([(0, cfg)], arrays, spec, control=control):
                yield item
            return
        from pepr_desktop.core.sweeps.jobs import job_events

        yield from job_events(cfg, arrays, self.meter_settings, control)

    def run(
        self,
        cfg: TrainConfig,
        arrays: Any,
        *,
        name: str,
        extra: dict[str, Any],
        control: Any,
        on_event: Callable[[int, Event], None] | None = None,
    ) -> RunOutcome:
        rec = Recording(self, cfg, name=name, extra=extra, control=control, on_event=on_event)
        try:
            for item in self.stream(cfg, arrays, control):
                if rec.feed(item):
                    break
        except BaseException:
            rec.abort()
            raise
        finally:
            rec.out.wall_s = time.perf_counter() - rec.t0
        rec.finish()
        return rec.out

    def concurrent(self, n: int, arrays: Any) -> ConcurrentRuns:
        """Up to `n` runs at once on `arrays`, each in a trial process (the local backend)."""
        return ConcurrentRuns(self, n, arrays)

    def _create(self, cfg: TrainConfig, placed: JobPlaced, name: str, extra: dict) -> int:
        return int(
            self.store.create_run(
                **placed.run_fields(cfg, self.info.content_hash), name=name, extra=extra
            )
        )

    def _end(
        self,
        out: RunOutcome,
        recorder: Any,
        cfg: TrainConfig,
        name: str,
        extra: dict,
        status: str,
        reason: str,
        message: str,
        control: Any,
    ) -> None:
        from pepr_desktop.core.training.runner import close_run

        why = getattr(control, "stop_reason", "") or ""
        if status == "stopped" and why in STOP_MESSAGES:
            reason, message = why, STOP_MESSAGES[why]
        out.status, out.reason, out.message = status, reason, message or status
        if out.run_id is None:  # lost before it said where it ran: still a visible run
            out.run_id = self._create(cfg, JobPlaced("", str(cfg.device), "", "", 0), name, extra)
            self.store.update_run(out.run_id, status=status, reason=reason, message=message)
            return
        close_run(self.store, recorder, out.run_id, status, reason, out.message)


def _settings_dict(settings: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(settings).items()}


class Recording:
    """One run's messages, recorded as they arrive: the run is created at `JobPlaced`, every
    event stored before `on_event` sees it, and closed at its `RunFinished` or `JobLost`."""

    def __init__(
        self,
        executor: RunExecutor,
        cfg: TrainConfig,
        *,
        name: str,
        extra: dict[str, Any],
        control: Any,
        on_event: Callable[[int, Event], None] | None = None,
        from_placed: bool = False,
    ) -> None:
        self.ex, self.cfg, self.name, self.extra = executor, cfg, name, extra
        self.control, self.on_event = control, on_event
        self.out = RunOutcome(run_id=None, status="failed")
        self.recorder: Any = None
        self.t0 = time.perf_counter()
        self.done = False
        self.from_placed = from_placed  # wall time from JobPlaced (a worker's queue) or now

    def feed(self, item: Any) -> bool:
        """Record one message; True once the run has ended."""
        from pepr_desktop.core.training.runner import RunRecorder

        out = self.out
        if isinstance(item, JobPlaced):
            if self.from_placed:  # a worker's start-up before it is not the run's
                self.t0 = time.perf_counter()
            out.run_id = self.ex._create(self.cfg, item, self.name, self.extra)
            out.host = item.host
            self.recorder = RunRecorder(self.ex.store, out.run_id)
            self.recorder.meter = self.ex.meter_info
            return False
        if isinstance(item, JobLost):
            self._end(item.status, item.reason, item.message)
            return True
        if out.run_id is None:
            return False  # nothing arrives before JobPlaced; be safe anyway
        ev = replace(item, run_id=out.run_id)
        if isinstance(ev, RunFinished):
            if ev.evaluation is not None:  # per-class test figures of a final run
                self.ex.store.update_run(out.run_id, evaluation=ev.evaluation)
            self._end(ev.status, ev.reason, ev.message)
            return True
        self.recorder.record(ev)
        if isinstance(ev, EpochEnded):
            out.curve.append(val_point(ev))
        if self.on_event is not None:
            self.on_event(out.run_id, ev)
        return False

    def abort(self) -> None:
        """The search ended (an exception, a cancel) before this run said it had."""
        if self.out.run_id is not None and self.out.status == "failed" and not self.out.message:
            self._end("stopped", "interrupt", "the search ended before this run did")

    def finish(self) -> None:
        """After the stream: a run that never said how it ended is closed as failed."""
        if self.out.run_id is not None and not self.out.message and self.out.status == "failed":
            self._end("failed", "error", "the run ended without a result")

    def _end(self, status: str, reason: str, message: str) -> None:
        self.done = True
        self.ex._end(
            self.out,
            self.recorder,
            self.cfg,
            self.name,
            self.extra,
            status,
            reason,
            message,
            self.control,
        )


class ConcurrentRuns:
    """Up to `n` runs at once on one device (core/sweeps/concurrent.py: one process each),
    recorded here by this process alone, exactly as `RunExecutor.run` records one. Each run has
    its own control: its stop (pruned, budget) reaches its process alone; `pause` holds all."""

    def __init__(self, executor: RunExecutor, n: int, arrays: Any) -> None:
        from pepr_desktop.core.sweeps.concurrent import TrialPool

        self.ex = executor
        self.pool = TrialPool(n, arrays, executor.meter_settings)
        self.active: dict[int, Recording] = {}
        self.stop_sent: set[int] = set()

    @property
    def free(self) -> int:
        return self.pool.free

    def warm(self) -> None:
        self.pool.warm()

    def resize(self, n: int) -> None:
        """At most `n` at once from now on (the workers started for more stay idle)."""
        self.pool.n = n

    @property
    def busy(self) -> int:
        return len(self.active)

    def start(
        self,
        key: int,
        cfg: TrainConfig,
        *,
        name: str,
        extra: dict[str, Any],
        control: Any,
        on_event: Callable[[int, Event], None] | None = None,
    ) -> None:
        from pepr_desktop.core.sweeps.concurrent import label_shared

        cfg = label_shared(cfg, self.pool.n)  # the stored config says its energy is shared
        self.active[key] = Recording(
            self.ex,
            cfg,
            name=name,
            extra=extra,
            control=control,
            on_event=on_event,
            from_placed=True,
        )
        self.pool.start(key, cfg)

    def pause(self, paused: bool) -> None:
        self.pool.pause(paused)

    def poll(self) -> list[tuple[int, RunOutcome]]:
        """Record what arrived; the runs that ended since, as (key, outcome). A run counts as
        ended once its worker is free again, so `free` and the runs in flight always agree."""
        for key, item in self.pool.poll():
            rec = self.active.get(key)
            if rec is not None and not rec.done:
                rec.feed(item)
        ended: list[tuple[int, RunOutcome]] = []
        for key, rec in list(self.active.items()):
            if key in self.pool.running:
                if rec.control.stopped and key not in self.stop_sent:
                    self.pool.stop(key)  # pruned, over budget or the user's stop
                    self.stop_sent.add(key)
                continue
            if not rec.done:  # its worker is gone without saying how the run ended
                rec.finish()
            ended.append((key, self._retire(key)))
        return ended

    def _retire(self, key: int) -> RunOutcome:
        rec = self.active.pop(key)
        rec.out.wall_s = time.perf_counter() - rec.t0
        return rec.out

    def close(self) -> None:
        """Stop what still runs; its runs are closed as stopped by the search's end."""
        self.pool.close()
        for key in list(self.active):
            self.active[key].abort()
            self._retire(key)
