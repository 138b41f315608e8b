"""Training throughput with the meter sampler on vs off (same model, data, seed); goal <= 1 % loss.

Runs alternate off/on (ABAB...) so drift on a shared machine hits both sides alike; each run
re-prepares the model from the same seed. Throughput counts training batches only (evaluation
excluded), and the idle baseline is off (it is spent before a run, not during it). It also times
one sampler tick in isolation: tick cost / period is the CPU share the sampler thread takes.

    python benchmarks/bench_meter.py            # 4 pairs, 2 epochs on the bundled sample
    python benchmarks/bench_meter.py --quick    # 2 pairs, 1 epoch
"""

from __future__ import annotations

import argparse
import statistics
import time

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.events import BatchEnded
from pepr_desktop.core.metering import MeterSettings, meter_factory
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, train


def throughput(cfg: TrainConfig, arrays, meter) -> float:
    """Training images per second over batches 2..n of each epoch (no eval, no first batch)."""
    p = prepare(cfg, arrays)
    images, seconds, last = 0, 0.0, None
    for ev in train(cfg, p, run_id=0, meter=meter):
        if isinstance(ev, BatchEnded):
            if ev.batch > 1 and last is not None:
                seconds += ev.elapsed_s - last
                images += cfg.batch_size
            last = ev.elapsed_s
    return images / seconds


def tick_cost_us(device: str, n: int = 200) -> tuple[float, str]:
    session = meter_factory(MeterSettings(idle_baseline_s=0))(device)
    session.start(0)
    session._stop.set()  # keep the thread out of the way: time the ticks alone
    session._thread.join()
    t0 = time.perf_counter()
    for _ in range(n):
        with session._lock:
            session._tick()
    cost = (time.perf_counter() - t0) / n * 1e6
    session.stop()
    return cost, session.method


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 pairs, 1 epoch")
    ap.add_argument("--model", default="mobilenetv3_small_050")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument("--period", type=float, default=0.5)
    args = ap.parse_args()
    pairs = args.pairs or (2 if args.quick else 4)
    cfg = TrainConfig(
        dataset="sample",
        model=args.model,
        epochs=1 if args.quick else 2,
        device=args.device,
        checkpoint=False,
        seed=0,
    )
    with Store(_tmp_db()) as store:
        arrays = datasets.load(datasets.resolve(cfg.dataset, store))
    factory = meter_factory(MeterSettings(period_s=args.period, idle_baseline_s=0))
    off, on, ratios = [], [], []
    throughput(cfg, arrays, None)  # warm-up: allocator, kernels, caches
    for i in range(pairs):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")  # ABBA: cancels linear drift
        got: dict[str, float] = {}
        for side in order:
            session = factory(args.device) if side == "on" else None
            got[side] = throughput(cfg, arrays, session)
        off.append(got["off"])
        on.append(got["on"])
        ratios.append(got["on"] / got["off"])
        print(
            f"pair {i + 1}: off {got['off']:.1f} img/s  on {got['on']:.1f} img/s  "
            f"ratio {ratios[-1]:.4f}",
            flush=True,
        )
    ratio = statistics.median(ratios)
    cost, method = tick_cost_us(args.device)
    print(
        f"model {args.model}, {cfg.epochs} epoch(s) x {pairs} pairs on {args.device}, "
        f"period {args.period:g} s"
    )
    print(
        f"median throughput: off {statistics.median(off):.1f} img/s, "
        f"on {statistics.median(on):.1f} img/s"
    )
    print(f"median ratio on/off = {ratio:.4f}  (loss {100 * (1 - ratio):+.2f} %; goal <= 1 %)")
    from _report import report  # the benchmarks folder is sys.path[0] when run as a script

    report(
        f"training throughput with meter sampler on vs off, {args.model}",
        statistics.median(on),
        statistics.median(off),
        "img/s",
        ">= 0.99",
        ratio >= 0.99,
        ratio=ratio,
    )
    print(
        f"spread of off runs: {100 * (max(off) - min(off)) / statistics.median(off):.1f} % "
        "(a loss smaller than this is noise)"
    )
    print(
        f"one sampler tick ({method}): {cost:.0f} us = {100 * cost / 1e6 / args.period:.3f} % "
        "of one core at this period"
    )


def _tmp_db() -> str:
    import tempfile
    from pathlib import Path

    return str(Path(tempfile.mkdtemp(prefix="bench_meter_")) / "db.sqlite")


if __name__ == "__main__":
    main()
