"""Use a trained run's model: load it safely, convert images as training did, classify them.

Training saw uint8 arrays in the dataset's colour mode (grey or RGB) at the dataset's size,
normalised and optionally resized on the device by `training.tensors.Normalizer`. A user's image
goes the same way: PIL converts its mode and resizes it to the dataset's size (bilinear, as an
image-folder import does), then the very same Normalizer runs. The checkpoint is read with
`torch.load(weights_only=True)`, so a tampered file cannot execute code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepr_desktop.core.data.sources import IMAGE_SUFFIXES
from pepr_desktop.core.errors import UserError

log = logging.getLogger(__name__)

MAX_PIXELS = 8192 * 8192  # bigger images are refused before decoding (decompression bombs)


@dataclass
class ModelSpec:
    """What it takes to rebuild and feed a run's model; also the export sidecar's core."""

    run_id: int
    model: str  # timm name
    dataset: str
    class_names: list[str]
    channels: int
    data_size: int  # side of the dataset's images (what PIL resizes to)
    input_size: int  # side the network sees (training's --image-size, else data_size)
    mean: list[float]
    std: list[float]
    checkpoint: Path
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "timm_model": self.model,
            "dataset": self.dataset,
            "class_names": self.class_names,
            "num_classes": len(self.class_names),
            "channels": self.channels,
            "colour_mode": "L" if self.channels == 1 else "RGB",
            "input_size": [self.channels, self.input_size, self.input_size],
            "data_size": self.data_size,
            "normalisation": {
                "scale": "pixel / 255",
                "mean": self.mean,
                "std": self.std,
                "formula": "(pixel / 255 - mean) / std, per channel",
            },
            "figures": self.figures,
        }


@dataclass
class RunModel:
    """A run's rebuilt model on a device, ready to classify."""

    spec: ModelSpec
    model: Any
    norm: Any
    device: str


@dataclass
class Prediction:
    path: str
    label: str
    index: int
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


RUN_FIGURES = (
    "status", "epochs_done", "test_acc", "test_auc", "test_bacc", "val_acc", "train_time_s",
    "peak_mem_mb", "mem_method", "energy_j", "energy_method", "co2_g", "params", "device_name",
)  # fmt: skip


def model_spec(store: Any, run_id: int) -> ModelSpec:
    """The spec of a stored run, from its config and its dataset's record (no weights read)."""
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.training.config import TrainConfig

    run = store.get_run(run_id)
    ck = Path(run.get("checkpoint") or "")
    if not run.get("checkpoint") or not ck.is_file():
        raise UserError(
            f"run {run_id} has no saved model (status {run['status']}, {run.get('epochs_done')} "
            "epochs); only runs that completed an epoch with checkpoints on can be used."
        )
    try:
        cfg = TrainConfig.from_dict(run["config"])
    except (TypeError, AttributeError):
        raise UserError(
            f"run {run_id} has no usable training settings stored; it cannot be rebuilt."
        ) from None
    info = datasets.resolve(cfg.dataset, store)
    data_size = int(info.image_size)
    mean, std = [0.5] * info.channels, [0.5] * info.channels  # as core/training/train.py `prepare`
    if cfg.pretrained or cfg.weights:
        import timm

        pc = timm.models.get_pretrained_cfg(cfg.model)
        pmean = getattr(pc, "mean", None) if pc else None
        if pmean and len(pmean) == info.channels:
            mean, std = list(pc.mean), list(pc.std)
    figures = {k: run.get(k) for k in RUN_FIGURES}
    return ModelSpec(
        run_id=run_id,
        model=cfg.model,
        dataset=cfg.dataset,
        class_names=list(info.class_names) or [str(i) for i in range(info.n_classes)],
        channels=int(info.channels),
        data_size=data_size,
        input_size=int(cfg.image_size or data_size),
        mean=[float(m) for m in mean],
        std=[float(s) for s in std],
        checkpoint=ck,
        figures=figures,
    )


def load_run_model(store: Any, run_id: int, device: str = "cpu") -> RunModel:
    """Rebuild the run's timm model and load its checkpoint (weights_only: never runs code)."""
    from pepr_desktop.core.models.build import build_model, read_state_dict
    from pepr_desktop.core.training.tensors import Normalizer

    spec = model_spec(store, run_id)
    model = build_model(
        spec.model,
        in_chans=spec.channels,
        num_classes=len(spec.class_names),
        image_size=spec.input_size,
    )
    state = read_state_dict(spec.checkpoint)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(
            f"checkpoint of run {run_id} does not fit {spec.model} "
            f"({str(exc).splitlines()[0][:120]}); the file was replaced or damaged."
        ) from None
    model.to(device).eval()
    resize = spec.input_size if spec.input_size != spec.data_size else None
    norm = Normalizer(tuple(spec.mean), tuple(spec.std), resize, device)
    return RunModel(spec, model, norm, device)


def collect_images(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted, recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        p = p.expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(
                    f"folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})."
                )
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"{p}: no such file or folder; give image files or a folder of images.")
    if not out:
        raise UserError("no images given; pass image files or a folder.")
    return out


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _to_8bit(im: Any) -> Any:
    """A 16/32-bit or float grey image scaled to 8 bits by the import's rule (core/data/sources.py
    `_high_depth_to_u8`), here over the one image: its bit depth, or its range when signed."""
    from PIL import Image

    from pepr_desktop.core.data.sources import _high_depth_to_u8

    arr = np.asarray(im).astype(np.float64)
    unsigned = im.mode.startswith("I;16") or (im.mode == "I" and float(arr.min()) >= 0)
    values = {0: arr}
    _high_depth_to_u8(values, float(arr.min()), float(arr.max()), unsigned)
    return Image.fromarray(values[0].astype(np.uint8))  # (H, W) uint8: mode L


def read_image(path: str | os.PathLike[str], channels: int, size: int) -> np.ndarray:
    """An image file as uint8 (H, W) grey or (H, W, 3) RGB at `size` px, as training data were."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise UserError(
                    f"{path.name} is {im.width}x{im.height} px, too large to classify; resize it."
                )
            im.load()
            if im.mode in HIGH_DEPTH_MODES:  # convert("L") would clip at 255: all white
                im = _to_8bit(im)
            im = im.convert("L" if channels == 1 else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except UserError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UserError(
            f"{path} is not a readable image ({reason}); give a PNG, JPEG, BMP, TIFF or WebP file."
        ) from None


def to_batch(images: Sequence[np.ndarray], device: str) -> Any:
    """uint8 images -> (N, C, H, W) uint8 tensor, the layout `Normalizer` expects."""

    from pepr_desktop.core.training.tensors import to_tensors

    x = np.stack(images)
    return to_tensors(x, np.zeros(len(x), dtype=np.int64), device).x


def predict_arrays(rm: RunModel, images: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities (N, K) for uint8 images already at the dataset's size and mode."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            xb = to_batch(images[i : i + batch_size], rm.device)
            out.append(torch.softmax(rm.model(rm.norm(xb)).float(), 1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(rm.spec.class_names)))


def predict_files(
    rm: RunModel, paths: Iterable[str | os.PathLike[str]], batch_size: int = 64
) -> list[Prediction]:
    """Classify image files (folders expanded); an unreadable file is a one-line UserError."""
    files = collect_images(paths)
    spec = rm.spec
    images = [read_image(f, spec.channels, spec.data_size) for f in files]
    probs = predict_arrays(rm, images, batch_size)
    out = []
    for f, p in zip(files, probs):
        k = int(p.argmax())
        out.append(
            Prediction(
                path=str(f),
                label=spec.class_names[k],
                index=k,
                confidence=float(p[k]),
                probabilities={c: float(v) for c, v in zip(spec.class_names, p)},
            )
        )
    return out
