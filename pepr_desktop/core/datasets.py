"""The dataset registry: MedMNIST names, the bundled sample, and datasets the user imported.

An import validates the file or folder, writes one canonical .npz beside the database and records
it in the store, so later runs never depend on the original file staying where it was.
"""

from __future__ import annotations

import re
from pathlib import Path

from pepr_desktop.core import data
from pepr_desktop.core.data import DatasetInfo
from pepr_desktop.core.errors import DataError, close_matches
from pepr_desktop.core.paths import cache_dir
from pepr_desktop.core.store import Store

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def _from_row(row: dict) -> DatasetInfo:
    return DatasetInfo(
        name=row["name"],
        source=row["source"],
        path=Path(row["path"]),
        n_classes=row["n_classes"],
        channels=row["channels"],
        image_size=row["image_size"],
        task=row["task"],
        class_names=row["class_names"],
        split_sizes=row["split_sizes"],
        content_hash=row["content_hash"],
    )


def list_datasets(store: Store, include_medmnist: bool = True) -> list[DatasetInfo]:
    """Imported datasets, the bundled sample, then every MedMNIST 2D set at 28 px."""
    out = [_from_row(r) for r in store.datasets()]
    out.append(data.bundled_sample_info())
    if include_medmnist:
        out.extend(data.medmnist_dataset_info(f, 28, cache_dir()) for f in data.medmnist_flags())
    return out


def resolve(name: str, store: Store) -> DatasetInfo:
    """A dataset by name: imported first, then `sample`, then MedMNIST (`dermamnist_64`)."""
    row = store.get_dataset(name)
    if row:
        return _from_row(row)
    if name == data.SAMPLE_NAME:
        return data.bundled_sample_info()
    parsed = data.parse_medmnist_name(name)
    if parsed:
        from medmnist import INFO

        if parsed[0] in INFO:
            return data.medmnist_dataset_info(parsed[0], parsed[1], cache_dir())
    known = [r["name"] for r in store.datasets()] + [data.SAMPLE_NAME, *data.medmnist_flags()]
    raise DataError(
        f"unknown dataset '{name}'.{close_matches(name, known)} Run `pepr datasets` for the list "
        "or `pepr import-data PATH --name NAME` to add your own."
    )


def load(info: DatasetInfo) -> data.ArraySet:
    return data.load_arrays(info, cache_dir())


def import_dataset(
    path: str | Path,
    name: str,
    store: Store,
    *,
    seed: int = 0,
    class_names: list[str] | None = None,
    overwrite: bool = False,
) -> DatasetInfo:
    """Validate a .npz or image folder and register it under `name`."""
    if not NAME_RE.match(name):
        raise DataError(
            f"dataset name '{name}' is not allowed; use letters, digits, '_', '-' or '.', "
            "starting with a letter."
        )
    if name == data.SAMPLE_NAME or data.parse_medmnist_name(name):
        raise DataError(f"'{name}' is a built-in dataset name; choose another --name.")
    if store.get_dataset(name) and not overwrite:
        raise DataError(
            f"a dataset named '{name}' is already imported; choose another --name or pass "
            "--overwrite."
        )
    path = Path(path).expanduser()
    if path.is_dir():
        arrays = data.read_image_folder(path, seed=seed)
    elif path.suffix.lower() == ".npz" or path.is_file():
        arrays = data.read_npz(path, class_names)
    else:
        raise DataError(f"{path}: no such file or folder; give a .npz file or an image folder.")
    target = store.data_dir / "datasets" / f"{name}.npz"
    existed = target.exists()
    data.write_npz(arrays, target)
    info = data.info_for_arrays(name, "imported", target, arrays)
    row = info.to_dict()
    row["original"] = str(path.resolve())
    try:
        store.add_dataset(row)
    except BaseException:
        if not existed:  # the database refused it (locked, full): leave no orphan file
            target.unlink(missing_ok=True)
        raise
    return info
