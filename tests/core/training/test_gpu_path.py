"""On a CUDA GPU only (`pytest -m gpu`, run by benchmarks/gpu_check.sh): the fast path resolves on,
trains as well as the plain path, fp16 with its scaler trains, and NVML meters real energy."""

from __future__ import annotations

import time

import pytest
from conftest import TINY_MODEL
from fast_path_data import separable_arrays

from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.training import fast_path
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, train

pytestmark = pytest.mark.gpu


def _val_acc(**kw) -> tuple[float, dict]:
    base = dict(dataset="d", model=TINY_MODEL, epochs=4, batch_size=16, lr=3e-3, device="cuda")
    cfg = TrainConfig(**{**base, **kw})
    p = prepare(cfg, separable_arrays(n=128))
    epochs = [e for e in train(cfg, p, run_id=0) if isinstance(e, EpochEnded)]
    return epochs[-1].metrics["val_acc"], cfg.extra[fast_path.FAST_KEY]


def test_fast_path_is_on_by_default_and_trains_like_the_plain_path() -> None:
    fast, rec = _val_acc()
    assert rec["amp"] in ("bf16", "fp16") and rec["channels_last"] and rec["tf32"]
    plain, rec0 = _val_acc(amp="off", channels_last="off", cudnn_benchmark="off", tf32="off")
    assert rec0["amp"] == "off"
    assert fast >= 0.9 and plain >= 0.9 and abs(fast - plain) <= 0.1, (fast, plain)


def test_fp16_with_the_gradient_scaler_trains() -> None:
    acc, rec = _val_acc(amp="fp16")
    assert rec["amp"] == "fp16" and acc >= 0.9


def test_nvml_counts_energy_while_the_gpu_works() -> None:
    pytest.importorskip("pynvml")
    import torch

    from pepr_desktop.core.metering.nvml import NvmlMeter

    m = NvmlMeter("cuda")
    m.open()
    x = torch.randn(4096, 4096, device="cuda")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 2:
        x = (x @ x).clamp_(-1, 1)
    torch.cuda.synchronize()
    r = m.read()
    m.close()
    assert r.energy_j > 10 and r.power_w and r.power_w > 10  # an H200 idles near 100 W
