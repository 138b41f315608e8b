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
        from pepr_desktop.core.training.runner import RunRecorder

        t0 = time.perf_counter()
        out = RunOutcome(run_id=None, status="failed")
        recorder: Any = None
        try:
            for item in self.stream(cfg, arrays, control):
                if isinstance(item, JobPlaced):
                    out.run_id = self._create(cfg, item, name, extra)
                    out.host = item.host
                    recorder = RunRecorder(self.store, out.run_id)
                    recorder.meter = self.meter_info
                    continue
                if isinstance(item, JobLost):
                    self._end(
                        out,
                        recorder,
                        cfg,
                        name,
                        extra,
                        item.status,
                        item.reason,
                        item.message,
                        control,
                    )
                    break
                if out.run_id is None:
                    continue  # nothing arrives before JobPlaced; be safe anyway
                ev = replace(item, run_id=out.run_id)
                if isinstance(ev, RunFinished):
                    if ev.evaluation is not None:  # per-class test figures of a final run
                        self.store.update_run(out.run_id, evaluation=ev.evaluation)
                    self._end(
                        out, recorder, cfg, name, extra, ev.status, ev.reason, ev.message, control
                    )
                    break
                recorder.record(ev)
                if isinstance(ev, EpochEnded):
                    out.curve.append(val_point(ev))
                if on_event is not None:
                    on_event(out.run_id, ev)
        except BaseException:
            if out.run_id is not None and out.status == "failed" and not out.message:
                self._end(
                    out,
                    recorder,
                    cfg,
                    name,
                    extra,
                    "stopped",
                    "interrupt",
                    "the search ended before this run did",
                    control,
                )
            raise
        finally:
            out.wall_s = time.perf_counter() - t0
        if out.run_id is not None and not out.message and out.status == "failed":
            self._end(
                out,
                recorder,
                cfg,
                name,
                extra,
                "failed",
                "error",
                "the run ended without a result",
                control,
            )
        return out

    def _create(self, cfg: TrainConfig, placed: JobPlaced, name: str, extra: dict) -> int:
        return int(
            self.store.create_run(
                name=name,
                dataset=cfg.dataset,
                dataset_hash=self.info.content_hash,
                model=cfg.model,
                pretrained=bool(cfg.pretrained or cfg.weights),
                device=placed.device,
                device_name=placed.device_name,
                host=placed.host,
                energy_method=placed.energy_method,
                config=cfg.to_dict(),
                epochs_planned=cfg.epochs,
                extra=extra,
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
