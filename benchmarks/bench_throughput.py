"""Training images/s per model on this device at 28 and 224 px, timed by the cost probe
(core/search/probe.py: warm steps exactly as the trainer runs them, uint8 batch normalised and
resized on the device, Adam). Information rows (no goal): the GPU check's table of speeds.

    .venv/bin/python benchmarks/bench_throughput.py [--quick] [--device cpu|cuda] [--models A,B]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import report
from pepr_desktop.core.devices import resolve_device
from pepr_desktop.core.search.probe import probe

MODELS = "mobilenetv3_small_050,resnet18,efficientnet_b0,mobilenetv3_large_100"


def measure(name: str, size: int, batch: int, device: str, quick: bool) -> Any:
    return probe(
        name,
        channels=1,
        n_classes=2,
        native_size=28,
        input_size=size,
        batch_size=batch,
        eval_batch_size=batch,
        device=device,
        warmup=2,
        max_steps=2 if quick else 10,
        max_step_time_s=0.5 if quick else 2.0,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batch 8, 2 warm steps, 2 models at 224")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default=MODELS)
    args = ap.parse_args()
    device = resolve_device(args.device)
    batch = 8 if args.quick else 32  # 32: the paper's protocol
    models = args.models.split(",")
    for size in (28, 224):
        for name in models:
            if args.quick and size == 224 and name not in models[:2]:
                continue  # a CPU smoke run: two models at 224 px are enough to show the path
            try:
                r = measure(name, size, batch, device, args.quick)
            except RuntimeError as exc:  # e.g. a model whose stride needs more than 28 px
                msg = str(exc).splitlines()[0][:80]
                report(
                    f"train img/s {name} {size}px: cannot run ({msg})",
                    0.0,
                    None,
                    "img/s",
                    "info",
                    None,
                )
                continue
            report(
                f"train img/s {name} {size}px batch {batch}, {device}",
                batch / r.step_s,
                None,
                "img/s",
                "info",
                None,
                step_ms=r.step_s * 1e3,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
