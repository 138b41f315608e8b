"""Rebuild the bundled sample: a seeded, stratified subset of ../shared/data/pneumoniamnist_28.npz.

Run from the project root: python resources/sample/make_sample.py
"""

from pathlib import Path

import numpy as np

from pepr_desktop.core.data.sources import SPLITS, read_npz, stratified_subset

SOURCE = Path("../shared/data/pneumoniamnist_28.npz")
FRACTIONS = {"train": 0.15, "val": 0.3, "test": 0.25}

arrays = read_npz(SOURCE)
out = {}
for s in SPLITS:
    keep = stratified_subset(arrays.labels[s], FRACTIONS[s], seed=0)
    out[f"{s}_images"] = arrays.images[s][keep]
    out[f"{s}_labels"] = arrays.labels[s][keep].astype(np.uint8)[:, None]
np.savez_compressed(Path(__file__).with_name("pneumoniamnist_sample_28.npz"), **out)
