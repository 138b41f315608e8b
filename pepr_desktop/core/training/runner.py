"""One training run end to end: validate, load data, record in the store, train, close the run.

`execute` is what the CLI, the GUI worker and sweeps all call. It yields the trainer's events after
persisting them, so whatever consumes the stream sees only what is already safe on disk.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.devices import device_name
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded, Event, MeterSample, RunFinished, RunStarted
from pepr_desktop.core.metering import epoch_extra
from pepr_desktop.core.metering.carbon import run_carbon_fields
from pepr_desktop.core.metering.session import MeterSession
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.checkpoints import Restored, load_checkpoint
from pepr_desktop.core.training.config import Control, StopRun, TrainConfig
from pepr_desktop.core.training.resume import RESUMABLE, resume_config
from pepr_desktop.core.training.train import Prepared, prepare, train

log = logging.getLogger(__name__)

SAMPLE_FLUSH_S = 2.0

MeterFactory = Callable[[str], MeterSession]


def _oom_message(exc: BaseException) -> str:
    return (
        f"out of memory ({type(exc).__name__}); try a smaller --batch-size or --image-size, or a "
        "smaller model."
    )


def _is_disk_full(exc: BaseException) -> bool:
    """A full disk (or quota): OSError ENOSPC/EDQUOT, which `save_checkpoint` also raises for
    torch's zip-writer failures."""
    full = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    return isinstance(exc, OSError) and exc.errno in full


def _disk_full_message(exc: BaseException, run_id: int) -> str:
    where = getattr(exc, "filename", None) or "writing a file"
    how = f"run `pepr resume {run_id}`" if run_id else "resume the run"
    return (
        f"no space left on the disk ({where}); free some space and {how} to continue from its "
        "last checkpoint."
    )


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        return isinstance(exc, torch.OutOfMemoryError)
    except AttributeError:  # older torch
        return "out of memory" in str(exc).lower()


class _RunRecorder:
    """Turns events into store writes: one transaction per epoch, samples in small batches."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.pending: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.epochs: list[EpochEnded] = [_epoch_from_row(run_id, r) for r in store.epochs(run_id)]
        self.meter: Any = None  # the run's meter session: carbon settings, energy breakdown
        self.epochs_planned = 0

    def record(self, ev: Event) -> None:
        if isinstance(ev, MeterSample):
            self.pending.append(
                {
                    "run_id": ev.run_id,
                    "t": ev.t,
                    "power_w": sum(ev.power_w.values()) if ev.power_w else None,
                    "components": ev.power_w,
                    "energy_j": ev.energy_j,
                    "method": ev.method,
                }
            )
            if time.monotonic() - self.last_flush > SAMPLE_FLUSH_S:
                self.flush()
        elif isinstance(ev, RunStarted):
            self.store.update_run(self.run_id, params=ev.params, device=ev.device)
            self.epochs_planned = ev.epochs
        elif isinstance(ev, EpochEnded):
            self.flush()
            self.epochs = [e for e in self.epochs if e.epoch < ev.epoch] + [ev]
            row = {
                "epoch": ev.epoch,
                "train_loss": ev.train_loss,
                **ev.metrics,
                "seconds": ev.seconds,
                "peak_mem_mb": ev.peak_mem_mb,
                "energy_j": ev.energy_j,
                "energy_net_j": ev.energy_net_j,
                "energy_method": ev.energy_method,
                "extra": {
                    **ev.extra,
                    **epoch_extra(
                        self.meter,
                        ev.energy_j,
                        [e.seconds for e in self.epochs],
                        [e.energy_j for e in self.epochs],
                        self.epochs_planned,
                    ),
                },
            }
            self.store.add_epoch(self.run_id, row, self.totals())

    def totals(self) -> dict[str, Any]:
        eps = self.epochs
        last = eps[-1]
        energies = [e.energy_j for e in eps]
        nets = [e.energy_net_j for e in eps]
        mems = [e.peak_mem_mb for e in eps if e.peak_mem_mb is not None]
        best = max(eps, key=lambda e: (e.metrics.get("val_acc") or 0, -e.epoch))
        note = last.energy_note
        if any(v is None for v in energies) and not all(v is None for v in energies):
            note = "energy unavailable for some epochs; total not computed"
        return {
            "epochs_done": len(eps),
            **{k: last.metrics.get(k) for k in last.metrics},
            "best_val_epoch": best.epoch,
            "best_val_acc": best.metrics.get("val_acc"),
            "train_time_s": sum(e.seconds for e in eps),
            "peak_mem_mb": max(mems) if mems else None,
            "mem_method": last.mem_method,
            "energy_j": None if any(v is None for v in energies) else sum(energies),
            "energy_net_j": None if any(v is None for v in nets) else sum(nets),
            "energy_method": last.energy_method,
            "energy_note": note,
            **run_carbon_fields(
                self.meter, None if any(v is None for v in energies) else sum(energies)
            ),
        }

    def flush(self) -> None:
        if self.pending:
            self.store.add_samples(self.pending)
            self.pending = []
        self.last_flush = time.monotonic()


def _epoch_from_row(run_id: int, r: dict[str, Any]) -> EpochEnded:
    metrics = {k: r[k] for k in r if k.startswith(("val_", "test_"))}
    return EpochEnded(
        run_id=run_id,
        epoch=r["epoch"],
        train_loss=r["train_loss"],
        metrics=metrics,
        seconds=r["seconds"] or 0.0,
        peak_mem_mb=r["peak_mem_mb"],
        mem_method="",
        energy_j=r["energy_j"],
        energy_net_j=r["energy_net_j"],
        energy_method=r["energy_method"] or "unavailable",
    )


def checkpoint_path(store: Store, run_id: int) -> Path:
    return store.data_dir / "checkpoints" / f"run_{run_id}.pt"


def execute(
    cfg: TrainConfig,
    store: Store,
    *,
    meter_factory: MeterFactory | None = None,
    control: Control | None = None,
    resume_run_id: int | None = None,
    run_fields: dict[str, Any] | None = None,
) -> Iterator[Event]:
    """Run `cfg` (or resume a stored run), persisting every event before yielding it.

    User mistakes found before training (bad numbers, unknown model or dataset) raise `UserError`
    and create no run. Once the run exists, every ending is recorded: finished, stopped (user,
    budget, interrupt) or failed (with the message); the last event is always `RunFinished`.
    """
    control = control or Control()
    row: dict[str, Any] = {}
    if resume_run_id is not None:
        row = store.get_run(resume_run_id)
        # an early, friendly refusal; the claim below is what makes the check hold under races
        cfg = resume_config(row)
    info = _check_before_loading(cfg, store, row, resume_run_id)
    arrays = datasets.load(info)
    prepared = prepare(cfg, arrays)
    start_epoch, state, lost = 0, {}, None
    if resume_run_id is not None:
        run_id = resume_run_id
        owner = {"run_id": run_id, "created_at": row.get("created_at")}
        start_epoch, state, lost = _claim_for_resume(store, run_id, prepared, owner)
    else:
        run_id, owner = _create_run(store, cfg, info, prepared, run_fields)
    recorder = _RunRecorder(store, run_id)
    meter = meter_factory(prepared.device) if meter_factory else None
    recorder.meter = meter
    if lost is not None:  # before training on: the run's epochs stay 0..n-1 without a gap
        recorder.epochs_planned = cfg.epochs
        recorder.record(lost)
        log.warning(
            "run %s: epoch %s's commit was lost (power cut?); restored from its checkpoint",
            run_id,
            lost.epoch + 1,
        )
    events = run_events(
        cfg,
        prepared,
        run_id=run_id,
        meter=meter,
        control=control,
        checkpoint_path=checkpoint_path(store, run_id),
        start_epoch=start_epoch,
        state=state,
        checkpoint_owner=owner,
    )
    yield from record_events(recorder, events)


def _check_before_loading(
    cfg: TrainConfig, store: Store, row: dict[str, Any], resume_run_id: int | None
) -> DatasetInfo:
    """The settings, model name, dataset (unchanged under a resumed run) and model input, all
    checked before any data is loaded; returns the dataset's info."""
    cfg.validate()
    info = datasets.resolve(cfg.dataset, store)
    from pepr_desktop.core.models.build import check_model_name

    check_model_name(cfg.model)
    # `import-data --overwrite` may have replaced the data under a stopped run (the bundled
    # sample and MedMNIST sets have no stored hash: they cannot change)
    old_hash = row.get("dataset_hash")
    if old_hash and info.content_hash and old_hash != info.content_hash:
        raise UserError(
            f"dataset '{cfg.dataset}' has changed since run {resume_run_id} started (it was "
            "imported again), so resuming would train the remaining epochs on other data; "
            "start a new run with `pepr train`."
        )
    cfg.check_model_input(info.channels, info.n_classes, info.image_size)  # before loading data
    return info


def _claim_for_resume(
    store: Store, run_id: int, prepared: Prepared, owner: dict[str, Any]
) -> tuple[int, dict[str, Any], EpochEnded | None]:
    """Restore the run's checkpoint (when there is one), then claim the run; returns (first
    epoch to train, trainer state, the checkpoint's epoch when its commit is missing from the
    store)."""
    start_epoch, state, lost = 0, {}, None
    ck = checkpoint_path(store, run_id)
    if ck.is_file():
        restored = load_checkpoint(ck, prepared, owner)
        start_epoch, state = restored.start_epoch, restored.state
        lost = _lost_epoch(store, run_id, restored, ck)
    # After every check, so a refused resume leaves the store as it was. One conditional
    # write: status, owner pid and host change together and only if the run is still
    # resumable, so of two resumes racing for it exactly one trains.
    if not store.claim_run(run_id, RESUMABLE):
        raise UserError(
            f"run {run_id} is being resumed by another process (or is no longer resumable); "
            "see `pepr runs` for its status."
        )
    return start_epoch, state, lost


def _lost_epoch(store: Store, run_id: int, restored: Restored, ck: Path) -> EpochEnded | None:
    """The checkpoint's own epoch when the store lacks exactly that one (its commit was lost
    while the checkpoint written after it survived); None when the store has it. A checkpoint
    further ahead, or one without its epoch's record, cannot continue without a gap: refused."""
    stored = {int(r["epoch"]) for r in store.epochs(run_id)}
    last = restored.start_epoch - 1
    if last in stored or last < 0:
        return None
    record = restored.epoch_record
    contiguous = stored == set(range(last))
    if contiguous and record is not None and record.get("epoch") == last:
        return EpochEnded(**{**record, "run_id": run_id})
    have = f"epochs 1-{max(stored) + 1}" if stored else "no epochs"
    raise UserError(
        f"run {run_id}'s checkpoint ({ck}) is at epoch {last + 1} but the database holds {have}; "
        "continuing would leave a gap. Start a new run with `pepr train` (or delete that file "
        f"to retrain run {run_id} from epoch 1)."
    )


def _create_run(
    store: Store,
    cfg: TrainConfig,
    info: DatasetInfo,
    prepared: Prepared,
    run_fields: dict[str, Any] | None,
) -> tuple[int, dict[str, Any]]:
    """A new run row with its checkpoint path; returns (run id, the checkpoint's owner)."""
    run_id = store.create_run(
        dataset=cfg.dataset,
        dataset_hash=info.content_hash,
        model=cfg.model,
        pretrained=bool(cfg.pretrained or cfg.weights),
        params=prepared.params,
        device=prepared.device,
        device_name=device_name(prepared.device),
        config=cfg.to_dict(),
        epochs_planned=cfg.epochs,
        **(run_fields or {}),
    )
    store.update_run(run_id, checkpoint=str(checkpoint_path(store, run_id)))
    return run_id, {"run_id": run_id, "created_at": store.get_run(run_id)["created_at"]}


def failure_message(exc: BaseException) -> str:
    """The one line a failed run keeps as its message."""
    if isinstance(exc, UserError):
        return str(exc)
    if _is_oom(exc):
        return _oom_message(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return (
            f"no space left on the disk ({exc.filename or 'writing a file'}); free some space and "
            "start the run again (the epochs stored so far are kept)."
        )
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


def _log_failure(run_id: int, exc: BaseException, what: str) -> None:
    """A traceback only for what may be a bug; known causes (a user's mistake, out of memory, a
    full disk, a store error) get one line, so the CLI's stderr stays readable."""
    if isinstance(exc, UserError) or _is_oom(exc) or isinstance(exc, OSError):
        log.error("run %s %s: %s", run_id, what, failure_message(exc))
    else:
        log.exception("run %s %s", run_id, what)
    if _is_oom(exc):  # give the memory back so the next run in this process can use it
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            log.debug("could not empty the CUDA cache", exc_info=True)


def run_events(
    cfg: TrainConfig,
    prepared: Any,
    *,
    run_id: int,
    meter: MeterSession | None = None,
    control: Control | None = None,
    checkpoint_path: Path | None = None,
    start_epoch: int = 0,
    state: dict[str, Any] | None = None,
    checkpoint_owner: dict[str, Any] | None = None,
) -> Iterator[Event]:
    """The worker side of a run: train and turn every ending into a last `RunFinished`.

    It touches no store, so a sweep can run it in another process or on another machine and let
    the driver record the stream (`record_events` / `RunRecorder`): only the driver writes SQLite.
    """
    status, reason, message = "finished", "", ""
    try:
        yield from train(
            cfg,
            prepared,
            run_id=run_id,
            meter=meter,
            control=control or Control(),
            checkpoint_path=checkpoint_path,
            start_epoch=start_epoch,
            state=state,
            checkpoint_owner=checkpoint_owner,
        )
    except StopRun as stop:
        # an energy-aware early stop is a complete run (not resumable), with its reason kept
        status = "finished" if stop.reason == "early_stop" else "stopped"
        reason, message = stop.reason, stop.message
    except KeyboardInterrupt:
        status, reason, message = "stopped", "interrupt", "stopped by Ctrl-C"
    except Exception as exc:
        if _is_disk_full(exc):
            # Not the run's fault, and nothing is lost: the epoch is stored before its checkpoint
            # is written (to a temporary file, renamed only when complete), so the run stops
            # resumable from the previous checkpoint instead of failing for good.
            status, reason = "stopped", "disk_full"
            message = _disk_full_message(exc, run_id)
            log.error("run %s stopped: %s", run_id, message)
        else:
            _log_failure(run_id, exc, "failed")
            status, reason, message = "failed", "error", failure_message(exc)
    evaluation = None
    if status == "finished":  # per-class test figures of the final model (issue 13)
        from pepr_desktop.core.training.evaluation import safe_evaluate

        evaluation = safe_evaluate(prepared, run_id, cfg.eval_batch_size)
    yield RunFinished(run_id, status, reason, message, evaluation)


def record_events(recorder: _RunRecorder, events: Iterator[Event]) -> Iterator[Event]:
    """The driver side: persist each event before yielding it, and close the run with the
    stream's `RunFinished` (a stream that breaks or is closed still leaves the run closed)."""
    store, run_id = recorder.store, recorder.run_id
    finished: RunFinished | None = None
    try:
        for ev in events:
            if isinstance(ev, RunFinished):
                finished = ev
                break
            recorder.record(ev)
            yield ev
    except GeneratorExit:
        getattr(events, "close", lambda: None)()
        _close(store, recorder, run_id, "stopped", "closed", "the consumer closed the run")
        raise
    except Exception as exc:  # recording failed (disk full, locked database)
        _log_failure(run_id, exc, "failed while recording")
        getattr(events, "close", lambda: None)()
        finished = RunFinished(run_id, "failed", "error", failure_message(exc))
    if finished is None:
        finished = RunFinished(run_id, "failed", "error", "the run ended without a result")
    if finished.evaluation is not None:  # stored before the status says finished
        store.update_run(run_id, evaluation=finished.evaluation)
    _close(store, recorder, run_id, finished.status, finished.reason, finished.message)
    yield finished


def _close(
    store: Store, recorder: _RunRecorder, run_id: int, status: str, reason: str, message: str
) -> None:
    """Record the run's ending. A store that fails here (disk still full, locked) is logged, not
    raised: the caller's RunFinished keeps the first error, and the next open of the store marks
    the run `interrupted` once this process is gone."""
    try:
        recorder.flush()
    except Exception as exc:  # samples are the least valuable part: keep closing
        log.error("run %s: meter samples not stored: %s", run_id, failure_message(exc))
    try:
        store.update_run(run_id, status=status, reason=reason, message=message)
    except Exception as exc:  # see above
        log.error("run %s: final status %s not stored: %s", run_id, status, failure_message(exc))


RunRecorder = (
    _RunRecorder  # public names for drivers that record a remote stream (core/sweeps/driver.py)
)
close_run = _close
