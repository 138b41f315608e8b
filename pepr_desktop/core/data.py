"""Datasets: MedMNIST by name and size, local .npz files and image folders, the bundled sample.

Every dataset ends up as one validated `.npz` in the MedMNIST layout (`train_images`,
`train_labels`, `val_*`, `test_*`, uint8 images), loaded whole into uint8 tensors. Training then
indexes those tensors in batches and normalises on the device: no per-image Python work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepr_desktop.core.errors import DataError, close_matches

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MEDMNIST_SIZES = (28, 64, 128, 224)
MAX_IMAGE_SIDE = 1024  # larger images would not fit a laptop's memory as a preloaded tensor
SAMPLE_NAME = "sample"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


@dataclass
class ArraySet:
    """The three splits of a dataset as numpy arrays: images (N, H, W[, C]) uint8, labels (N,)."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    class_names: list[str]
    task: str = "multi-class"

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        x = self.images["train"]
        return 1 if x.ndim == 3 else int(x.shape[3])

    @property
    def image_size(self) -> tuple[int, int]:
        x = self.images["train"]
        return int(x.shape[1]), int(x.shape[2])

    def sizes(self) -> dict[str, int]:
        return {s: len(self.labels[s]) for s in SPLITS}

    def class_counts(self) -> dict[str, list[int]]:
        return {s: np.bincount(self.labels[s], minlength=self.n_classes).tolist() for s in SPLITS}


@dataclass(frozen=True)
class DatasetInfo:
    """What the app knows about a dataset without loading it."""

    name: str
    source: str  # "medmnist", "imported" or "bundled"
    path: Path | None  # the canonical .npz (None for a MedMNIST set not yet downloaded)
    n_classes: int
    channels: int
    image_size: int
    task: str
    class_names: list[str] = field(default_factory=list)
    split_sizes: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["path"] = str(self.path) if self.path else None
        return d


# --------------------------------------------------------------------------- validation


def _label_vector(name: str, labels: np.ndarray, n_images: int) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(
            f"{name} has shape {labels.shape}; expected one integer label per image "
            "(multi-label data is not supported)."
        )
    if len(labels) != n_images:
        raise DataError(
            f"{name} has {len(labels)} labels for {n_images} images; each split needs one label "
            "per image."
        )
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels % 1 == 0):
            labels = labels.astype(np.int64)
        else:
            raise DataError(f"{name} has dtype {labels.dtype}; labels must be integers.")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{name} contains negative labels; labels must be 0..K-1.")
    return labels.astype(np.int64)


def _image_array(name: str, images: np.ndarray) -> np.ndarray:
    if images.dtype != np.uint8:
        raise DataError(
            f"{name} has dtype {images.dtype}; images must be uint8 (0-255) as in MedMNIST."
        )
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (3,)):
        raise DataError(
            f"{name} has shape {images.shape}; expected (N, H, W) grey or (N, H, W, 3) colour."
        )
    if images.shape[0] == 0:
        raise DataError(f"{name} holds 0 images; every split needs at least one image.")
    if max(images.shape[1], images.shape[2]) > MAX_IMAGE_SIDE:
        raise DataError(
            f"{name} images are {images.shape[1]}x{images.shape[2]} px; the limit is "
            f"{MAX_IMAGE_SIDE} px per side: resize them first."
        )
    return images


def validate_arrays(arrays: ArraySet) -> ArraySet:
    """Check that the splits agree with each other and with the class list."""
    shapes = {s: arrays.images[s].shape[1:] for s in SPLITS}
    if len(set(shapes.values())) != 1:
        raise DataError(
            f"image shapes differ between splits ({shapes}); all splits need the same size and "
            "channels."
        )
    k = arrays.n_classes
    for s in SPLITS:
        lab = arrays.labels[s]
        if lab.max() >= k:
            raise DataError(
                f"{s}_labels contains label {int(lab.max())} but there are only {k} classes "
                "(labels 0..K-1 as in the training split); fix the labels or give --classes."
            )
    present = np.unique(arrays.labels["train"])
    if len(present) < 2:
        raise DataError(
            "the training split holds only one class; a classifier needs at least two classes."
        )
    return arrays


def read_npz(path: str | os.PathLike[str], class_names: list[str] | None = None) -> ArraySet:
    """Read and validate a MedMNIST-layout .npz; every problem becomes a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; give the path of a .npz file or image folder.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            need = {f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels")}
            missing = sorted(need - keys)
            if missing:
                raise DataError(
                    f"{path.name} lacks {', '.join(missing)}; a MedMNIST-layout .npz needs "
                    "train/val/test _images and _labels."
                )
            images = {s: _image_array(f"{s}_images", npz[f"{s}_images"]) for s in SPLITS}
            labels = {
                s: _label_vector(f"{s}_labels", npz[f"{s}_labels"], len(images[s])) for s in SPLITS
            }
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"{path.name} is not a readable .npz file ({type(exc).__name__}: {exc}); "
            "check that it is complete and not truncated."
        ) from None
    # Without class names, the classes are those the training split uses: a label that only
    # appears in val or test is an error, not a silent extra class.
    k = int(labels["train"].max()) + 1
    names = class_names or [str(i) for i in range(k)]
    if len(names) < k:
        raise DataError(
            f"{path.name} has labels up to {k - 1} but only {len(names)} class names are known."
        )
    task = "binary-class" if len(names) == 2 else "multi-class"
    return validate_arrays(ArraySet(images, labels, list(names), task))


def content_hash(arrays: ArraySet) -> str:
    """SHA-256 over the arrays (not the file), so re-saving the same data gives the same hash."""
    h = hashlib.sha256()
    for s in SPLITS:
        for a in (arrays.images[s], arrays.labels[s]):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def write_npz(arrays: ArraySet, path: Path) -> None:
    """Write atomically (temp file then rename) so a crash never leaves half a dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            **{f"{s}_images": arrays.images[s] for s in SPLITS},
            **{f"{s}_labels": arrays.labels[s] for s in SPLITS},
        )
    os.replace(tmp, path)


# --------------------------------------------------------------------------- image folders


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Split indices into train/val/test per class, seeded, so every split keeps the class mix."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx)
        n_val = round(n * fractions[1])
        n_test = round(n * fractions[2])
        if n >= 3:  # keep at least one image of the class in each split when possible
            n_val, n_test = max(n_val, 1), max(n_test, 1)
        n_train = n - n_val - n_test
        out["train"].append(idx[:n_train])
        out["val"].append(idx[n_train : n_train + n_val])
        out["test"].append(idx[n_train + n_val :])
    return {s: np.sort(np.concatenate(v)) for s, v in out.items()}


def read_image_folder(
    folder: str | os.PathLike[str],
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    image_size: int | None = None,
) -> ArraySet:
    """One subfolder per class -> a stratified, seeded train/val/test split of uint8 arrays.

    Images are converted to the mode of the majority (grey or RGB) and, when their sizes differ or
    `image_size` is given, resized to a square of that side (default: the most common height).
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; give a folder with one subfolder per class.")
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(
            f"{folder} has {len(class_dirs)} class subfolder(s); it needs one subfolder per class, "
            "at least two."
        )
    files: list[tuple[Path, int]] = []
    for label, d in enumerate(class_dirs):
        imgs = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not imgs:
            raise DataError(f"class folder {d.name} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        files.extend((p, label) for p in imgs)

    decoded: list[Image.Image] = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im.load()
                decoded.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(
                f"{p} is not a readable image ({exc}); remove it or replace it and import again."
            ) from None
    modes = [im.mode for im in decoded]
    grey = sum(m in ("L", "I", "I;16", "1", "F") for m in modes) * 2 >= len(modes)
    mode = "L" if grey else "RGB"
    heights = [im.size[1] for im in decoded]
    side = image_size or max(set(heights), key=heights.count)
    if side > MAX_IMAGE_SIDE:
        raise DataError(f"images are {side} px high; the limit is {MAX_IMAGE_SIDE}: resize them.")
    arrays = []
    for im in decoded:
        im = im.convert(mode)
        if im.size != (side, side):
            im = im.resize((side, side), Image.BILINEAR)
        arrays.append(np.asarray(im, dtype=np.uint8))
    x = np.stack(arrays)
    y = np.array([label for _, label in files], dtype=np.int64)
    split = stratified_split(y, fractions, seed)
    for s in SPLITS:
        if len(split[s]) == 0:
            raise DataError(
                f"the {s} split would be empty with {len(y)} images; add images to the folder."
            )
    return validate_arrays(
        ArraySet(
            {s: x[split[s]] for s in SPLITS},
            {s: y[split[s]] for s in SPLITS},
            [d.name for d in class_dirs],
            "binary-class" if len(class_dirs) == 2 else "multi-class",
        )
    )


# --------------------------------------------------------------------------- MedMNIST


def medmnist_flags() -> list[str]:
    """Single-label 2D MedMNIST datasets (3D and multi-label sets are out of scope)."""
    from medmnist import INFO

    return sorted(
        f for f, info in INFO.items() if not f.endswith("3d") and "multi-label" not in info["task"]
    )


def parse_medmnist_name(name: str) -> tuple[str, int] | None:
    """'pneumoniamnist' -> ('pneumoniamnist', 28); 'dermamnist_64' -> ('dermamnist', 64)."""
    base, _, size = name.lower().partition("_")
    if not base.endswith("mnist"):
        return None
    if size and not size.isdigit():
        return None
    px = int(size) if size else 28
    return base, px


def medmnist_info(flag: str, size: int = 28) -> dict[str, Any]:
    from medmnist import INFO

    if flag not in INFO:
        raise DataError(
            f"unknown MedMNIST dataset '{flag}'.{close_matches(flag, INFO)} "
            "Run `pepr datasets` for the list."
        )
    if flag not in medmnist_flags():
        raise DataError(
            f"{flag} is a 3D or multi-label dataset, which PePR Desktop does not train yet."
        )
    if size not in MEDMNIST_SIZES:
        raise DataError(
            f"MedMNIST has no size {size}; choose one of {', '.join(map(str, MEDMNIST_SIZES))}."
        )
    return INFO[flag]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_medmnist(flag: str, size: int, cache_dir: Path) -> Path:
    """The cached .npz of a MedMNIST set, downloaded on first use and checked against its MD5."""
    info = medmnist_info(flag, size)
    suffix = "" if size == 28 else f"_{size}"
    filename = f"{flag}{suffix}.npz"
    url, md5 = info[f"url{suffix}"], info[f"MD5{suffix}"]
    path = cache_dir / filename
    if path.is_file():
        if _md5(path) == md5:
            return path
        raise DataError(
            f"{path} does not match MedMNIST's MD5 (damaged or a different copy); delete it to "
            f"download again, or register your copy with `pepr import-data {path} --name NAME`."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        from torchvision.datasets.utils import download_url

        download_url(url, root=str(cache_dir), filename=filename, md5=md5)
    except Exception as exc:  # any network or integrity failure means the same to the user
        path.unlink(missing_ok=True)
        raise DataError(
            f"could not download {filename} from {url} ({type(exc).__name__}); if this machine "
            f"is offline, fetch the file elsewhere and run `pepr import-data FILE --name NAME`."
        ) from None
    if not path.is_file() or _md5(path) != md5:
        path.unlink(missing_ok=True)
        raise DataError(
            f"downloaded {filename} does not match its MD5; try again later or use "
            "`pepr import-data FILE --name NAME` with a copy you trust."
        )
    return path


def medmnist_dataset_info(flag: str, size: int, cache_dir: Path) -> DatasetInfo:
    info = medmnist_info(flag, size)
    labels = info["label"]
    names = [labels[str(i)] for i in range(len(labels))]
    suffix = "" if size == 28 else f"_{size}"
    path = cache_dir / f"{flag}{suffix}.npz"
    return DatasetInfo(
        name=f"{flag}{suffix}",
        source="medmnist",
        path=path if path.is_file() else None,
        n_classes=len(names),
        channels=int(info["n_channels"]),
        image_size=size,
        task=info["task"],
        class_names=names,
        split_sizes={s: int(info["n_samples"][s]) for s in SPLITS},
    )


def bundled_sample_path() -> Path:
    from pepr_desktop.resources_path import resource

    return resource("sample", "pneumoniamnist_sample_28.npz")


def bundled_sample_info() -> DatasetInfo:
    return DatasetInfo(
        name=SAMPLE_NAME,
        source="bundled",
        path=bundled_sample_path(),
        n_classes=2,
        channels=1,
        image_size=28,
        task="binary-class",
        class_names=["normal", "pneumonia"],
    )


def info_for_arrays(name: str, source: str, path: Path, arrays: ArraySet) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        source=source,
        path=path,
        n_classes=arrays.n_classes,
        channels=arrays.channels,
        image_size=arrays.image_size[0],
        task=arrays.task,
        class_names=list(arrays.class_names),
        split_sizes=arrays.sizes(),
        content_hash=content_hash(arrays),
    )


def load_arrays(info: DatasetInfo, cache_dir: Path | None = None) -> ArraySet:
    """Read a dataset's arrays, downloading a MedMNIST set into `cache_dir` when needed."""
    path = info.path
    if info.source == "medmnist" and path is None:
        flag, size = parse_medmnist_name(info.name) or (info.name, info.image_size)
        if cache_dir is None:
            raise DataError(f"{info.name} is not downloaded and no cache folder was given.")
        path = fetch_medmnist(flag, size, cache_dir)
    if path is None or not path.is_file():
        raise DataError(
            f"the file of dataset '{info.name}' is missing ({path}); import it again with "
            "`pepr import-data`."
        )
    return read_npz(path, info.class_names or None)


# --------------------------------------------------------------------------- subsets


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded per-class subset of about `fraction` of the data (>= 1 per class)."""
    if not 0 < fraction <= 1:
        raise DataError(f"data fraction {fraction} is outside (0, 1]; use e.g. 0.1 for 10%.")
    if fraction == 1:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n = max(1, round(len(idx) * fraction))
        keep.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(keep))


def class_counts(labels: Iterable[int], n_classes: int) -> list[int]:
    return np.bincount(np.asarray(list(labels), dtype=np.int64), minlength=n_classes).tolist()
