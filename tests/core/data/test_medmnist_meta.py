"""MedMNIST's metadata is vendored (resources/medmnist_info.json): checked against medmnist's own
INFO when medmnist is installed (read from its info.py, never imported), and for the fields the
app reads either way."""

from __future__ import annotations

import re

import pytest

from pepr_desktop.core.data import medmnist_meta
from pepr_desktop.core.data import sources as data


def test_the_vendored_info_matches_the_installed_medmnist() -> None:
    found = medmnist_meta.read_installed()
    if found is None:
        pytest.skip("medmnist is not installed (pip install medmnist to check the JSON)")
    version, info = found
    assert medmnist_meta.subset(info) == medmnist_meta.info(), (
        f"resources/medmnist_info.json differs from medmnist {version} (vendored: "
        f"{medmnist_meta.vendored_version()}); run python -m pepr_desktop.core.data.medmnist_meta "
        "--write"
    )


def test_the_vendored_info_holds_what_the_app_reads() -> None:
    info = medmnist_meta.info()
    flags = data.medmnist_flags()
    assert "pneumoniamnist" in flags and "dermamnist" in flags
    assert not [f for f in flags if f.endswith("3d") or "multi-label" in info[f]["task"]]
    for flag in flags:
        meta = info[flag]
        assert set(medmnist_meta.FIELDS) <= set(meta)
        assert [str(i) for i in range(len(meta["label"]))] == list(meta["label"])
        assert set(meta["n_samples"]) == {"train", "val", "test"}
        for size in medmnist_meta.SIZES:  # every 2D set comes at every size
            suffix = "" if size == 28 else f"_{size}"
            assert meta[f"url{suffix}"].startswith("https://")
            assert meta[f"url{suffix}"].split("?")[0].endswith(f"/{flag}{suffix}.npz")
            assert re.fullmatch(r"[0-9a-f]{32}", meta[f"MD5{suffix}"])


def test_the_subset_keeps_only_the_fields_the_app_reads() -> None:
    full = {
        "xmnist": {
            "python_class": "X",
            "description": "long text",
            "license": "CC BY 4.0",
            "task": "binary-class",
            "label": {"0": "a", "1": "b"},
            "n_channels": 1,
            "n_samples": {"train": 1, "val": 1, "test": 1},
            "url": "https://x/xmnist.npz",
            "MD5": "0" * 32,
            "url_64": "https://x/xmnist_64.npz",
            "MD5_64": "1" * 32,
        }
    }
    kept = medmnist_meta.subset(full)["xmnist"]
    assert set(kept) == {
        "task",
        "label",
        "n_channels",
        "n_samples",
        "url",
        "MD5",
        "url_64",
        "MD5_64",
    }


def test_the_pneumonia_entry_is_the_one_training_uses() -> None:
    info = data.medmnist_info("pneumoniamnist", 28)
    assert info["label"] == {"0": "normal", "1": "pneumonia"}
    assert (info["n_channels"], info["task"]) == (1, "binary-class")
