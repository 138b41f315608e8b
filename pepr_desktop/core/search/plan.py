"""What one run with the given settings trains on: images per split, batches per epoch, the data's
footprint, and the time a probed step cost adds up to over the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.search.probe import ProbeResult
from pepr_desktop.core.training.config import TrainConfig


def split_sizes(info: DatasetInfo) -> dict[str, int]:
    """Images per split: recorded at import, else counted from the file's label arrays."""
    if info.split_sizes:
        return {k: int(v) for k, v in info.split_sizes.items()}
    if info.path is not None and Path(info.path).is_file():
        import numpy as np

        with np.load(info.path) as z:
            return {
                s: len(z[f"{s}_labels"])
                for s in ("train", "val", "test")
                if f"{s}_labels" in z.files
            }
    raise UserError(
        f"the size of dataset '{info.name}' is unknown (not downloaded yet?); train or import it "
        "once, then ask again."
    )


def batches(n: int, batch_size: int) -> int:
    """Batches per epoch as the trainer draws them (a last batch of one image is dropped)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest > 1 else 0) if n else 0


@dataclass(frozen=True)
class RunPlan:
    device: str
    channels: int
    n_classes: int
    native: int  # the images' own side
    size: int  # the input side asked for (native unless --image-size)
    epochs: int
    batch_size: int
    eval_batch_size: int
    data_fraction: float
    n_train: int
    n_eval: int  # validation + test images, evaluated every epoch
    data_mb: float  # the splits as the trainer holds them (arrays and device tensors)

    @property
    def n_batches(self) -> int:
        return batches(self.n_train, self.batch_size)

    def time_s(self, pr: ProbeResult) -> float:
        """Training + per-epoch evaluation + the run's one-off cold start."""
        per_epoch = self.n_batches * pr.step_s + self.n_eval * pr.eval_s_per_image
        return self.epochs * per_epoch + pr.cold_s

    def settings(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "image_size": self.size,
            "data_fraction": self.data_fraction,
            "train_images": self.n_train,
            "batches_per_epoch": self.n_batches,
            "eval_images": self.n_eval,
            "device": self.device,
        }


def plan_for(info: DatasetInfo, cfg: TrainConfig, device: str) -> RunPlan:
    sizes = split_sizes(info)
    k, c, native = info.n_classes, info.channels, info.image_size
    n = sizes.get("train", 0)
    return RunPlan(
        device=device,
        channels=c,
        n_classes=k,
        native=native,
        size=cfg.image_size or native,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch_size,
        data_fraction=cfg.data_fraction,
        n_train=max(k, round(n * cfg.data_fraction)) if n else 0,
        n_eval=sizes.get("val", 0) + sizes.get("test", 0),
        # uint8 images, twice: the loaded arrays and the tensors built from them
        data_mb=sum(sizes.values()) * c * native * native / 2**20 * 2,
    )
