"""Peak memory of a real (short) training run vs the recommender's prediction for it: the cost
probe's figure (core/search/probe.py) plus the dataset's own tensors on the device. Goal: the
prediction within 0.5x-2x of the measured peak (it decides what fits and how many trials run at
once, so a figure off by more than 2x is a bug).

    .venv/bin/python benchmarks/bench_memory.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import report
from pepr_desktop.core.data.sources import bundled_sample_path, read_npz
from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.search.probe import probe
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, resolve_device, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 %% of the data, one model")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default="mobilenetv3_small_050,resnet18")
    args = ap.parse_args()
    device = resolve_device(args.device)
    arrays = read_npz(SHARED if SHARED.is_file() else bundled_sample_path())
    models = args.models.split(",")[: 1 if args.quick else None]
    for name in models:
        cfg = TrainConfig(
            dataset="bench",
            model=name,
            epochs=1,
            device=device,
            data_fraction=0.1 if args.quick else 0.5,
            checkpoint=False,
        )
        pred = probe(
            name,
            channels=arrays.channels,
            n_classes=arrays.n_classes,
            native_size=arrays.image_size[0],
            input_size=arrays.image_size[0],
            batch_size=cfg.batch_size,
            eval_batch_size=cfg.eval_batch_size,
            device=device,
        ).mem_mb
        p = prepare(cfg, arrays)
        splits = [t for t in (p.train, p.val, p.test) if t is not None]
        pred += sum(t.x.nbytes + t.y.nbytes for t in splits) / 2**20  # the data on the device
        ends = [e for e in train(cfg, p, run_id=0) if isinstance(e, EpochEnded)]
        peaks = [e.peak_mem_mb for e in ends]
        method = ends[-1].mem_method if ends else "?"
        measured = max(x for x in peaks if x is not None) if any(peaks) else None
        if not measured:
            report(f"peak memory {name}, {device}", float("nan"), pred, "MiB", "measured", False)
            continue
        ratio = pred / measured
        report(
            f"peak memory {name} (ours = measured by {method}, ref = probe + data), {device}",
            measured,
            pred,
            "MiB",
            "prediction 0.5x-2x",
            0.5 <= ratio <= 2.0,
            ratio=ratio,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
