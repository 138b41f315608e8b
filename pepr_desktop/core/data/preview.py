"""Dataset preview: class counts per split, warnings, image size and a few samples per class.

Every dataset lives as one canonical MedMNIST-layout .npz (core/data/sources.py), so a preview never
decodes image files. It reads the label arrays (small) and the image array's header for the shape,
then seeks to just the sampled rows of an image array, so it stays fast on a 224 px MedMNIST set
whose images would take gigabytes to load whole.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pepr_desktop.core.data.sources import SPLITS, DatasetInfo, _label_vector
from pepr_desktop.core.errors import DataError

log = logging.getLogger(__name__)

IMBALANCE_RATIO = 3.0  # largest / smallest class in the training split above this: warn
TINY_CLASS = 20  # fewer images of a class than this in a split: warn


@dataclass
class DatasetPreview:
    """What the preview grid and `pepr datasets --show` display."""

    name: str
    path: Path
    class_names: list[str]
    counts: dict[str, list[int]]  # split -> images per class
    image_size: tuple[int, int]  # (height, width)
    channels: int
    warnings: list[str] = field(default_factory=list)
    samples: dict[int, list[np.ndarray]] = field(default_factory=dict)  # class -> images
    sample_index: dict[int, list[int]] = field(default_factory=dict)  # class -> row in split
    sample_split: str = "train"

    @property
    def sizes(self) -> dict[str, int]:
        return {s: int(sum(c)) for s, c in self.counts.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the pixel data."""
        return {
            "name": self.name,
            "path": str(self.path),
            "class_names": self.class_names,
            "counts": self.counts,
            "sizes": self.sizes,
            "image_size": list(self.image_size),
            "channels": self.channels,
            "warnings": self.warnings,
            "sample_split": self.sample_split,
            "sample_index": {str(k): v for k, v in self.sample_index.items()},
        }


def _array_header(zf: zipfile.ZipFile, key: str) -> tuple[Any, tuple[int, ...], int]:
    """(open member, shape, dtype itemsize) of an array in an .npz, positioned after its header."""
    fh = zf.open(f"{key}.npy")
    try:
        shape, itemsize = _read_header(fh, key)
    except BaseException:
        fh.close()
        raise
    return fh, shape, itemsize


def _stored_member(path: Path, zf: zipfile.ZipFile, key: str) -> Any:
    """A raw file handle at the start of an uncompressed member's data (np.savez writes these),
    so seeks are real seeks; None for a compressed member."""
    info = zf.getinfo(f"{key}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    fh = open(path, "rb")  # noqa: SIM115  (closed by the caller)
    fh.seek(info.header_offset)
    local = fh.read(30)  # local file header; name and extra lengths at bytes 26-29
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    return fh


def _read_header(fh: Any, key: str) -> tuple[tuple[int, ...], int]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if fortran or dtype != np.uint8:
        raise DataError(f"{key} is not a C-ordered uint8 array; import the dataset again.")
    return tuple(shape), dtype.itemsize


def read_rows(path: Path, key: str, rows: list[int]) -> list[np.ndarray]:
    """Images `rows` of array `key` in an .npz, read by seeking instead of loading the array."""
    with zipfile.ZipFile(path) as zf:
        raw = _stored_member(path, zf, key)
        if raw is not None:
            with raw:
                shape, itemsize = _read_header(raw, key)
                return _rows_from(raw, raw.tell(), shape, itemsize, rows)
        fh, shape, itemsize = _array_header(zf, key)
        with fh:  # compressed: forward seeks decompress through, in bounded memory
            return _rows_from(fh, fh.tell(), shape, itemsize, rows)


def _rows_from(
    fh: Any, start: int, shape: tuple[int, ...], itemsize: int, rows: list[int]
) -> list[np.ndarray]:
    row_shape = shape[1:]
    row_bytes = int(np.prod(row_shape)) * itemsize
    out: dict[int, np.ndarray] = {}
    for r in sorted(set(rows)):  # in file order: only forward seeks
        if not 0 <= r < shape[0]:
            raise DataError(f"image {r} is out of range (the array holds {shape[0]} images).")
        fh.seek(start + r * row_bytes)
        buf = fh.read(row_bytes)
        out[r] = np.frombuffer(buf, dtype=np.uint8).reshape(row_shape).copy()
    return [out[r] for r in rows]


def class_warnings(counts: dict[str, list[int]], class_names: list[str]) -> list[str]:
    """Strong imbalance in the training split, tiny or missing classes in any split."""
    out: list[str] = []
    train = counts.get("train", [])
    if train and min(train) > 0:
        ratio = max(train) / min(train)
        if ratio >= IMBALANCE_RATIO:
            big, small = int(np.argmax(train)), int(np.argmin(train))
            out.append(
                f"imbalanced: the training split has {ratio:.1f}x more '{class_names[big]}' "
                f"({train[big]}) than '{class_names[small]}' ({train[small]}); consider "
                "--class-weights auto and watch balanced accuracy."
            )
    for split, cs in counts.items():
        for c, n in enumerate(cs):
            if n == 0:
                out.append(f"{split}: class '{class_names[c]}' has no images.")
            elif n < TINY_CLASS:
                out.append(
                    f"{split}: class '{class_names[c]}' has only {n} images; its figures will "
                    "be noisy."
                )
    return out


def preview_npz(
    path: Path,
    class_names: list[str] | None = None,
    *,
    name: str = "",
    per_class: int = 8,
    split: str = "train",
    seed: int = 0,
) -> DatasetPreview:
    """Counts, warnings and `per_class` seeded sample images per class from one .npz."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; import the dataset again with `pepr import-data`.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            labels = {
                s: _label_vector(f"{s}_labels", npz[f"{s}_labels"], len(npz[f"{s}_labels"]))
                for s in SPLITS
            }
        with zipfile.ZipFile(path) as zf:
            fh, shape, _ = _array_header(zf, f"{split}_images")
            fh.close()
    except DataError:
        raise
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"{path.name} cannot be previewed ({type(exc).__name__}: {exc}); check that it is a "
            "complete MedMNIST-layout .npz."
        ) from None
    k = max(int(max(lab.max() for lab in labels.values() if len(lab))) + 1, len(class_names or []))
    names = list(class_names or [str(i) for i in range(k)])
    counts = {s: np.bincount(labels[s], minlength=k).tolist() for s in SPLITS}
    channels = 1 if len(shape) == 3 else int(shape[3])
    rng = np.random.default_rng(seed)
    sample_index: dict[int, list[int]] = {}
    for c in range(k):
        idx = np.flatnonzero(labels[split] == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else idx
        sample_index[c] = sorted(int(i) for i in pick)
    flat = [i for c in range(k) for i in sample_index[c]]
    images = read_rows(path, f"{split}_images", flat) if flat else []
    samples: dict[int, list[np.ndarray]] = {}
    pos = 0
    for c in range(k):
        samples[c] = images[pos : pos + len(sample_index[c])]
        pos += len(sample_index[c])
    return DatasetPreview(
        name=name or path.stem,
        path=path,
        class_names=names,
        counts=counts,
        image_size=(int(shape[1]), int(shape[2])),
        channels=channels,
        warnings=class_warnings(counts, names),
        samples=samples,
        sample_index=sample_index,
        sample_split=split,
    )


def preview_dataset(
    info: DatasetInfo,
    *,
    per_class: int = 8,
    split: str = "train",
    seed: int = 0,
    download: bool = False,
) -> DatasetPreview:
    """Preview a registered dataset; a MedMNIST set not yet downloaded is fetched only if asked."""
    path = info.path
    if path is None:
        if not download:
            raise DataError(
                f"{info.name} is not downloaded yet; it downloads on its first training run "
                f"(or preview it with `pepr datasets --show {info.name} --download`)."
            )
        from pepr_desktop.core.data import registry as datasets

        datasets.load(info)  # downloads and validates
        from pepr_desktop.core.data.sources import parse_medmnist_name
        from pepr_desktop.core.paths import cache_dir

        flag, size = parse_medmnist_name(info.name) or (info.name, info.image_size)
        suffix = "" if size == 28 else f"_{size}"
        path = cache_dir() / f"{flag}{suffix}.npz"
    return preview_npz(
        path,
        info.class_names or None,
        name=info.name,
        per_class=per_class,
        split=split,
        seed=seed,
    )
