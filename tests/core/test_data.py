"""Dataset reading, validation, import and MedMNIST download errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pepr_desktop.core import data, datasets
from pepr_desktop.core.errors import DataError


def make_npz(path: Path, **overrides: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 20), ("val", 6), ("test", 6)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_real_pneumonia_file_reads_with_expected_counts(pneumonia_npz: Path) -> None:
    a = data.read_npz(pneumonia_npz)
    assert a.sizes() == {"train": 3882, "val": 524, "test": 624}
    assert a.class_counts()["train"] == [388, 3494]
    assert a.channels == 1 and a.image_size == (28, 28) and a.task == "binary-class"


def test_import_real_file_registers_it(pneumonia_npz: Path, store) -> None:
    info = datasets.import_dataset(
        pneumonia_npz, "pneu", store, class_names=["normal", "pneumonia"]
    )
    assert info.split_sizes == {"train": 3882, "val": 524, "test": 624}
    assert info.path.is_file() and info.path.parent.parent == store.data_dir
    again = datasets.resolve("pneu", store)
    assert again.content_hash == info.content_hash and len(info.content_hash) == 64
    assert again.class_names == ["normal", "pneumonia"]
    with pytest.raises(DataError, match="already imported"):
        datasets.import_dataset(pneumonia_npz, "pneu", store)


BAD_FILES = {
    "missing key": (dict(val_labels=None), "lacks val_labels"),
    "float images": (
        dict(train_images=np.zeros((20, 8, 8), dtype=np.float32)),
        "must be uint8",
    ),
    "zero images": (
        dict(test_images=np.zeros((0, 8, 8), np.uint8), test_labels=np.zeros((0, 1), np.uint8)),
        "0 images",
    ),
    "label out of range": (
        dict(val_labels=np.full((6, 1), 7, np.uint8)),
        "only 2 classes",
    ),
    "length mismatch": (dict(train_labels=np.zeros((19, 1), np.uint8)), "19 labels for 20"),
    "one class": (
        dict(
            train_labels=np.zeros((20, 1), np.uint8),
            val_labels=np.zeros((6, 1), np.uint8),
            test_labels=np.zeros((6, 1), np.uint8),
        ),
        "only one class",
    ),
    "shape mismatch": (dict(val_images=np.zeros((6, 9, 9), np.uint8)), "shapes differ"),
    "float labels": (dict(train_labels=np.full((20, 1), 0.5)), "labels must be integers"),
    "negative labels": (dict(train_labels=np.full((20, 1), -1, np.int64)), "negative"),
    "multi-label": (dict(train_labels=np.zeros((20, 3), np.uint8)), "multi-label"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_npz_is_refused_with_one_line(case: str, tmp_path: Path, store) -> None:
    overrides, expected = BAD_FILES[case]
    path = make_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=expected) as err:
        datasets.import_dataset(path, "bad", store)
    assert "\n" not in str(err.value)
    assert store.datasets() == []  # nothing registered, nothing half-written
    assert not (store.data_dir / "datasets" / "bad.npz").exists()


def test_truncated_and_non_npz_files(tmp_path: Path, store) -> None:
    good = make_npz(tmp_path / "good.npz")
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.import_dataset(trunc, "t", store)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.import_dataset(text, "t", store)
    with pytest.raises(DataError, match="no such file"):
        datasets.import_dataset(tmp_path / "absent.npz", "t", store)
    with pytest.raises(DataError, match="not allowed"):
        datasets.import_dataset(good, "bad name!", store)


def _write_folder(root: Path, per_class: dict[str, int], size: int = 12) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls, n in per_class.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(
                root / cls / f"{i}.png"
            )
    return root


def test_image_folder_is_split_stratified_and_seeded(tmp_path: Path, store) -> None:
    folder = _write_folder(tmp_path / "imgs", {"cats": 20, "dogs": 40})
    a = data.read_image_folder(folder, seed=3)
    b = data.read_image_folder(folder, seed=3)
    assert a.class_names == ["cats", "dogs"]
    assert sum(a.sizes().values()) == 60
    for s in data.SPLITS:
        counts = a.class_counts()[s]
        assert counts[1] == pytest.approx(2 * counts[0], abs=1)  # the 1:2 mix kept per split
        assert np.array_equal(a.images[s], b.images[s])
    info = datasets.import_dataset(folder, "pets", store)
    assert info.n_classes == 2 and info.image_size == 12


def test_image_folder_errors(tmp_path: Path, store) -> None:
    folder = _write_folder(tmp_path / "imgs", {"a": 5, "b": 5})
    (folder / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png is not a readable image"):
        datasets.import_dataset(folder, "x", store)
    one = _write_folder(tmp_path / "one", {"only": 5})
    with pytest.raises(DataError, match="at least two"):
        datasets.import_dataset(one, "x", store)


def test_stratified_subset_keeps_each_class() -> None:
    labels = np.array([0] * 10 + [1] * 90)
    idx = data.stratified_subset(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [1, 9]
    with pytest.raises(DataError):
        data.stratified_subset(labels, 0.0, seed=0)


def test_medmnist_offline_names_file_and_suggests_import(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tvu, "download_url", offline)
    with pytest.raises(DataError) as err:
        data.fetch_medmnist("dermamnist", 64, tmp_path)
    msg = str(err.value)
    assert "dermamnist_64.npz" in msg and "pepr import-data" in msg
    assert not (tmp_path / "dermamnist_64.npz").exists()


def test_medmnist_md5_mismatch_is_explained(pneumonia_npz: Path, tmp_path: Path) -> None:
    (tmp_path / "pneumoniamnist.npz").write_bytes(pneumonia_npz.read_bytes())
    with pytest.raises(DataError, match="does not match MedMNIST's MD5.*import-data"):
        data.fetch_medmnist("pneumoniamnist", 28, tmp_path)


def test_medmnist_names_resolve(store) -> None:
    info = datasets.resolve("dermamnist_64", store)
    assert (info.n_classes, info.channels, info.image_size) == (7, 3, 64)
    with pytest.raises(DataError, match="Did you mean: dermamnist"):
        datasets.resolve("dermamnst", store)
    with pytest.raises(DataError, match="no size 100"):
        datasets.resolve("dermamnist_100", store)


def test_bundled_sample_is_small_and_valid() -> None:
    path = data.bundled_sample_path()
    assert path.stat().st_size <= 1_000_000
    a = data.read_npz(path)
    assert min(a.sizes().values()) > 100 and a.n_classes == 2
