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


def test_the_probe_trains_on_the_trainers_fast_path(monkeypatch) -> None:
    from pepr_desktop.core.search import probe as probing
    from pepr_desktop.core.training import fast_path

    plain = probe(TINY_MODEL, **KW)
    # on the CPU "auto" resolves to all off, as the trainer records it: the figures are as before
    assert plain.fast_path == fast_path.resolve(_cfg(), "cpu").record()
    assert plain.fast_path["amp"] == "off" and not any(list(plain.fast_path.values())[1:])
    off = probe(TINY_MODEL, **KW, fast={"amp": "off", "channels_last": "off"})
    assert off.mem_mb == pytest.approx(plain.mem_mb)  # counted bytes: the same run
    # the trainer's resolution, not a copy of it: what it returns is what the steps run under
    seen: list[tuple[dict, str]] = []
    entered = itertools.count()

    class Spy(fast_path.FastPath):
        def autocast(self):
            next(entered)
            return super().autocast()

    def resolve(cfg, device):
        seen.append((fast_path.settings(cfg), device))
        return Spy(channels_last=True, device_type="cpu")

    monkeypatch.setattr(fast_path, "resolve", resolve)
    r = probing.probe(TINY_MODEL, **KW, fast={"amp": "bf16", "channels_last": "on"})
    assert seen[0] == ({**fast_path.settings(_cfg()), "amp": "bf16", "channels_last": "on"}, "cpu")
    assert r.fast_path["channels_last"] is True
    # every timed step and both evaluation passes under its autocast
    assert next(entered) >= KW["warmup"] + 1 + 2


def _cfg(**kw):
    from pepr_desktop.core.training.config import TrainConfig

    return TrainConfig(dataset="d", model=TINY_MODEL, **kw)


def test_cache_keys_carry_the_resolved_fast_path(monkeypatch) -> None:
    import torch

    args = ("m", "cpu", 1, 2, 28, 28, 32, 256)
    # the CPU: "auto" and "off" are the same run, one entry; forcing one on is another
    assert ProbeCache.probe_key(*args) == ProbeCache.probe_key(*args, {"amp": "off"})
    assert ProbeCache.probe_key(*args) != ProbeCache.probe_key(*args, {"channels_last": "on"})
    assert "channels_last=False" in ProbeCache.probe_key(*args) and PROBE_VERSION >= 3
    # a GPU (faked at the boundary): "auto" is bf16 and channels-last, unlike plain fp32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    gpu = ("m", "cuda:0", 1, 2, 28, 28, 32, 256)
    auto = ProbeCache.probe_key(*gpu)
    assert "amp=bf16" in auto and "channels_last=True" in auto
    plain = {"amp": "off", "channels_last": "off", "cudnn_benchmark": "off", "tf32": "off"}
    assert ProbeCache.probe_key(*gpu, plain) != auto
    assert ProbeCache.probe_key(*gpu, {"compile_step": True}) != auto


def test_the_recommender_probes_and_keys_with_the_runs_fast_path(tmp_path) -> None:
    from pepr_desktop.core.search import recommend
    from pepr_desktop.core.search.plan import RunPlan
    from pepr_desktop.core.search.probe import ProbeResult

    calls: list[dict] = []

    def fake(name, **kw):
        calls.append(kw)
        return ProbeResult(0.01, 0.001, 10.0)

    plan = RunPlan("cpu", 1, 2, 28, 28, 1, 32, 256, 1.0, 100, 50, 1.0)
    cache = ProbeCache(tmp_path / "probe.json")
    fast = {"channels_last": "on"}
    recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake, fast)
    assert calls[-1]["fast"] == fast
    hit = recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake, fast)
    assert hit.source == "cached" and len(calls) == 1
    recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake, {"channels_last": "off"})
    assert len(calls) == 2  # another fast path: probed again, not the cached figure


def test_a_figure_timed_under_load_is_measured_again_when_the_machine_is_quieter(
    tmp_path, monkeypatch
) -> None:
    """A step time cached from a busy machine must not make a quiet one refuse every budget."""
    from pepr_desktop.core.search import probe as probing
    from pepr_desktop.core.search import recommend
    from pepr_desktop.core.search.plan import RunPlan
    from pepr_desktop.core.search.probe import ProbeResult

    step_s = {"now": 0.05}  # what a probe measures now: slow under load, fast when quiet
    calls: list[float] = []

    def fake(name, **kw):
        calls.append(step_s["now"])
        return ProbeResult(step_s["now"], 0.001, 10.0)

    load = {"now": 3.0}
    monkeypatch.setattr(probing, "load_per_core", lambda: load["now"])
    plan = RunPlan("cpu", 1, 2, 28, 28, 1, 32, 256, 1.0, 100, 50, 1.0)
    path = tmp_path / "probe.json"
    cache = ProbeCache(path)
    first = recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake)
    assert first.step_s == 0.05 and first.load == 3.0
    cache.save()
    cache = ProbeCache(path)  # another session, as busy: the cached figure serves
    assert recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake).source == "cached"
    load["now"], step_s["now"] = 0.2, 0.01  # the machine is quiet now
    again = recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake)
    assert again.source == "measured" and again.step_s == 0.01 and len(calls) == 2
    # the quiet figure replaced it, and is not re-taken when the load rises again
    load["now"] = 3.0
    hit = recommend._probe_cached(TINY_MODEL, 28, plan, 1e-3, cache, fake)
    assert hit.source == "cached" and hit.step_s == 0.01 and len(calls) == 2
    # a figure with no load recorded (an older cache, or Windows) is kept as it is
    assert not probing.taken_busier({"step_s": 1.0}, 0.0)
    assert not probing.taken_busier({"load": 3.0}, None)
