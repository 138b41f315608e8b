"""GPU energy cross-checked on one training workload: NVML's energy counter vs the fallback that
integrates polled power (both core/metering/nvml.py) vs Zeus's `ZeusMonitor` when installed;
goal: within +-5 % of the counter. Then the meter's overhead: trainer throughput with the app's
meter session vs none (goal <= 1 %, ratio >= 0.99). Without a GPU the energy rows say why they
were not measured and the overhead row measures the CPU meter.

    .venv/bin/python benchmarks/bench_gpu_energy.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks._report import report
from pepr_desktop.core.data.sources import bundled_sample_path, read_npz
from pepr_desktop.core.metering import MeterSettings, meter_factory
from pepr_desktop.core.metering.nvml import NvmlMeter
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, resolve_device, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_28.npz"


def workload(device: str, seconds: float) -> None:
    """Steady GPU work: resnet18 training steps at 224 px."""
    import timm

    model = timm.create_model("resnet18", num_classes=2).to(device)
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(64, 3, 224, 224, device=device)
    y = torch.randint(0, 2, (64,), device=device)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.cuda.synchronize()


def energy_rows(device: str, seconds: float) -> None:
    counter, polled = NvmlMeter(device), NvmlMeter(device)
    counter.open()
    polled.open()
    polled.method = "nvml_power"  # force the fallback: integrate polled power
    polled._p_last = polled.nv.nvmlDeviceGetPowerUsage(polled.handle) / 1000.0
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.1):
            polled.read()

    zeus = None
    try:
        from zeus.monitor import ZeusMonitor

        zeus = ZeusMonitor(gpu_indices=[torch.cuda.current_device()])
    except Exception as exc:  # not installed, or it cannot open the GPU
        zeus_note = f"zeus not installed ({type(exc).__name__})"
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    if zeus is not None:
        zeus.begin_window("check")
    workload(device, seconds)
    e_counter = counter.read().energy_j
    zeus_j = zeus.end_window("check").total_energy if zeus is not None else None
    done.set()
    thread.join()
    e_polled = polled.read().energy_j
    counter.close()
    polled.close()
    ok = abs(e_polled / e_counter - 1) <= 0.05
    report("energy, polled-power fallback vs NVML counter", e_polled, e_counter, "J", "+-5 %", ok)
    if zeus_j is None:
        report(
            f"energy, Zeus vs NVML counter: {zeus_note}", float("nan"), e_counter, "J", "-", None
        )
    else:
        ok = abs(zeus_j / e_counter - 1) <= 0.05
        report("energy, ZeusMonitor vs NVML counter", zeus_j, e_counter, "J", "+-5 %", ok)


def throughput(cfg: TrainConfig, arrays, metered: bool) -> float:
    p = prepare(cfg, arrays)
    p.val.x, p.val.y, p.test.x, p.test.y = p.val.x[:64], p.val.y[:64], p.test.x[:64], p.test.y[:64]
    meter = meter_factory(MeterSettings(idle_baseline_s=0))(p.device) if metered else None
    t0 = time.perf_counter()
    for _ in train(cfg, p, run_id=0, meter=meter):
        pass
    return len(p.train) * cfg.epochs / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 s of energy work, 2 overhead pairs")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if device.startswith("cuda"):
        energy_rows(device, 5.0 if args.quick else 20.0)
    else:
        why = f"no GPU ({device}): NVML not checked"
        report(
            f"energy, fallback and Zeus vs NVML counter: {why}", float("nan"), None, "J", "-", None
        )
    arrays = read_npz(SHARED if SHARED.is_file() else bundled_sample_path())
    cfg = TrainConfig(
        dataset="bench",
        model="mobilenetv3_small_050",
        epochs=1,
        device=device,
        data_fraction=0.2 if args.quick else 1.0,
        checkpoint=False,
    )
    throughput(cfg, arrays, True)  # warm-up
    ratios = []
    for i in range(2 if args.quick else 4):
        pair = [throughput(cfg, arrays, m) for m in ((True, False) if i % 2 else (False, True))]
        with_m, without = (pair[0], pair[1]) if i % 2 else (pair[1], pair[0])
        ratios.append(with_m / without)
    ratio = statistics.median(ratios)
    report(
        f"trainer throughput with the meter vs without, {device}",
        ratio,
        1.0,
        "x",
        ">= 0.99 (overhead <= 1 %)",
        ratio >= 0.99,
        ratio=ratio,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
