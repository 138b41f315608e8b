"""Datasets: MedMNIST by name and size, local .npz files and image folders, the bundled sample.

Every dataset ends up as one validated `.npz` in the MedMNIST layout (`train_images`,
`train_labels`, `val_*`, `test_*`, uint8 images), loaded whole into uint8 tensors. Training then
indexes those tensors in batches and normalises on the device: no per-image Python work.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import math
import os
import re
import secrets
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
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
NPZ_KEYS = tuple(f"{s}_{kind}" for s in SPLITS for kind in ("images", "labels"))
MAX_LABEL = 2**31 - 1  # a label above this is a stray value, never a class index
# PIL modes read as grey, and those with more than 8 bits per pixel (scaled, see _high_depth_to_u8)
GREY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
HIGH_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def printable(path: str | os.PathLike[str]) -> str:
    """A path (or name) as one line of text that can always be printed and stored: bytes that are
    not UTF-8 (a file name from another system) become \\xNN, and control characters (a newline
    in a file name) their escapes, instead of a UnicodeEncodeError or a broken line."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _size_text(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


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
    if labels.dtype.kind not in "iu" and not (
        labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels % 1 == 0)
    ):
        raise DataError(f"{name} has dtype {labels.dtype}; labels must be integers.")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{name} contains negative labels; labels must be 0..K-1.")
    # Checked before the cast: a uint64 or float label beyond int64 would wrap to a negative one.
    if len(labels) and labels.max() > MAX_LABEL:
        raise DataError(
            f"{name} holds label {labels.max():.0f}, far beyond any number of classes; labels "
            "must be 0..K-1, one integer per class."
        )
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
    _check_sides(name, images.shape[1], images.shape[2])
    return images


def _check_sides(name: str, h: int, w: int) -> None:
    if min(h, w) < 1:
        raise DataError(f"{name} images are {h}x{w} px; images need at least 1 px per side.")
    if max(h, w) > MAX_IMAGE_SIDE:
        raise DataError(
            f"{name} images are {h}x{w} px; the limit is {MAX_IMAGE_SIDE} px per side: resize "
            "them first."
        )


def check_class_names(names: list[str]) -> None:
    """Class names given by the user (--classes): each one text, non-empty and different."""
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise DataError(
                "a class name is empty; give one name per class, e.g. normal,pneumonia."
            )
        try:
            n.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(
                f"class name '{printable(n)}' is not valid UTF-8 text; give plain text names."
            ) from None
    repeated = sorted(n for n, c in Counter(names).items() if c > 1)
    if repeated:
        raise DataError(
            f"class names repeat ({', '.join(map(repr, repeated))}); give each class its own name, "
            "in label order."
        )


def _values_text(values: np.ndarray, most: int = 8) -> str:
    v = [str(int(x)) for x in values]
    if len(v) <= most:
        return ", ".join(v)
    return f"{', '.join(v[:5])}, ..., {', '.join(v[-2:])} ({len(v)} different values)"


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


def _read_npy_header(fp: Any) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    return tuple(int(d) for d in shape), dtype


def _check_npz_headers(path: Path) -> None:
    """Look at the zip directory and at each array's .npy header before loading any array.

    A header states a shape and dtype; numpy would allocate that much before reading a byte, so
    a damaged or hostile header (shape (10**12, 28, 28)) is refused here: the bytes the member
    holds must cover the shape, the images must be within the size limit, and all arrays together
    must fit in the free memory. Object arrays are refused without being unpickled.
    """
    shown = printable(path.name)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        # the member np.load will read for each key: `key` itself, else `key.npy`
        members: dict[str, str] = {}
        for k in NPZ_KEYS:
            found = [m for m in (k, f"{k}.npy") if m in names]
            if found:
                members[k] = found[0]
        missing = [k for k in NPZ_KEYS if k not in members]
        if missing:
            raise DataError(
                f"{shown} lacks {', '.join(sorted(missing))}; a MedMNIST-layout .npz needs "
                "train/val/test _images and _labels."
            )
        total = 0
        for key in NPZ_KEYS:
            zi = zf.getinfo(members[key])
            with zf.open(zi) as fp:
                shape, dtype = _read_npy_header(fp)
                stored = zi.file_size - fp.tell()
            if dtype.hasobject:
                raise DataError(
                    f"{shown} is not a readable .npz file: {key} holds Python objects, which are "
                    f"never loaded (loading them could run code); save {key} as a plain array."
                )
            need = math.prod(shape) * dtype.itemsize
            if need > stored:
                raise DataError(
                    f"{shown} is not a readable .npz file: {key} claims shape {shape} "
                    f"({_size_text(need)}) but holds {_size_text(max(stored, 0))}; the file is "
                    "damaged or was not written by numpy."
                )
            if key.endswith("_images") and len(shape) in (3, 4) and shape[0]:
                _check_sides(key, shape[1], shape[2])
            total += need
    free = _available_memory()
    if total > free:
        raise DataError(
            f"{shown} holds {_size_text(total)} of arrays but only {_size_text(free)} of memory is "
            "free; close other programs, or import a smaller set (fewer or smaller images)."
        )


def _not_readable(shown: str, exc: BaseException) -> DataError:
    reason = (str(exc).splitlines() or [""])[0][:160]
    if "pickle" in reason.lower():  # numpy's advice to load it unsafely is not for our users
        reason = "not an archive of plain arrays"
    return DataError(
        f"{shown} is not a readable .npz file ({type(exc).__name__}: {reason}); check that it is "
        "complete and not truncated."
    )


def read_npz(path: str | os.PathLike[str], class_names: list[str] | None = None) -> ArraySet:
    """Read and validate a MedMNIST-layout .npz; every problem becomes a one-line DataError.

    Without `class_names` the classes are the labels of the training split, which must be exactly
    0..K-1. A stray value (one 255 among 0/1 labels) is refused, not remapped: remapping would
    silently give labels new meanings, and 255 would otherwise become 254 empty classes.
    """
    path = Path(path)
    shown = printable(path)
    if not path.exists():
        raise DataError(f"{shown}: no such file; give the path of a .npz file or image folder.")
    if not path.is_file():
        raise DataError(
            f"{shown} is not a regular file (a folder, pipe or device); give a .npz file or an "
            "image folder."
        )
    try:
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as npz:
            images = {s: _image_array(f"{s}_images", npz[f"{s}_images"]) for s in SPLITS}
            labels = {
                s: _label_vector(f"{s}_labels", npz[f"{s}_labels"], len(images[s])) for s in SPLITS
            }
    except DataError:
        raise
    except PermissionError as exc:
        raise DataError(
            f"{shown} cannot be read ({exc.strerror}); check its permissions."
        ) from None
    except (
        zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError, RuntimeError,
        NotImplementedError, MemoryError,
    ) as exc:  # fmt: skip
        raise _not_readable(printable(path.name), exc) from None
    present = np.unique(labels["train"])
    if class_names is None:
        if int(present[-1]) != len(present) - 1:
            raise DataError(
                f"train_labels holds the label values {_values_text(present)}; labels must be "
                "0..K-1 with every class in the training split. Other values are refused, not "
                "remapped (no label silently changes meaning): fix the labels, or name every "
                "label with --classes."
            )
        names = [str(i) for i in range(len(present))]
    else:
        names = list(class_names)
        if int(present[-1]) >= len(names):
            raise DataError(
                f"{printable(path.name)} has labels up to {int(present[-1])} but only {len(names)} "
                "class names are known; labels must be 0..K-1, one name per label."
            )
    task = "binary-class" if len(names) == 2 else "multi-class"
    return validate_arrays(ArraySet(images, labels, names, task))


def content_hash(arrays: ArraySet) -> str:
    """SHA-256 over the arrays (not the file), so re-saving the same data gives the same hash."""
    h = hashlib.sha256()
    for s in SPLITS:
        for a in (arrays.images[s], arrays.labels[s]):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def write_error(exc: OSError, folder: Path) -> DataError:
    """A failed write of a dataset file as one line: the disk is full, or what else it was."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DataError(
            f"could not write the dataset into {printable(folder)}: the disk is full; free some "
            "space and import again (nothing was imported)."
        )
    return DataError(
        f"could not write the dataset into {printable(folder)} ({exc.strerror or exc}); check "
        "that the folder is writable and the disk has space."
    )


_PART = re.compile(r"^\.import-(\d+)-[0-9a-f]+\.npz\.part$")


def remove_stale_parts(folder: Path) -> list[Path]:
    """Remove the temporary files of imports whose process is gone (a SIGKILL or power cut while
    writing leaves one, as large as the dataset); files of running imports are left alone. The
    writer's pid is in the name; a pid reused since is told apart by its start time."""
    import psutil

    removed = []
    for f in folder.glob(".import-*.npz.part"):
        m = _PART.match(f.name)
        if m is None:
            continue  # not ours, or from before names carried the pid: left as it is
        with contextlib.suppress(OSError, psutil.Error):
            pid = int(m.group(1))
            alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
            if alive and psutil.Process(pid).create_time() <= f.stat().st_mtime + 1:
                continue  # its writer is still at work
            f.unlink()
            removed.append(f)
    return removed


def write_npz_temp(arrays: ArraySet, folder: Path) -> Path:
    """Write the arrays to a new, uniquely named hidden temporary file in `folder`; return it.

    Unique (a random name created with O_EXCL, as mkstemp does, but with the user's umask rather
    than mode 0600), so two imports at once never write one file. On any failure the partial
    file is removed, and an OSError (disk full, read-only folder) becomes a one-line DataError.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(folder)
        for _ in range(100):
            tmp = folder / f".import-{os.getpid()}-{secrets.token_hex(8)}.npz.part"
            try:
                fd = os.open(tmp, flags, 0o666)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(folder))
    except OSError as exc:
        raise write_error(exc, folder) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                **{f"{s}_images": arrays.images[s] for s in SPLITS},
                **{f"{s}_labels": arrays.labels[s] for s in SPLITS},
            )
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(exc, folder) from None
        raise
    return tmp


def write_npz(arrays: ArraySet, path: Path) -> None:
    """Write atomically (unique temp file, then rename) so a crash never leaves half a dataset."""
    tmp = write_npz_temp(arrays, path.parent)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise write_error(exc, path.parent) from None


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


def _class_images(d: Path) -> list[Path]:
    """The image files of one class folder, searched recursively, sorted.

    Regular files only: a FIFO, socket or device named `x.png` would block `open()` forever or
    never end, so it is skipped (with a log line), as are hidden files and folders (`.DS_Store`,
    macOS `._x.png` companions).
    """
    out = []
    for p in d.rglob("*"):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if any(part.startswith(".") for part in p.relative_to(d).parts):
            continue
        if not p.is_file():  # (follows symlinks: a link to a regular image is kept)
            log.info("skipping %s: not a regular file", printable(p))
            continue
        out.append(p)
    return sorted(out)


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[Any]:
    """PIL's Image.open, with its DecompressionBombWarning (an image over MAX_IMAGE_PIXELS,
    decoded anyway by default) made an error like DecompressionBombError (twice that)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            yield im


def _image_error(path: Path, exc: BaseException) -> DataError:
    from PIL import Image

    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        reason = str(exc).split(",")[0]
        return DataError(
            f"{printable(path)} is too large to decode safely ({reason}): an image bomb, or an "
            f"image far above the {MAX_IMAGE_SIDE} px per side that training uses; remove it or "
            "resize it."
        )
    reason = (str(exc).splitlines() or [""])[0][:120] or type(exc).__name__
    return DataError(
        f"{printable(path)} is not a readable image ({reason}); remove it or replace it and import "
        "again."
    )


def _high_depth_to_u8(values: dict[int, np.ndarray], lo: float, hi: float, unsigned: bool) -> None:
    """Map the pixels of high-bit-depth grey images (16-bit `I;16`, 32-bit `I`, float `F`) onto
    0..255 in place, with one mapping for the whole dataset.

    Unsigned integer data (every 16-bit PNG or TIFF) is shifted right by its significant bits
    minus 8, the significant bits being those of the largest value in the dataset (at least 8):
    full-range 16-bit data becomes `v >> 8`, and 12-bit scans stored in 16-bit files (0..4095,
    common in medical imaging) become `v >> 4`, keeping 256 grey levels rather than 16. Zero stays
    black, and the same shift applies to every image, so differences in brightness between images
    and classes survive (stretching each image to its own range would erase them); and a shift
    depends only on the bit depth, not on which images the folder happens to hold. Signed or float
    data (CT numbers, float TIFFs) has no bit depth to speak of: its min..max over the dataset is
    mapped linearly onto 0..255. 8-bit images are never rescaled. (PIL's own `convert("L")` clips
    at 255, which turned every 16-bit image white.)
    """
    if unsigned:
        bits = max(8, int(hi).bit_length())
        scale, offset = 1.0 / 2 ** (bits - 8), 0.0
    else:
        scale, offset = (255.0 / (hi - lo) if hi > lo else 0.0), lo
    for i, v in values.items():
        values[i] = np.clip(np.floor((v - offset) * scale + (0.0 if unsigned else 0.5)), 0, 255)


def read_image_folder(
    folder: str | os.PathLike[str],
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    image_size: int | None = None,
) -> ArraySet:
    """One subfolder per class -> a stratified, seeded train/val/test split of uint8 arrays.

    Images are converted to the mode of the majority (grey or RGB) and, when their sizes differ or
    `image_size` is given, resized to a square of that side (default: the most common height).
    High-bit-depth images are scaled to 8 bits as `_high_depth_to_u8` describes. Headers are read
    first (sizes, modes, image bombs refused before decoding), then each image is decoded straight
    into the final array, so memory holds the dataset once, at its final size.
    """
    class_dirs = _class_dirs(Path(folder))
    files = _class_files(class_dirs)
    grey, side, shape = _folder_layout(files, image_size)
    x = np.empty(shape, dtype=np.uint8)
    _decode_into(x, files, grey, side)
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


def _class_dirs(folder: Path) -> list[Path]:
    """The class subfolders of an image folder (hidden ones left out), at least two."""
    if not folder.is_dir():
        raise DataError(
            f"{printable(folder)}: not a folder; give a folder with one subfolder per class."
        )
    try:
        class_dirs = sorted(
            p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
    except OSError as exc:
        raise DataError(
            f"cannot read folder {printable(folder)} ({exc.strerror}); check its permissions."
        ) from None
    if len(class_dirs) < 2:
        raise DataError(
            f"{printable(folder)} has {len(class_dirs)} class subfolder(s); it needs one subfolder "
            "per class, at least two."
        )
    return class_dirs


def _class_files(class_dirs: list[Path]) -> list[tuple[Path, int]]:
    """(image file, label) for every image of every class folder, in class order."""
    files: list[tuple[Path, int]] = []
    for label, d in enumerate(class_dirs):
        try:
            d.name.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(
                f"class folder {printable(d)} has a name that is not valid UTF-8 text; rename it "
                "(the folder names become the class names)."
            ) from None
        try:
            imgs = _class_images(d)
        except OSError as exc:
            raise DataError(
                f"cannot read class folder {printable(d)} ({exc.strerror}); check its permissions."
            ) from None
        if not imgs:
            raise DataError(
                f"class folder {d.name} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        files.extend((p, label) for p in imgs)
    return files


def _folder_layout(
    files: list[tuple[Path, int]], image_size: int | None
) -> tuple[bool, int, tuple[int, ...]]:
    """(grey, side, array shape) from the images' headers; refuses images too large for the
    limit or for the free memory before anything is decoded."""
    headers = []
    for p, _ in files:
        try:
            with _open_image(p) as im:
                headers.append((im.size, im.mode))
        except Exception as exc:  # PIL's decoders raise many kinds; every one means the same
            raise _image_error(p, exc) from None
    modes = [m for _, m in headers]
    grey = sum(m in GREY_MODES for m in modes) * 2 >= len(modes)
    heights = Counter(size[1] for size, _ in headers)
    side = image_size or heights.most_common(1)[0][0]
    if side > MAX_IMAGE_SIDE:
        raise DataError(f"images are {side} px high; the limit is {MAX_IMAGE_SIDE}: resize them.")
    n_high = sum(m in HIGH_DEPTH_MODES for m in modes)
    shape = (len(files), side, side) if grey else (len(files), side, side, 3)
    need = math.prod(shape) + n_high * side * side * 4
    free = _available_memory()
    if need > free:
        raise DataError(
            f"{len(files)} images at {side}x{side} px need {_size_text(need)} of memory but only "
            f"{_size_text(free)} is free; import fewer images or resize them."
        )
    return grey, side, shape


def _decode_into(x: np.ndarray, files: list[tuple[Path, int]], grey: bool, side: int) -> None:
    """Decode every image into its row of `x`, converted to grey or RGB and resized to `side`;
    high-bit-depth images are collected first and mapped to 8 bits with one mapping."""
    from PIL import Image

    mode = "L" if grey else "RGB"
    high: dict[int, np.ndarray] = {}
    lo, hi, unsigned = math.inf, -math.inf, True
    for i, (p, _) in enumerate(files):
        try:
            with _open_image(p) as im:
                im.load()
                if im.mode in HIGH_DEPTH_MODES:
                    v = np.asarray(im)
                    if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                        raise DataError(
                            f"{printable(p)} holds pixels that are not numbers (NaN or "
                            "infinite); fix or remove it."
                        )
                    lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
                    unsigned = unsigned and v.dtype.kind in "iu" and v.min() >= 0
                    f = Image.fromarray(v.astype(np.float32))
                    if f.size != (side, side):
                        f = f.resize((side, side), Image.BILINEAR)
                    high[i] = np.asarray(f, dtype=np.float32)
                else:
                    im = im.convert(mode)
                    if im.size != (side, side):
                        im = im.resize((side, side), Image.BILINEAR)
                    x[i] = np.asarray(im, dtype=np.uint8)
        except DataError:
            raise
        except Exception as exc:
            raise _image_error(p, exc) from None
    if high:
        _high_depth_to_u8(high, lo, hi, unsigned)
        for i, v in high.items():
            x[i] = v.astype(np.uint8) if grey else np.repeat(v.astype(np.uint8)[..., None], 3, -1)


# --------------------------------------------------------------------------- MedMNIST


def medmnist_flags() -> list[str]:
    """Single-label 2D MedMNIST datasets (3D and multi-label sets are out of scope)."""
    from pepr_desktop.core.data.medmnist_meta import info

    INFO = info()  # vendored medmnist.INFO: importing medmnist would import torch

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
    from pepr_desktop.core.data.medmnist_meta import info

    INFO = info()

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
