"""Dataset preview on the real PneumoniaMNIST file: counts, warnings, samples read by seeking."""

from __future__ import annotations

import numpy as np
import pytest

from pepr_desktop.core.data.preview import class_warnings, preview_dataset, preview_npz, read_rows
from pepr_desktop.core.errors import DataError


def test_counts_shape_and_imbalance_warning(pneumonia_npz) -> None:
    pv = preview_npz(pneumonia_npz, ["normal", "pneumonia"], per_class=5)
    assert pv.counts == {"train": [388, 3494], "val": [135, 389], "test": [234, 390]}
    assert pv.sizes == {"train": 3882, "val": 524, "test": 624}
    assert pv.image_size == (28, 28) and pv.channels == 1
    assert len(pv.warnings) == 1 and "9.0x" in pv.warnings[0] and "normal" in pv.warnings[0]
    with np.load(pneumonia_npz) as z:
        x, y = z["train_images"], z["train_labels"][:, 0]
    for c in (0, 1):
        assert len(pv.samples[c]) == 5
        for i, im in zip(pv.sample_index[c], pv.samples[c]):
            assert y[i] == c  # a sample of class c is an image of class c
            np.testing.assert_array_equal(im, x[i])


def test_samples_are_seeded_and_other_split(pneumonia_npz) -> None:
    a = preview_npz(pneumonia_npz, per_class=3, split="test", seed=1)
    b = preview_npz(pneumonia_npz, per_class=3, split="test", seed=1)
    c = preview_npz(pneumonia_npz, per_class=3, split="test", seed=2)
    assert a.sample_index == b.sample_index != c.sample_index
    assert a.class_names == ["0", "1"]  # no names given: the label values


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_read_rows_keeps_requested_order(tmp_path, save) -> None:
    x = np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)
    path = tmp_path / "a.npz"
    save(path, val_images=x[:2], train_images=x)  # stored (raw seeks) or deflated member
    got = read_rows(path, "train_images", [4, 0, 2, 4])
    for r, im in zip([4, 0, 2, 4], got):
        np.testing.assert_array_equal(im, x[r])
    with pytest.raises(DataError, match="out of range"):
        read_rows(path, "train_images", [5])


def test_tiny_and_missing_class_warnings() -> None:
    w = class_warnings({"train": [100, 90, 5], "val": [10, 30, 0]}, ["a", "b", "c"])
    text = " | ".join(w)
    assert "20.0x" in text  # 100 / 5 in train
    assert "train: class 'c' has only 5 images" in text
    assert "val: class 'a' has only 10 images" in text
    assert "val: class 'c' has no images" in text
    assert class_warnings({"train": [100, 90]}, ["a", "b"]) == []


def test_bundled_sample_and_missing_download(store) -> None:
    from pepr_desktop.core.data.registry import resolve

    pv = preview_dataset(resolve("sample", store), per_class=2)
    assert pv.sizes == {"train": 582, "val": 157, "test": 156}
    with pytest.raises(DataError, match="not downloaded yet"):
        preview_dataset(resolve("dermamnist", store))


def test_damaged_file_is_one_line_error(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError) as exc:
        preview_npz(bad)
    assert "\n" not in str(exc.value) and "bad.npz" in str(exc.value)
