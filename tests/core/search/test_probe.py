"""The cost probe on a real tiny model: its time, and memory that is the run's own footprint,
never the process's (a huge, growing fake RSS does not move it)."""

from __future__ import annotations

import itertools

import pytest
from conftest import TINY_MODEL

from pepr_desktop.core.search import footprint
from pepr_desktop.core.search.probe import PROBE_VERSION, ProbeCache, probe

KW = dict(
    channels=1,
    n_classes=2,
    native_size=28,
    input_size=28,
    batch_size=8,
    eval_batch_size=16,
    device="cpu",
    warmup=1,
    max_steps=2,
)


def test_real_probe_of_a_tiny_model():
    r = probe(TINY_MODEL, **KW)
    assert 0 < r.step_s < 5 and 0 < r.eval_s_per_image < r.step_s
    assert r.source == "measured" and r.mem_mb > 0


def test_memory_is_the_runs_own_not_the_process(monkeypatch):
    import psutil

    from pepr_desktop.core.models.build import build_model

    honest = probe(TINY_MODEL, **KW).mem_mb
    # the app's process: 50 GB and 1 GB more at every look
    grow = itertools.count()

    class Info:
        def __init__(self) -> None:
            self.rss = (50 + next(grow)) * 2**30
            self.vms = self.rss

    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: Info())
    assert psutil.Process().memory_info().rss >= 50 * 2**30
    bloated = probe(TINY_MODEL, **KW).mem_mb
    assert bloated == pytest.approx(honest)  # counted from the run's tensors, so unchanged
    # and it is the model's state (weights, gradients, Adam's two moments) plus activations
    model = build_model(TINY_MODEL, in_chans=1, num_classes=2, image_size=28)
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    assert 4 * weights_mb < bloated < 4 * weights_mb + 64
    # more data per step, more activations: the footprint follows the batch
    big = probe(TINY_MODEL, **{**KW, "batch_size": 32}).mem_mb
    assert big > bloated


def test_tallies_count_saved_tensors_not_weights():
    import torch

    lin = torch.nn.Linear(100, 10)
    x = torch.randn(64, 100)
    with footprint.SavedForBackward(lin) as saved:
        loss = torch.nn.CrossEntropyLoss()(lin(x), torch.zeros(64).long())
    saved.add(x)  # saved for the weight's gradient already: counted once
    # the input and the logits kept for the loss, never the 100 x 10 weights
    assert x.numel() * 4 <= saved.bytes < x.numel() * 4 + 64 * 10 * 4 * 3
    opt = torch.optim.Adam(lin.parameters())
    loss.backward()
    opt.step()
    params = sum(p.numel() for p in lin.parameters()) * 4
    assert footprint.state_bytes(lin, opt) >= 4 * params  # weights, grads, two moments
    seq = torch.nn.Sequential(torch.nn.Linear(100, 1000), torch.nn.Linear(1000, 10))
    with torch.inference_mode(), footprint.LargestModule(seq) as largest:
        largest.add(x)
        seq(x)
    # the batch, plus the whole net's input and output (the widest call: 100 + 10 wide) or the
    # first layer's (100 in, 1000 out), whichever is larger
    assert largest.bytes == x.numel() * 4 + 64 * (100 + 1000) * 4


def test_cache_keys_carry_the_version():
    key = ProbeCache.probe_key("m", "cpu", 1, 2, 28, 28, 32, 256)
    assert key.startswith(f"v{PROBE_VERSION}|") and PROBE_VERSION >= 2
