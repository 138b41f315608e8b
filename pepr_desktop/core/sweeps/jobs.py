"""A sweep's jobs: what they are (`SweepSpec`, built by `make_spec` or `spec_from_configs`), how
one runs anywhere (`job_events`, no store needed) and the messages besides the run's own events
that a job's stream carries to the driver (`JobPlaced`, `JobLost`).

The job protocol lives here, apart from the driver, so that both sides import it and not each
other: core/sweeps/driver.py (the driver, the only store writer) picks a backend and consumes the
streams; core/sweeps/ray_backend.py runs `job_events` as Ray tasks and never imports the driver.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded, Event, RunFinished
from pepr_desktop.core.training.config import Control, TrainConfig

JOB_KEY = "sweep_job"  # a sweep run's job index, in its config's `extra`


@dataclass(frozen=True)
class JobPlaced:
    """A job's first message: where it runs. The driver creates the job's run from it.

    `host` and `pid` are the process that trains (a Ray worker's, not the driver's); `node_id` and
    `node_ip` the Ray node it runs on ("" in the driver's own process: the local backend)."""

    host: str
    device: str
    device_name: str
    energy_method: str
    pid: int
    node_id: str = ""
    node_ip: str = ""

    def node(self) -> dict[str, Any] | None:
        """What the run's `node` column stores; None when the job runs in the driver."""
        if not self.node_id:
            return None
        return {"id": self.node_id, "ip": self.node_ip, "host": self.host, "pid": self.pid}

    def run_fields(self, cfg: Any, dataset_hash: str | None) -> dict[str, Any]:
        """The columns of the run the driver creates for a job of `cfg` placed here (sweeps and
        the budgeted search alike; the caller adds its own tags)."""
        return {
            "dataset": cfg.dataset,
            "dataset_hash": dataset_hash,
            "model": cfg.model,
            "pretrained": bool(cfg.pretrained or cfg.weights),
            "device": self.device,
            "device_name": self.device_name,
            "host": self.host,
            "node": self.node(),  # the Ray node and worker; None in the driver's process
            "energy_method": self.energy_method,
            "config": cfg.to_dict(),
            "epochs_planned": cfg.epochs,
        }


def node_label(node: Any) -> str:
    """A stored `node` for tables: its id's first 8 digits, host and worker pid ("" when none)."""
    if not isinstance(node, dict) or not node.get("id"):
        return ""
    return f"{str(node['id'])[:8]} ({node.get('host') or '?'}, pid {node.get('pid') or '?'})"


@dataclass(frozen=True)
class JobLost:
    """The driver's own note that a job's stream broke (task error, node death, cancellation)."""

    status: str  # "failed", "interrupted" or "stopped"
    reason: str
    message: str


@dataclass
class SweepSpec:
    """What a sweep runs: the jobs' settings (TrainConfig dicts) and how to run them."""

    dataset: str
    jobs: list[dict[str, Any]]
    backend: str = "local"
    meter: dict[str, Any] | None = None  # MeterSettings fields; None: energy not measured
    address: str | None = None  # Ray cluster address; None: start a local Ray
    num_cpus: float = 1.0  # Ray resources per job
    num_gpus: float = 0.0
    # local backend: trials at once on one device (core/sweeps/concurrent.py); 0: chosen from
    # `trial_memory_mb` (the memory probe's figure for one trial) and the device's free memory
    concurrent: int = 1
    trial_memory_mb: float | None = None

    def configs(self) -> list[TrainConfig]:
        return [TrainConfig.from_dict(j) for j in self.jobs]

    def meter_settings(self) -> Any:
        if self.meter is None:
            return None
        from pepr_desktop.core.metering import MeterSettings

        return MeterSettings(**self.meter)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


def make_spec(
    base: TrainConfig,
    models: Sequence[str | tuple[str, dict[str, Any]]],
    *,
    backend: str = "local",
    meter_settings: Any = None,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
) -> SweepSpec:
    """One job per model, each `base` with that model (and optional per-job overrides). The one
    place sweep jobs are built: `pepr sweep` calls it, the GUI's queue through
    `spec_from_configs`."""
    jobs = []
    for i, m in enumerate(models):
        name, overrides = (m, {}) if isinstance(m, str) else m
        cfg = replace(base, model=name, checkpoint=False, extra={**base.extra, JOB_KEY: i})
        cfg = replace(cfg, **overrides)
        jobs.append(cfg.to_dict())
    meter = None
    if meter_settings is not None:
        meter = {k: v for k, v in asdict(meter_settings).items()}
    return SweepSpec(
        dataset=base.dataset,
        jobs=jobs,
        backend=backend,
        meter=meter,
        address=address,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )


# Set per job by make_spec: the model, the job index in `extra` (the first config's `extra`
# otherwise) and no checkpoints (a sweep job is rerun whole by `--resume`).
_PER_JOB = frozenset({"model", "extra", "checkpoint"})


def spec_from_configs(configs: Sequence[TrainConfig], **how: Any) -> SweepSpec:
    """One job per config, each with that config's settings (the GUI's queue: one TrainConfig
    per model chosen); `how` as for `make_spec` (backend, meter_settings, address, num_cpus,
    num_gpus)."""
    if not configs:
        raise UserError("a sweep needs at least one model.")
    jobs = [
        (c.model, {f.name: getattr(c, f.name) for f in fields(c) if f.name not in _PER_JOB})
        for c in configs
    ]
    return make_spec(configs[0], jobs, **how)


def job_events(
    cfg: TrainConfig,
    arrays: Any,
    meter_settings: Any = None,
    control: Control | None = None,
) -> Iterator[JobPlaced | Event]:
    """One job, anywhere: `JobPlaced`, then the run's events with run_id 0 (the driver gives
    the real id), always ending with `RunFinished`. Needs no store and raises nothing."""
    from pepr_desktop.core.training.runner import failure_message, run_events
    from pepr_desktop.core.training.train import device_name, prepare, resolve_device

    host, pid = socket.gethostname(), os.getpid()
    try:
        device = resolve_device(cfg.device)
        dev_name = device_name(device)
    except Exception as exc:
        yield JobPlaced(host, str(cfg.device), "", "unavailable", pid)
        yield RunFinished(0, "failed", "error", failure_message(exc))
        return
    meter = None
    if meter_settings is not None:
        from pepr_desktop.core.metering import meter_factory

        meter = meter_factory(meter_settings)(device)
    yield JobPlaced(host, device, dev_name, getattr(meter, "method", "unavailable"), pid)
    try:
        prepared = prepare(cfg, arrays)
    except Exception as exc:
        if meter is not None:
            meter.stop()
        yield RunFinished(0, "failed", "error", failure_message(exc))
        return
    for ev in run_events(cfg, prepared, run_id=0, meter=meter, control=control):
        window = getattr(meter, "last_window", None)
        if isinstance(ev, EpochEnded) and window is not None and window.detail:
            # the driver has no meter object: the breakdown travels with the epoch
            ev = replace(ev, extra={**ev.extra, "energy_detail": window.detail})
        yield ev
