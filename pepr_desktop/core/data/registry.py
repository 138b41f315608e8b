"""The dataset registry: MedMNIST names, the bundled sample, and datasets the user imported.

An import validates the file or folder, writes one canonical .npz beside the database and records
it in the store, so later runs never depend on the original file staying where it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pepr_desktop.core.data import sources as data
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import DataError, UserError, close_matches
from pepr_desktop.core.paths import cache_dir
from pepr_desktop.core.store import Store

log = logging.getLogger(__name__)

# \A...\Z, and fullmatch below: `$` also matches before a final newline, which let 'mine\n' in.
NAME_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_.-]{0,63}\Z")
LOCK_TIMEOUT_S = 60.0


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
        from pepr_desktop.core.data.medmnist_meta import info

        if parsed[0] in info():
            return data.medmnist_dataset_info(parsed[0], parsed[1], cache_dir())
    known = [r["name"] for r in store.datasets()] + [data.SAMPLE_NAME, *data.medmnist_flags()]
    raise DataError(
        f"unknown dataset '{name}'.{close_matches(name, known)} Run `pepr datasets` for the list "
        "or `pepr import-data PATH --name NAME` to add your own."
    )


def load(info: DatasetInfo) -> data.ArraySet:
    return data.load_arrays(info, cache_dir())


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise DataError(
            f"dataset name '{data.printable(str(name))}' is not allowed; use letters, digits, "
            "'_', '-' or '.', starting with a letter (at most 64 characters)."
        )
    if name == data.SAMPLE_NAME or data.parse_medmnist_name(name):
        raise DataError(f"'{name}' is a built-in dataset name; choose another --name.")


def _taken(name: str) -> DataError:
    return DataError(
        f"a dataset named '{name}' is already imported; choose another --name or pass --overwrite."
    )


def _user_path(path: str | Path) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # `~someone/...` for a user this system does not know
        raise DataError(
            f"{data.printable(str(path))}: cannot find that user's home folder; give the full path."
        ) from None


def _absolute(path: Path) -> str:
    try:
        return data.printable(path.resolve())
    except (OSError, RuntimeError):  # a symlink loop, an unreadable parent
        return data.printable(os.path.abspath(path))


@contextlib.contextmanager
def _import_lock(folder: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Serialise the last step of every import into `folder` across processes: check the name,
    move the file in, write the row. An flock on the folder itself (no lock file, so the folder's
    listing never changes). Where there is no flock (Windows, some network file systems) the step
    runs unlocked: each import still writes its own file and its row names that file, so a race
    ends with the last import's row and file, which agree."""
    fd = None
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        fcntl = None  # type: ignore[assignment]
    try:
        if fd is not None:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DataError(
                            f"another import into {data.printable(folder)} has not finished for "
                            f"{timeout_s:.0f} s; wait for it, then try again."
                        ) from None
                    time.sleep(0.01)
                except OSError:  # flock unsupported here: go on unlocked
                    log.info("no lock on %s; importing unlocked", data.printable(folder))
                    break
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _remove_if_unreferenced(store: Store, path: Path, folder: Path) -> None:
    """Delete a dataset file that no row points to any more (the one an --overwrite replaced)."""
    try:
        if path.parent.resolve() != folder.resolve():
            return  # never delete anything outside the store's own folder
        if any(Path(r["path"]) == path for r in store.datasets()):
            return
        path.unlink(missing_ok=True)
    except (OSError, UserError) as exc:  # an orphan file is harmless; a failed import is not
        log.warning("could not remove the replaced file %s: %s", data.printable(path), exc)


def import_dataset(
    path: str | Path,
    name: str,
    store: Store,
    *,
    seed: int = 0,
    class_names: list[str] | None = None,
    overwrite: bool = False,
) -> DatasetInfo:
    """Validate a .npz or image folder and register it under `name`.

    Each import writes its own file, `datasets/NAME-HASH.npz` (HASH: the start of the content
    hash), first to a unique temporary file; the name check, the rename into place and the row
    are one locked step (`_import_lock`), so two imports to one name never share a file, and the
    row always describes the file it names. The loser of a race without --overwrite is told the
    name is taken. On any failure nothing is left behind: no temporary file, no row, and the
    dataset that --overwrite would have replaced stays as it was.
    """
    _check_name(name)
    if class_names is not None:
        data.check_class_names(class_names)
    if store.get_dataset(name) and not overwrite:
        raise _taken(name)
    path = _user_path(path)
    if path.is_dir():
        if class_names:
            raise DataError(
                "--classes names the labels of a .npz file; an image folder's classes are its "
                "subfolder names (rename the subfolders instead)."
            )
        arrays = data.read_image_folder(path, seed=seed)
    elif path.exists() or path.suffix.lower() == ".npz":
        arrays = data.read_npz(path, class_names)
    else:
        raise DataError(
            f"{data.printable(path)}: no such file or folder; give a .npz file or an image folder."
        )
    # absolute: a relative --db would otherwise store a path that only works from this folder
    folder = Path(os.path.abspath(store.data_dir)) / "datasets"
    info = data.info_for_arrays(name, "imported", folder, arrays)
    target = folder / f"{name}-{info.content_hash[:12]}.npz"
    info = dataclasses.replace(info, path=target)
    row: dict[str, Any] = info.to_dict()
    row["original"] = _absolute(path)
    tmp = data.write_npz_temp(arrays, folder)
    try:
        with _import_lock(folder):
            prev = store.get_dataset(name)
            if prev and not overwrite:
                raise _taken(name)  # another import took the name while this one read its data
            prev_path = Path(prev["path"]) if prev else None
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise data.write_error(exc, folder) from None
            try:
                store.add_dataset(row)
            except BaseException:
                if prev_path != target:  # the database refused it (locked, full): no orphan
                    with contextlib.suppress(OSError):
                        target.unlink(missing_ok=True)
                raise
            if prev_path is not None and prev_path != target:
                _remove_if_unreferenced(store, prev_path, folder)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return info
