"""The cost probe: a few warm training steps of one model, exactly as the trainer runs them, and
an evaluation pass, timed on the chosen device; results cached per machine, device, shape and
fast path.

"Exactly as the trainer" includes the CUDA fast path (core/training/fast_path.py): the probe
resolves the run's settings with the trainer's own `fast_path.resolve` and trains under its
autocast, memory format, gradient scaler and compiled forward, so a GPU's prediction is for the
fast path the run will take. The resolved settings are part of the cache key (on the CPU "auto"
resolves to all off, so the CPU's figures are unchanged).

Memory is the run's own (`footprint.py`): on a GPU the growth of the allocator's reserved memory
(the paper's memR) over the probe, on the CPU its tensors counted in bytes. Never the process's
RSS: in the GUI that is the app's own memory, and it grows the longer the app is open.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pepr_desktop.core.models import catalog
from pepr_desktop.core.paths import cache_dir
from pepr_desktop.core.search import footprint
from pepr_desktop.core.training import fast_path

PROBE_FILE = "probe_cache.json"
# 2: memory is the run's own footprint (1 was process RSS growth); 3: timed on the fast path,
# which is in the key; 4: each figure records the load it was timed under (older ones did not,
# so those taken on a busy machine could never be re-taken)
PROBE_VERSION = 4


@dataclass
class ProbeResult:
    step_s: float  # one training step (forward, backward, Adam) at the real batch
    eval_s_per_image: float
    mem_mb: float  # the run's own: allocator growth (GPU) or counted tensors (CPU), data excluded
    source: str = "measured"
    cold_s: float = 0.0  # once per run: the first (cold) step and evaluation pass cost this more
    fast_path: dict[str, Any] | None = None  # the fast path as resolved (FastPath.record())
    load: float | None = None  # runnable threads per core as the probe began (None: unknown)

    def cached(self) -> dict[str, float]:
        """What the cache keeps (everything but the source)."""
        d = asdict(self)
        d.pop("source")
        return d


BUSY_LOAD = 1.0  # runnable threads per core from which a timing is "taken under load"
QUIETER_BY = 0.5  # ... and re-taken once the load per core has fallen by this much


def load_per_core() -> float | None:
    """The 1-minute load average per core; None where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (OSError, AttributeError):
        return None


def taken_busier(hit: dict[str, Any], now: float | None) -> bool:
    """Whether a cached probe was timed on a busier machine than this one is now.

    Cached for ever, a step time taken while other work shared the cores makes every later
    budget look too small on a quiet machine (a 1.5-minute demo was refused "no model fits"
    for figures from a load of 3 per core), so such a figure is measured again."""
    then = hit.get("load")
    if then is None or now is None:
        return False
    return then >= BUSY_LOAD and now <= then - QUIETER_BY


@cache
def machine_id() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{socket.gethostname()}|{cpu}|{os.cpu_count()}|t{torch.get_num_threads()}|"
        f"torch{torch.__version__}"
    )


class ProbeCache(catalog.FactsCache):
    """Probe results per machine, device, model and input shape."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path or cache_dir() / PROBE_FILE)

    @staticmethod
    def probe_key(
        name: str,
        device: str,
        channels: int,
        n_classes: int,
        native: int,
        size: int,
        batch: int,
        eval_batch: int,
        fast: dict[str, Any] | None = None,
    ) -> str:
        """`fast`: the run's fast-path settings (TrainConfig fields; None: the defaults), keyed
        as they resolve on `device`, so "auto" and "off" share a CPU entry."""
        rec = resolve_fast(fast, device).record()
        fp = ",".join(f"{k}={rec[k]}" for k in sorted(rec))
        return (
            f"v{PROBE_VERSION}|{machine_id()}|{device}|{name}|c{channels}|k{n_classes}|"
            f"n{native}|s{size}|b{batch}|e{eval_batch}|{fp}"
        )


def resolve_fast(fast: dict[str, Any] | None, device: str) -> fast_path.FastPath:
    """The trainer's resolution of fast-path settings (TrainConfig fields) on `device`."""
    from pepr_desktop.core.training.config import TrainConfig

    return fast_path.resolve(TrainConfig(dataset="", model="", **(fast or {})), device)


def _timed_steps(
    step: Any, sync: Any, warmup: int, max_steps: int, max_step_time_s: float
) -> tuple[list[float], float]:
    """Run `step(first)` until enough warm timings exist; (warm step times, the first step's)."""
    times: list[float] = []
    first = 0.0
    for i in range(warmup + max_steps):
        sync()
        t0 = time.perf_counter()
        step(i == 0)
        sync()
        dt = time.perf_counter() - t0
        if i == 0:
            first = dt
        if i >= warmup or (i > 0 and dt > max_step_time_s):
            times.append(dt)  # a slow model: its second step is warm enough
            if sum(times) > max_step_time_s * 2:
                break
    return times, first


def _timed_evaluation(
    model: Any, norm: Any, xe: Any, sync: Any, largest: Any | None, fast: fast_path.FastPath
) -> list[float]:
    """Two timed evaluation passes (cold, warm) over `xe`, under the run's autocast as the
    trainer evaluates; the cold one tallies the largest activation when `largest` is given (the
    CPU memory figure)."""
    import torch

    times = []
    with torch.inference_mode():
        for i in range(2):
            sync()
            t0 = time.perf_counter()
            tally = i == 0 and largest is not None
            with largest if tally else contextlib.nullcontext(), fast.autocast():
                x = norm(xe)
                if tally:
                    largest.add(x)
                torch.softmax(model(x).float(), 1).cpu()
            sync()
            times.append(time.perf_counter() - t0)
    return times


def probe(
    name: str,
    *,
    channels: int,
    n_classes: int,
    native_size: int,
    input_size: int,
    batch_size: int,
    eval_batch_size: int,
    device: str,
    lr: float = 5e-4,
    warmup: int = 2,
    max_steps: int = 5,
    max_step_time_s: float = 1.0,
    fast: dict[str, Any] | None = None,
) -> ProbeResult:
    """Time warm training steps of `name` exactly as the trainer runs them (uint8 batch gathered
    by index, normalised and resized on the device, Adam, the fast path that `fast` resolves to:
    TrainConfig fields, None = the defaults) and measure the run's own memory."""
    import torch

    from pepr_desktop.core.models.build import build_model
    from pepr_desktop.core.training.tensors import Normalizer

    dev = torch.device(device)
    cuda = device.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        reserved0 = torch.cuda.memory_reserved(dev)
    g = torch.Generator().manual_seed(0)
    n_pool = batch_size * 2
    shape = (n_pool, channels, native_size, native_size)
    pool = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8).to(device)
    labels = torch.randint(0, n_classes, (n_pool,), generator=g).to(device)
    resize = input_size if input_size != native_size else None
    norm = Normalizer((0.5,) * channels, (0.5,) * channels, resize, device)
    model = build_model(name, in_chans=channels, num_classes=n_classes, image_size=input_size)
    fp = resolve_fast(fast, device)
    model = fp.prepare_model(model.to(device))  # as the trainer's `prepare`
    forward = fp.forward or model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    loss_sum = torch.zeros((), device=device)
    # the run's own memory on the CPU, tallied during the cold step and pass (not timed)
    saved, largest = footprint.SavedForBackward(model), footprint.LargestModule(model)

    def step(first: bool) -> None:
        idx = torch.randperm(n_pool, generator=g)[:batch_size].to(device)
        xb = fp.inputs(norm(pool[idx]))
        opt.zero_grad(set_to_none=True)
        tally = first and not cuda
        # the tally's hooks on the plain module: a compiled graph would not call them
        fwd = model if tally else forward
        with saved if tally else contextlib.nullcontext(), fp.autocast():
            loss = loss_fn(fwd(xb), labels[idx])
        if tally:
            saved.add(xb)
        fp.step(loss, opt)
        loss_sum.add_(loss.detach() * len(idx))

    compile_s = _compile_step(step, sync) if fp.compiled else 0.0
    times, first_step = _timed_steps(step, sync, warmup, max_steps, max_step_time_s)
    model.eval()
    eb = max(1, min(eval_batch_size, 128))
    xe = pool[:eb] if eb <= n_pool else pool.repeat((eb + n_pool - 1) // n_pool, 1, 1, 1)[:eb]
    eval_times = _timed_evaluation(model, norm, xe, sync, largest if not cuda else None, fp)
    if cuda:
        mem = (torch.cuda.max_memory_reserved(dev) - reserved0) / 2**20
    else:  # evaluation memory grows with the batch: tallied at `eb`, scaled to the real one
        eval_bytes = largest.bytes * eval_batch_size / len(xe)
        mem = (footprint.state_bytes(model, opt) + max(saved.bytes, eval_bytes)) / 2**20
    step_s = statistics.median(times)
    # once per run: the cold first step and evaluation pass, and the compile
    cold = sum(max(0.0, a - b) for a, b in ((first_step, step_s), (compile_s, step_s), eval_times))
    per_image = eval_times[1] / len(xe)
    return ProbeResult(step_s, per_image, max(mem, 0.0), cold_s=cold, fast_path=fp.record())


def _compile_step(step: Any, sync: Any) -> float:
    """One untimed step that compiles the forward (once per run: a cold cost, not a step's)."""
    sync()
    t0 = time.perf_counter()
    step(False)
    sync()
    return time.perf_counter() - t0
