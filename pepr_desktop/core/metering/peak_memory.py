"""Peak memory of a run, per epoch and overall (the paper's memR).

On a GPU it is the allocator's peak reserved memory (the paper's figure). On the CPU it is the
run's own memory: what the run holds before its first batch (model, data tensors, measured as
their bytes) plus the growth of the process's RSS over the run (activations, gradients,
optimiser state). The process's own memory (the app, its libraries, earlier runs' caches) is not
counted: it would make a 0.6M-parameter model "need" 900 MB in a GUI that has been open for a
while, and a memory budget would stop it at once. The recommender predicts the same quantity
(core/search/probe.py), so prediction and measurement compare like with like.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def _process_rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


class PeakMemory:
    """Peak CUDA reserved memory on a GPU; the run's own peak (held bytes + RSS growth) on the CPU.

    `held_mb`: what the run already holds when the meter starts (model, optimiser, data tensors).
    `rss_mb`: the process footprint reader (a parameter so tests can fake a huge, growing one).
    """

    def __init__(
        self, device: str, held_mb: float = 0.0, rss_mb: Callable[[], float] = _process_rss_mb
    ) -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        self.method = "cuda_reserved" if self.cuda else "run_rss_growth"
        self._rss_mb = rss_mb
        self._held_mb = max(0.0, held_mb)
        self._base_rss = 0.0 if self.cuda else rss_mb()
        self.window_peak = 0.0
        self.run_peak = 0.0

    def poll(self) -> None:
        """Sample the run's own memory (on a GPU the driver keeps the peak itself)."""
        if not self.cuda:
            own = self._held_mb + max(0.0, self._rss_mb() - self._base_rss)
            self.window_peak = max(self.window_peak, own)

    def close_window(self) -> float:
        """The peak (MiB) since the last call, which starts a new window."""
        if self.cuda:
            import torch

            peak = torch.cuda.max_memory_reserved(torch.device(self.device)) / 2**20
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
        else:
            self.poll()
            peak = self.window_peak
        self.window_peak = 0.0
        self.run_peak = max(self.run_peak, peak)
        return peak


def held_mb(*objects: object) -> float:
    """MiB held by tensors and modules (parameters and buffers), counted once each."""
    seen: set[int] = set()
    total = 0
    for obj in objects:
        tensors = []
        if hasattr(obj, "parameters") and hasattr(obj, "buffers"):
            tensors = [*obj.parameters(), *obj.buffers()]
        elif hasattr(obj, "untyped_storage"):
            tensors = [obj]
        for t in tensors:
            key = t.untyped_storage().data_ptr()
            if key not in seen:
                seen.add(key)
                total += t.untyped_storage().nbytes()
    return total / 2**20
