"""Peak memory per epoch window and per run (core/metering/peak_memory.py), on the CPU."""

from __future__ import annotations

import torch

from pepr_desktop.core.metering.peak_memory import PeakMemory, held_mb


class FakeProcess:
    """A process footprint that is huge before the run and grows by what the run allocates."""

    def __init__(self, start_mb: float) -> None:
        self.rss = start_mb

    def __call__(self) -> float:
        return self.rss


def test_cpu_peak_is_the_run_s_own_memory_never_the_app_s() -> None:
    app = FakeProcess(40_000.0)  # a GUI open for hours: 40 GB before the run starts
    mem = PeakMemory("cpu", held_mb=12.0, rss_mb=app)
    assert mem.method == "run_rss_growth" and not mem.cuda
    assert mem.close_window() == 12.0  # only what the run holds
    app.rss += 30.0  # the run's activations and optimiser state
    mem.poll()
    app.rss -= 20.0  # freed again before the window closes: the peak stays
    assert mem.close_window() == 42.0 and mem.run_peak == 42.0
    assert mem.window_peak == 0.0  # a new window starts
    assert mem.close_window() == 22.0 and mem.run_peak == 42.0  # the run keeps its maximum


def test_held_mb_counts_parameters_buffers_and_tensors_once() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.BatchNorm1d(256))
    x = torch.zeros(1024, 256, dtype=torch.uint8)
    params = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    expected = (params + x.numel()) / 2**20
    assert abs(held_mb(model, x, x) - expected) < 1e-9  # x passed twice counts once
