"""The trainer's fast path: settings resolve per device, are validated and recorded with the run,
and bf16 autocast trains as well as plain fp32 (on the CPU here; tests/.../test_gpu_path.py on a
GPU)."""

from __future__ import annotations

import pytest
from conftest import TINY_MODEL
from fast_path_data import separable_arrays

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import EpochEnded
from pepr_desktop.core.training import fast_path
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import prepare, train


def _cfg(**kw) -> TrainConfig:
    base = dict(dataset="d", model=TINY_MODEL, epochs=3, batch_size=16, lr=3e-3, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_auto_is_off_on_the_cpu_and_on_for_cuda(monkeypatch) -> None:
    import torch

    off = fast_path.resolve(_cfg(), "cpu").record()
    assert off == {
        "amp": "off",
        "channels_last": False,
        "cudnn_benchmark": False,
        "tf32": False,
        "compiled": False,
    }
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    on = fast_path.resolve(_cfg(), "cuda:0")
    assert (on.amp, on.channels_last, on.cudnn_benchmark, on.tf32) == ("bf16", True, True, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert fast_path.resolve(_cfg(), "cuda").amp == "fp16"  # older GPUs: fp16 with a scaler
    forced = fast_path.resolve(_cfg(amp="bf16", channels_last="on", tf32="off"), "cpu")
    assert (forced.amp, forced.channels_last, forced.tf32) == ("bf16", True, False)


@pytest.mark.parametrize(
    "bad", [{"amp": "fp8"}, {"channels_last": "yes"}, {"tf32": True}, {"compile_step": "on"}]
)
def test_bad_fast_path_settings_are_refused(bad) -> None:
    with pytest.raises(UserError):
        _cfg(**bad).validate()


def _train(cfg: TrainConfig) -> tuple[TrainConfig, list[EpochEnded]]:
    p = prepare(cfg, separable_arrays(n=48))
    epochs = [e for e in train(cfg, p, run_id=0) if isinstance(e, EpochEnded)]
    return cfg, epochs


def test_the_run_records_what_was_on_and_bf16_trains_like_fp32() -> None:
    # resnet10t learns the bright/dark split in one epoch; bf16 on a CPU is slow, so one epoch
    small = {"model": "resnet10t", "epochs": 1}
    plain_cfg, plain = _train(_cfg(**small))
    assert plain_cfg.extra[fast_path.FAST_KEY]["amp"] == "off"  # stored with the run's config
    assert plain[-1].extra[fast_path.FAST_KEY]["channels_last"] is False  # and with each epoch
    bf16_cfg, bf16 = _train(_cfg(amp="bf16", channels_last="on", **small))
    assert bf16_cfg.extra[fast_path.FAST_KEY]["amp"] == "bf16"
    assert bf16[-1].extra[fast_path.FAST_KEY]["channels_last"] is True
    a, b = plain[-1].metrics["val_acc"], bf16[-1].metrics["val_acc"]
    assert a >= 0.9 and b >= 0.9 and abs(a - b) <= 0.1, (a, b)
