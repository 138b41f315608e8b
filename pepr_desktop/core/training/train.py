"""The training loop, as a generator of events (its settings: core/training/config.py).

The loop follows the PePR paper's protocol by default (Adam, lr 5e-4, batch 32, 10 epochs,
cross-entropy, final-epoch test accuracy as performance). `prepare` puts the data on the device as
uint8 tensors (core/training/tensors.py) and builds the model; `train` runs the epochs, checking a
`Control` between batches for pause and a cooperative stop, and the budget between epochs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepr_desktop.core.devices import device_name as device_name  # re-exported: runner, sweep
from pepr_desktop.core.devices import resolve_device
from pepr_desktop.core.events import BatchEnded, EpochEnded, Event, RunStarted
from pepr_desktop.core.metering.peak_memory import PeakMemory, held_mb
from pepr_desktop.core.metering.session import EnergyWindow, MeterSession, UnavailableMeter
from pepr_desktop.core.training import fast_path
from pepr_desktop.core.training.checkpoints import save_checkpoint
from pepr_desktop.core.training.config import Control, StopRun, TrainConfig
from pepr_desktop.core.training.fast_path import FAST_KEY, FastPath
from pepr_desktop.core.training.metrics import split_metrics
from pepr_desktop.core.training.tensors import (
    Normalizer,
    Tensors,
    balanced_weights,
    class_weight_vector,
    epoch_batches,
    to_tensors,
)
from pepr_desktop.core.training.threads import THREADS_KEY, ThreadGovernor, fitted_threads

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What a run needs, built before the loop: data on the device, model, optimiser."""

    model: Any
    optimizer: Any
    loss_fn: Any
    train: Tensors
    val: Tensors
    test: Tensors | None  # None when a caller (the tuner) must not see the test split
    norm: Normalizer
    device: str
    params: int
    class_names: list[str]
    fast: FastPath = field(default_factory=FastPath)  # the CUDA fast path as resolved (all off)


def prepare(cfg: TrainConfig, arrays: Any) -> Prepared:
    """Data subset, tensors on the device, model and optimiser for `cfg` (seeded)."""
    import torch

    from pepr_desktop.core.data.sources import stratified_subset
    from pepr_desktop.core.models.build import build_model, count_params

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    keep = stratified_subset(arrays.labels["train"], cfg.data_fraction, cfg.seed)
    train = to_tensors(arrays.images["train"][keep], arrays.labels["train"][keep], device)
    val = to_tensors(arrays.images["val"], arrays.labels["val"], device)
    test = (
        to_tensors(arrays.images["test"], arrays.labels["test"], device)
        if "test" in arrays.images
        else None
    )
    size = cfg.image_size or arrays.image_size[0]
    model = build_model(
        cfg.model,
        in_chans=arrays.channels,
        num_classes=arrays.n_classes,
        image_size=size,
        pretrained=cfg.pretrained,
        weights=cfg.weights,
    ).to(device)
    mean, std = (0.5,) * arrays.channels, (0.5,) * arrays.channels  # MedMNIST's usual transform
    if cfg.pretrained or cfg.weights:
        pc = getattr(model, "pretrained_cfg", {}) or {}
        if len(pc.get("mean", ())) == arrays.channels:
            mean, std = tuple(pc["mean"]), tuple(pc["std"])
    norm = Normalizer(mean, std, cfg.image_size, device)
    fast = fast_path.resolve(cfg, device)
    model = fast.prepare_model(model)
    cfg.extra[fast_path.FAST_KEY] = fast.record()  # stored with the run's config
    weight = None
    if cfg.class_weights == "auto":
        w = class_weight_vector(arrays.labels["train"][keep], arrays.n_classes)
        weight = torch.from_numpy(w).to(device)
    return Prepared(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=cfg.lr),
        loss_fn=torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=cfg.label_smoothing),
        train=train,
        val=val,
        test=test,
        norm=norm,
        device=device,
        params=count_params(model),
        class_names=list(arrays.class_names),
        fast=fast,
    )


@dataclass
class _Loop:
    """One run's loop state, carried between the steps of `train`."""

    cfg: TrainConfig
    p: Prepared
    run_id: int
    meter: MeterSession
    control: Control
    state: dict[str, Any]
    mem: PeakMemory
    augmenter: Any
    schedule: Any  # None: a constant learning rate
    sample_w: Any  # per-image weights of the balanced sampler, or None
    batches_per_epoch: int
    t0: float = 0.0  # perf_counter at the run's start, less the time of earlier sessions
    paused_total: float = 0.0
    last_drain: float = 0.0
    last_epoch: EpochEnded | None = None  # what the checkpoint written after it carries
    threads: ThreadGovernor | None = None  # CPU runs: torch's threads follow the free cores


def train(
    cfg: TrainConfig,
    p: Prepared,
    *,
    run_id: int,
    meter: MeterSession | None = None,
    control: Control | None = None,
    checkpoint_path: Path | None = None,
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    checkpoint_owner: dict[str, Any] | None = None,
) -> Iterator[Event]:
    """Train `p` per `cfg`, yielding events. Raises StopRun when stopped (after a clean epoch
    boundary or mid-epoch); the caller records the final status."""
    run = _set_up(cfg, p, run_id, meter or UnavailableMeter(), control or Control(), start_epoch)
    run.state = dict(state or {})  # a copy: the caller's dict is left as it was
    yield RunStarted(
        run_id,
        cfg.model,
        cfg.dataset,
        p.device,
        p.params,
        cfg.epochs,
        run.batches_per_epoch,
        start_epoch,
    )
    with fitted_threads(p.device) as threads:  # given back however the run ends
        run.threads = threads
        run.meter.start(run_id)
        run.t0 = time.perf_counter() - run.state.get("train_time_s", 0.0)
        run.last_drain = time.perf_counter()
        try:
            for epoch in range(start_epoch, cfg.epochs):
                ep_t0 = time.perf_counter()
                train_loss, ep_paused = yield from _train_epoch(run, epoch)
                peak = yield from _end_epoch(run, epoch, train_loss, ep_t0, ep_paused)
                # After the consumer stored the epoch: a crash in between leaves the previous
                # checkpoint, and a resume redoes this epoch deterministically.
                if checkpoint_path is not None and cfg.checkpoint:
                    save_checkpoint(
                        checkpoint_path, p, epoch, run.state, checkpoint_owner, run.last_epoch
                    )
                if epoch + 1 < cfg.epochs:
                    _check_continue(run, epoch + 1 - start_epoch, peak)
        finally:
            run.meter.stop()


def _set_up(
    cfg: TrainConfig,
    p: Prepared,
    run_id: int,
    meter: MeterSession,
    control: Control,
    start_epoch: int,
) -> _Loop:
    """Memory meter, augmenter, sampler and learning-rate schedule (sought to `start_epoch`)."""
    from pepr_desktop.core.training.augment import Augmenter
    from pepr_desktop.core.training.schedules import build_schedule

    splits = [s.x for s in (p.train, p.val, p.test) if s is not None]
    mem = PeakMemory(p.device, held_mb=held_mb(p.model, *splits))
    batches_per_epoch = len(epoch_batches(len(p.train), cfg.batch_size, cfg.seed, 0, "cpu"))
    augmenter = Augmenter(cfg.augment, p.device)
    sample_w = balanced_weights(p.train.y) if cfg.sampler == "balanced" else None
    schedule = build_schedule(
        cfg.schedule,
        p.optimizer,
        base_lr=cfg.lr,
        epochs=cfg.epochs,
        steps_per_epoch=batches_per_epoch,
    )
    if schedule is not None:
        schedule.seek(start_epoch)
    return _Loop(
        cfg, p, run_id, meter, control, {}, mem, augmenter, schedule, sample_w, batches_per_epoch
    )


def _train_epoch(run: _Loop, epoch: int) -> Generator[Event, None, tuple[float, float]]:
    """One pass over the training split, yielding BatchEnded and meter samples; returns (mean
    training loss, seconds paused)."""
    import torch

    cfg, p, control, schedule = run.cfg, run.p, run.control, run.schedule
    ep_paused = 0.0
    p.model.train()
    loss_sum = torch.zeros((), device=p.device)
    seen = 0
    chunks = epoch_batches(len(p.train), cfg.batch_size, cfg.seed, epoch, p.device, run.sample_w)
    run.augmenter.start_epoch(cfg.seed, epoch)
    forward = p.fast.forward or p.model  # the compiled forward when compile_step is on
    for b, idx in enumerate(chunks, 1):
        if control.paused:  # the wait is neither the run's time nor its energy
            run.meter.pause()
            ep_paused += control.wait_while_paused()
            run.meter.resume()
        if control.stopped:
            raise StopRun(control.stop_reason or "user")
        xb = p.fast.inputs(run.augmenter(p.norm(p.train.x[idx])))
        yb = p.train.y[idx]
        p.optimizer.zero_grad(set_to_none=True)
        with p.fast.autocast():
            loss = p.loss_fn(forward(xb), yb)
        p.fast.step(loss, p.optimizer)
        if schedule is not None:
            schedule.after_batch()
        if run.threads is not None:
            run.threads.poll()
        loss_sum += loss.detach() * len(idx)  # stays on the device: no sync per batch
        seen += len(idx)
        now = time.perf_counter()
        yield BatchEnded(run.run_id, epoch, b, len(chunks), now - run.t0 - run.paused_total)
        if now - run.last_drain > 0.5:
            run.mem.poll()
            run.last_drain = now
            yield from run.meter.drain_samples()
    train_loss = float(loss_sum) / max(seen, 1)
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training loss became {train_loss} in epoch {epoch + 1}; lower the learning rate."
        )
    return train_loss, ep_paused


def _end_epoch(
    run: _Loop, epoch: int, train_loss: float, ep_t0: float, ep_paused: float
) -> Generator[Event, None, float]:
    """Schedule step, evaluation, the epoch's meter windows and its EpochEnded; returns the
    epoch's peak memory (MiB)."""
    cfg, p = run.cfg, run.p
    if run.schedule is not None:
        run.schedule.after_epoch()
    splits = {"val": p.val, "test": p.test}  # test is None when the tuner trains
    with p.fast.autocast():  # evaluation on the device, one sync per split
        metrics = split_metrics(p.model, splits, p.norm, cfg.eval_batch_size)
    run.paused_total += ep_paused
    seconds = time.perf_counter() - ep_t0 - ep_paused
    window = run.meter.close_window()  # takes a reading at the epoch's edge...
    yield from run.meter.drain_samples()  # ...which is drained with the rest, never lost
    peak = run.mem.close_window()
    _record_epoch(run, epoch, metrics, window)
    run.last_epoch = EpochEnded(
        run_id=run.run_id,
        epoch=epoch,
        train_loss=train_loss,
        metrics=metrics,
        seconds=seconds,
        peak_mem_mb=peak,
        mem_method=run.mem.method,
        energy_j=window.energy_j,
        energy_net_j=window.energy_net_j,
        energy_method=window.method,
        energy_note=window.note,
        extra={
            "best_val_epoch": run.state["best_val_epoch"],
            FAST_KEY: p.fast.record(),
            **({THREADS_KEY: run.threads.record()} if run.threads is not None else {}),
        },
    )
    yield run.last_epoch
    return peak


def _record_epoch(
    run: _Loop, epoch: int, metrics: dict[str, float | None], window: EnergyWindow
) -> None:
    """The trainer state a checkpoint carries: best epoch, time, energy and their histories."""
    state = run.state
    best = state.get("best_val_acc")
    if best is None or (metrics["val_acc"] or 0) > best:
        state["best_val_acc"] = metrics["val_acc"]
        state["best_val_epoch"] = epoch
    state["train_time_s"] = time.perf_counter() - run.t0 - run.paused_total
    if window.energy_j is not None:
        state["energy_j"] = state.get("energy_j", 0.0) + window.energy_j
    state["val_history"] = [*state.get("val_history", []), metrics.get("val_acc")]
    state["energy_history"] = [*state.get("energy_history", []), window.energy_j]


def _check_continue(run: _Loop, epochs_this_session: int, peak: float) -> None:
    """Raise StopRun before another epoch would exceed the budget, when early stopping says
    the gains no longer pay for the energy, or when a stop was asked for."""
    cfg, state, control = run.cfg, run.state, run.control
    reason = cfg.budget.exceeded(state, epochs_this_session, peak)
    if reason:
        raise StopRun("budget", f"stopped before exceeding the budget ({reason})")
    if cfg.early_stop:
        from pepr_desktop.core.training.early_stop import decide

        decision = decide(
            state["val_history"],
            state["energy_history"],
            patience=cfg.early_stop_patience,
            min_gain_per_wh=cfg.early_stop_min_gain,
        )
        if decision.stop:
            log.info("run %s: %s", run.run_id, decision.message)
            raise StopRun("early_stop", decision.message)
    if control.stopped:
        raise StopRun(control.stop_reason or "user")
