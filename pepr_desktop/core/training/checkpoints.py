"""Checkpoints of a run: state dicts written atomically, read back with weights_only=True.

A checkpoint names the run it belongs to, so a resume can refuse another run's file, and carries
the record of the epoch it was written after, so a resume can put back that epoch when its commit
was lost (a power cut under a disk that reorders writes) instead of continuing with a gap.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pepr_desktop.core.errors import UserError

if TYPE_CHECKING:
    from pepr_desktop.core.events import EpochEnded
    from pepr_desktop.core.training.train import Prepared


class Restored(NamedTuple):
    """What a checkpoint gives back: the first epoch to train, the trainer state, and the stored
    record of the epoch it was written after (None in checkpoints older than that field)."""

    start_epoch: int
    state: dict[str, Any]
    epoch_record: dict[str, Any] | None


# What torch.save's zip writer (caffe2 inline_container.cc) raises when a write fails, as on a full
# disk: a RuntimeError without an errno, e.g. "PytorchStreamWriter failed writing file data/3: file
# write failed" or "[enforce fail at inline_container.cc:...] . unexpected pos 64 vs 0".
_WRITE_FAILED = ("pytorchstreamwriter failed writing", "file write failed", "inline_container")


def save_checkpoint(
    path: Path,
    p: Prepared,
    epoch: int,
    state: dict[str, Any],
    owner: dict[str, Any] | None = None,
    record: EpochEnded | None = None,
) -> None:
    """State dicts only, written to a temporary file, synced, then renamed over the old one: a
    crash or a full disk leaves the previous checkpoint intact. `owner` ({"run_id", "created_at"})
    names the run the checkpoint belongs to, so a resume can refuse another run's file. A failed
    write of torch's zip writer is raised as OSError(ENOSPC), which the runner treats as a full
    disk (the run stops resumably)."""
    import errno

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    payload = {
        "model": p.model.state_dict(),
        "optimizer": p.optimizer.state_dict(),
        "epoch": epoch,
        "rng": torch.get_rng_state(),
        "state": state,
    }
    if owner is not None:
        payload["run"] = dict(owner)
    if record is not None:
        payload["epoch_record"] = _plain(asdict(record))
    if p.device.startswith("cuda"):
        payload["cuda_rng"] = torch.cuda.get_rng_state(torch.device(p.device))
    try:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:
            if not any(m in str(exc).lower() for m in _WRITE_FAILED):
                raise
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise OSError(errno.ENOSPC, f"writing failed: {first}", str(path)) from exc
        with open(tmp, "r+b") as fh:  # on disk before the rename (a full disk can show up here)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise


def load_checkpoint(path: Path, p: Prepared, owner: dict[str, Any] | None = None) -> Restored:
    """Restore model, optimiser and RNG; return the first epoch to train, the trainer state and
    the epoch record. Never runs code.

    With `owner`, a checkpoint that names another run (another id, or the same id of a run that
    was created at another time) is refused before anything is loaded. One that names no run was
    written before checkpoints carried their owner and is accepted."""
    import torch

    try:
        ck = torch.load(path, map_location=p.device, weights_only=True)
    except Exception as exc:  # a damaged or foreign file is the user's to fix, not a crash
        raise UserError(
            f"checkpoint {path} cannot be resumed ({type(exc).__name__}); it is damaged or was "
            "saved for another model. Start a new run instead."
        ) from None
    saved_by = ck.get("run") if isinstance(ck, dict) else None
    if owner is not None and isinstance(saved_by, dict) and not _same_owner(saved_by, owner):
        # Refused rather than restarted from epoch 0: restarting would silently overwrite a file
        # the user may have put there on purpose, and resuming from it would continue another
        # run's weights under this run's name.
        other = saved_by.get("run_id")
        which = f"an earlier run {other}" if str(other) == str(owner["run_id"]) else f"run {other}"
        raise UserError(
            f"the checkpoint at {path} belongs to another run ({which}), not run "
            f"{owner['run_id']}; start a new run with `pepr train` (or delete that file to "
            f"retrain run {owner['run_id']} from epoch 0)."
        )
    try:
        p.model.load_state_dict(ck["model"])
        p.optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"].cpu())
        if "cuda_rng" in ck and p.device.startswith("cuda"):
            torch.cuda.set_rng_state(ck["cuda_rng"].cpu(), torch.device(p.device))
        record = ck.get("epoch_record")
        return Restored(
            int(ck["epoch"]) + 1,
            dict(ck.get("state", {})),
            dict(record) if isinstance(record, dict) else None,
        )
    except Exception as exc:  # a damaged or foreign file is the user's to fix, not a crash
        raise UserError(
            f"checkpoint {path} cannot be resumed ({type(exc).__name__}); it is damaged or was "
            "saved for another model. Start a new run instead."
        ) from None


def _plain(value: Any) -> Any:
    """Python values only (numpy scalars become numbers): what `weights_only` loading accepts."""
    import json

    return json.loads(
        json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    )


def _same_owner(saved: dict[str, Any], owner: dict[str, Any]) -> bool:
    """Same run id and, where both are known, the same creation time (an id can be reused once
    its run was deleted)."""
    try:
        if int(saved.get("run_id")) != int(owner["run_id"]):
            return False
        a, b = saved.get("created_at"), owner.get("created_at")
        return a is None or b is None or float(a) == float(b)
    except (TypeError, ValueError):
        return False
