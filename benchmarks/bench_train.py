"""Training throughput of the app's trainer vs a minimal hand-written PyTorch loop.

Same preloaded tensors, model, batch size, seed and thread count; both do the same evaluation work
per epoch. Runs alternate (ours, bare, ours, bare...) and the median ratio is reported, because
absolute times on a shared machine drift. Goal: ratio >= 0.97.

    .venv/bin/python benchmarks/bench_train.py [--quick] [--model NAME] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._report import report
from pepr_desktop.core.data.sources import bundled_sample_path, read_npz
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.metrics import classification_metrics
from pepr_desktop.core.training.train import Prepared, prepare, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


def subset(p: Prepared, n_eval: int) -> Prepared:
    """Small val/test sets so that the figure is dominated by training, as in the bare loop."""
    p.val.x, p.val.y = p.val.x[:n_eval], p.val.y[:n_eval]
    p.test.x, p.test.y = p.test.x[:n_eval], p.test.y[:n_eval]
    return p


def run_ours(cfg: TrainConfig, arrays, n_eval: int) -> float:
    p = subset(prepare(cfg, arrays), n_eval)
    t0 = time.perf_counter()
    for _ in train(cfg, p, run_id=0):
        pass
    return len(p.train) * cfg.epochs / (time.perf_counter() - t0)


def run_bare(cfg: TrainConfig, arrays, n_eval: int) -> float:
    """What a careful user would write by hand on the same preloaded tensors, with the same
    tricks as the trainer's fast path (autocast, channels-last: `p.fast`, all off on a CPU)."""
    p = subset(prepare(cfg, arrays), n_eval)
    model, opt, loss_fn, fast = p.model, p.optimizer, p.loss_fn, p.fast
    x, y = p.train.x, p.train.y
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        for idx in torch.randperm(len(y), generator=g).to(x.device).split(cfg.batch_size):
            if len(idx) == 1:
                continue
            xb = fast.inputs((x[idx].float() / 255 - 0.5) / 0.5)
            opt.zero_grad(set_to_none=True)
            with fast.autocast():
                loss = loss_fn(model(xb), y[idx])
            fast.step(loss, opt)
        model.eval()
        with torch.inference_mode(), fast.autocast():  # the same per-epoch evaluation as the app
            for split in (p.val, p.test):
                logits = model(fast.inputs((split.x.float() / 255 - 0.5) / 0.5))
                probs = torch.softmax(logits.float(), 1).cpu()
                classification_metrics(probs.numpy(), split.y.cpu().numpy())
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return len(y) * cfg.epochs / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch, 2 pairs")
    ap.add_argument("--model", default="mobilenetv3_small_050")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--pairs", type=int, default=None)
    args = ap.parse_args()
    arrays = read_npz(SHARED if SHARED.is_file() else bundled_sample_path())
    epochs, pairs = (1, 2) if args.quick else (2, args.pairs or 5)
    cfg = TrainConfig(
        dataset="bench",
        model=args.model,
        epochs=epochs,
        device=args.device,
        data_fraction=0.5 if args.quick else 1.0,
        checkpoint=False,
    )
    run_ours(cfg, arrays, 64)  # warm-up: lazy imports (sklearn), allocator, kernels, caches
    run_bare(cfg, arrays, 64)
    ratios, ours_all, bare_all = [], [], []
    for i in range(pairs):
        if i % 2 == 0:  # alternate the order so that drift does not favour one side
            ours, bare = run_ours(cfg, arrays, 64), run_bare(cfg, arrays, 64)
        else:
            bare, ours = run_bare(cfg, arrays, 64), run_ours(cfg, arrays, 64)
        ours_all.append(ours)
        bare_all.append(bare)
        ratios.append(ours / bare)
    ratio = statistics.median(ratios)
    print(f"per pair ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    report(
        f"training throughput, {args.model}, {cfg.device}",
        statistics.median(ours_all),
        statistics.median(bare_all),
        "img/s",
        ">= 0.97",
        ratio >= 0.97,
        ratio=ratio,
        threads=torch.get_num_threads(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
