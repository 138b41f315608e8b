"""Dataset preview cost vs loading the images: the preview must not grow with the dataset.

A synthetic MedMNIST-layout .npz of 224 px RGB images, written the way `pepr import-data` writes
(np.savez, uncompressed), is previewed (counts + 8 samples per class, core/data/preview.py) and,
side by
side, loaded the way training loads it (`np.load(...)["train_images"]`). Prints the ratio.

Usage: python benchmarks/bench_preview.py [--images N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import report  # the benchmarks folder is sys.path[0] when run as a script


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000, help="training images (224 px RGB)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="500 images, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeats = 1000, 1
    from pepr_desktop.core.data.preview import preview_npz

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.npz"
        n = args.images
        splits = {"train": n, "val": max(n // 8, 2), "test": max(n // 8, 2)}
        arrays = {}
        for s, k in splits.items():
            arrays[f"{s}_images"] = rng.integers(0, 256, (k, 224, 224, 3), dtype=np.uint8)
            arrays[f"{s}_labels"] = rng.integers(0, 7, (k, 1), dtype=np.uint8)
        np.savez(path, **arrays)
        size_mb = path.stat().st_size / 1e6
        del arrays
        ours, ref = [], []
        for _ in range(args.repeats):  # alternate so cache effects hit both alike
            t = time.perf_counter()
            pv = preview_npz(path, per_class=8)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            with np.load(path) as z:
                x = z["train_images"]
            ref.append(time.perf_counter() - t)
            assert sum(len(v) for v in pv.samples.values()) == 56 and x.shape[0] == n
        o, r = statistics.median(ours), statistics.median(ref)
        report(
            "preview of a 224px RGB .npz",
            o,
            r,
            "s",
            "< 0.1 x loading the training images",
            o < 0.1 * r,
            file_mb=round(size_mb),
            images=n,
        )


if __name__ == "__main__":
    main()
