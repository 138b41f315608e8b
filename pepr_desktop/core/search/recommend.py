"""Which models fit a budget on this machine, and which should score best.

Three steps, cheapest first:

1. **Prune** the catalogue without building anything: the catalogue prior gives parameters at the
   dataset's classes and FLOPs at its size, so models over `max_params`, models whose weights,
   gradients and Adam state alone (16 bytes/parameter) exceed the memory budget, and models that
   cannot run at any size are dropped. The rest are probed in ascending FLOPs.
2. **Probe** each survivor on the chosen device: a few warm forward+backward+Adam steps at the real
   batch and input size, an inference pass for the per-epoch evaluation, and the peak memory
   (process RSS growth on the CPU, `max_memory_reserved` on a GPU). Time is extrapolated to
   epochs x batches + evaluation; energy is that time x a power figure (see `power_estimate`).
   Before each probe the time is bounded from below by the best training FLOP/s measured so far
   on models of comparable compute (tiny models are overhead-bound, so their FLOP/s says nothing
   about big ones); a model that cannot fit even at twice that speed is not probed. Probing
   stops at a deadline so a recommendation stays under a minute; probe results are cached per
   machine, device and shape.
3. **Rank** the candidates that fit every budget by expected PePR = acc / (1 + R_n) over that set
   (R = energy, time, memory or CO2 by `by`). Expected accuracy comes from the user's own runs on
   this dataset, else the PePR paper's final-epoch test accuracy (`test_09`) in the nearest
   experiment (`paper_experiment`), else a stated fallback; each candidate says which.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import platform
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pepr_desktop.core.budget import Budget as Budget  # its home; imported from here too
from pepr_desktop.core.data.sources import DatasetInfo
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models import catalog
from pepr_desktop.core.paths import cache_dir
from pepr_desktop.core.resources import RESOURCES
from pepr_desktop.core.scoring.pepr import pepr_scores
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.train import resolve_device

log = logging.getLogger(__name__)

BY = {r.resource: r.predicted for r in RESOURCES.values()}  # --by choice -> Candidate field
PROBE_FILE = "probe_cache.json"
PROBE_VERSION = 1
DEFAULT_TIME_LIMIT_S = 40.0  # probing deadline; the rest of the minute is imports and facts
OPTIMIZER_BYTES_PER_PARAM = 16  # fp32 weights + gradients + Adam's two moments
DEFAULT_CARBON_G_PER_KWH = 475.0  # IEA world average 2019; only scales co2 (ranking = energy)
SAFETY_THROUGHPUT = 2.0  # a model may train this much faster than the best FLOP/s seen so far
MAX_UPSCALE = 4  # models needing a larger input than this x the image size are not offered
COMPARABLE_SCALE = 0.25  # FLOP/s seen on models >= this share of a model's FLOPs bound its time


@dataclass
class Candidate:
    model: str
    params: int
    flops: float
    pretrained: bool
    predicted_time_s: float
    predicted_energy_wh: float | None
    predicted_memory_mb: float
    expected_acc: float
    acc_source: str
    expected_pepr: float | None
    fits: bool
    why: str
    family: str = ""
    image_size: int = 0  # the input size it would train at
    predicted_co2_g: float | None = None
    step_s: float = 0.0
    eval_s_per_image: float = 0.0
    probe: str = ""  # "measured" or "cached"
    over: list[str] = field(default_factory=list)  # which budgets it breaks, with what it needs
    pretrained_note: str = ""
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Recommendation:
    candidates: list[Candidate]
    fitting: list[Candidate]
    message: str
    by: str
    seconds: float
    budget: Budget = field(default_factory=Budget)
    device: str = "cpu"
    power_w: float | None = None
    power_source: str = ""
    experiment: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidates"] = [c.to_dict() for c in self.candidates]
        d["fitting"] = [c.model for c in self.fitting]
        return d


# ------------------------------------------------------------------ expected accuracy


@cache
def paper_results() -> tuple[dict[str, str], ...]:
    """The paper's measured rows (`resources/pepr_paper/` when bundled, else ../shared/data)."""
    from pepr_desktop.resources_path import resource

    candidates = [Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "pepr_paper"]
    with contextlib.suppress(FileNotFoundError):
        candidates.insert(0, resource("pepr_paper"))
    for folder in candidates:
        path = folder / "all_results.csv"
        if path.is_file():
            with open(path, newline="") as fh:
                return tuple(csv.DictReader(fh))
    log.warning("the PePR paper's results are not bundled; accuracy priors are unavailable")
    return ()


def paper_experiment(info: DatasetInfo, cfg: TrainConfig) -> str | None:
    """The paper experiment nearest to this dataset (documented mapping).

    - name or class names mention pneumonia, or a grey binary task -> "pneumonia"
    - name mentions derma, or a 7-class colour task -> "derma" ("derma_pt" when pretrained)
    - name mentions lidc -> "lidc"
    - any other binary task -> "pneumonia"; any other colour task -> "derma"
    - a training subset of <= 25 % (`data_fraction`) -> the experiment's "_small" variant
    Anything else has no paper prior.
    """
    text = " ".join([info.name, *info.class_names]).lower()
    if "pneumonia" in text or (info.n_classes == 2 and info.channels == 1):
        exp = "pneumonia"
    elif "derma" in text or (info.n_classes == 7 and info.channels == 3):
        exp = "derma"
    elif "lidc" in text:
        exp = "lidc"
    elif info.n_classes == 2:
        exp = "pneumonia"
    elif info.channels == 3:
        exp = "derma"
    else:
        return None
    if exp == "derma" and (cfg.pretrained or cfg.weights) and cfg.data_fraction > 0.25:
        return "derma_pt"
    if cfg.data_fraction <= 0.25:
        exp += "_small"
    return exp


def _paper_accuracy(experiment: str | None) -> dict[str, float]:
    if not experiment:
        return {}
    out = {}
    for r in paper_results():
        if r["dataset"] == experiment:
            try:
                out[r["model"]] = float(r["test_09"])
            except ValueError:
                continue
    return out


def expected_accuracy(
    models: list[str], info: DatasetInfo, store: Store | None, cfg: TrainConfig
) -> tuple[dict[str, tuple[float, str]], str | None]:
    """{model: (accuracy, source)} and the paper experiment used."""
    own: dict[str, list[float]] = {}
    if store is not None:
        for r in store.runs(dataset=info.name):
            if r.get("status") in ("finished", "stopped") and r.get("test_acc") is not None:
                own.setdefault(r["model"], []).append(float(r["test_acc"]))
    exp = paper_experiment(info, cfg)
    paper = _paper_accuracy(exp)
    fam_acc: dict[str, list[float]] = {}
    for m, a in paper.items():
        fam_acc.setdefault(catalog.family_of(m), []).append(a)
    out: dict[str, tuple[float, str]] = {}
    for m in models:
        if m in own:
            n = len(own[m])
            out[m] = (statistics.fmean(own[m]), f"your {n} run{'s' * (n > 1)} on {info.name}")
        elif m in paper:
            out[m] = (paper[m], f"paper '{exp}' (test acc after 10 epochs)")
        elif paper and catalog.family_of(m) in fam_acc:
            fam = catalog.family_of(m)
            out[m] = (
                statistics.median(fam_acc[fam]),
                f"paper '{exp}' median of the {fam} family (model not in the paper)",
            )
        elif paper:
            out[m] = (
                statistics.median(paper.values()),
                f"paper '{exp}' median of all models (model not in the paper)",
            )
        elif own:
            out[m] = (
                statistics.median(v for vs in own.values() for v in vs),
                f"median of your runs on {info.name} (other models)",
            )
        else:
            out[m] = (1.0 / max(info.n_classes, 1), f"no prior: chance level 1/{info.n_classes}")
    return out, exp


# ------------------------------------------------------------------ power


def power_estimate(device: str) -> tuple[float | None, str]:
    """Watts while training on `device`, and how that figure was obtained."""
    if device.startswith("cuda"):
        try:
            import pynvml

            pynvml.nvmlInit()
            idx = int(device.split(":")[1]) if ":" in device else 0
            h = pynvml.nvmlDeviceGetHandleByIndex(idx)
            watts = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000 * 0.7
            return watts, "estimate: 70% of the GPU's power limit (NVML)"
        except Exception:
            return 250.0, "estimate: 250 W assumed for the GPU (NVML unavailable)"
    # The same CPU power figure the meter's estimate uses, so predictions and measurements agree.
    from pepr_desktop.core.metering import MeterSettings
    from pepr_desktop.core.metering.cpu_estimate import default_tdp_w

    tdp = MeterSettings().cpu_tdp_w or default_tdp_w()
    return float(tdp), f"estimate: CPU power {tdp:g} W at full load (the meter's TDP setting)"


def carbon_intensity() -> tuple[float, str]:
    return DEFAULT_CARBON_G_PER_KWH, f"{DEFAULT_CARBON_G_PER_KWH:g} g/kWh (world average)"


# ------------------------------------------------------------------ the probe


@dataclass
class ProbeResult:
    step_s: float  # one training step (forward, backward, Adam) at the real batch
    eval_s_per_image: float
    mem_mb: float  # growth of RSS (CPU) or reserved CUDA memory during the steps
    source: str = "measured"
    cold_s: float = 0.0  # once per run: the first (cold) step and evaluation pass cost this more


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


class _RssPeak:
    """Polls the process RSS in a thread: the CPU has no allocator peak counter."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.003):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _RssPeak:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


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
) -> ProbeResult:
    """Time warm training steps of `name` exactly as the trainer runs them (uint8 batch gathered
    by index, normalised and resized on the device, Adam) and measure peak memory."""
    import psutil
    import torch

    from pepr_desktop.core.models.build import build_model
    from pepr_desktop.core.training.train import Normalizer

    cuda = device.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(torch.device(device))) if cuda else (lambda: None)
    rss0 = psutil.Process().memory_info().rss
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(torch.device(device))
        reserved0 = torch.cuda.memory_reserved(torch.device(device))
    g = torch.Generator().manual_seed(0)
    n_pool = batch_size * 2
    pool = torch.randint(
        0, 256, (n_pool, channels, native_size, native_size), generator=g, dtype=torch.uint8
    ).to(device)
    labels = torch.randint(0, n_classes, (n_pool,), generator=g).to(device)
    resize = input_size if input_size != native_size else None
    norm = Normalizer((0.5,) * channels, (0.5,) * channels, resize, device)
    with _RssPeak() as rss:
        model = build_model(
            name, in_chans=channels, num_classes=n_classes, image_size=input_size
        ).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        loss_sum = torch.zeros((), device=device)
        times: list[float] = []
        first_step = 0.0
        for i in range(warmup + max_steps):
            idx = torch.randperm(n_pool, generator=g)[:batch_size].to(device)
            sync()
            t0 = time.perf_counter()
            xb = norm(pool[idx])
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), labels[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            sync()
            dt = time.perf_counter() - t0
            if i == 0:
                first_step = dt
            if i >= warmup or (i > 0 and dt > max_step_time_s):
                times.append(dt)  # a slow model: its second step is warm enough
                if sum(times) > max_step_time_s * 2:
                    break
        model.eval()
        eb = max(1, min(eval_batch_size, 128))
        xe = pool[:eb] if eb <= n_pool else pool.repeat((eb + n_pool - 1) // n_pool, 1, 1, 1)[:eb]
        eval_times = []
        with torch.inference_mode():
            for _ in range(2):
                sync()
                t0 = time.perf_counter()
                torch.softmax(model(norm(xe)).float(), 1).cpu()
                sync()
                eval_times.append(time.perf_counter() - t0)
    if cuda:
        mem = (torch.cuda.max_memory_reserved(torch.device(device)) - reserved0) / 2**20
    else:
        mem = (rss.peak - rss0) / 2**20
    del model, opt
    step = statistics.median(times)
    cold = max(0.0, first_step - step) + max(0.0, eval_times[0] - eval_times[1])
    return ProbeResult(step, eval_times[1] / len(xe), max(mem, 0.0), cold_s=cold)


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
    ) -> str:
        return (
            f"{machine_id()}|{device}|{name}|c{channels}|k{n_classes}|n{native}|s{size}|"
            f"b{batch}|e{eval_batch}"
        )


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face hub answers (pretrained downloads possible)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------ recommend


def split_sizes(info: DatasetInfo) -> dict[str, int]:
    """Images per split: recorded at import, else counted from the file's label arrays."""
    if info.split_sizes:
        return {k: int(v) for k, v in info.split_sizes.items()}
    if info.path is not None and Path(info.path).is_file():
        import numpy as np

        with np.load(info.path) as z:
            return {
                s: len(z[f"{s}_labels"])
                for s in ("train", "val", "test")
                if f"{s}_labels" in z.files
            }
    raise UserError(
        f"the size of dataset '{info.name}' is unknown (not downloaded yet?); train or import it "
        "once, then ask again."
    )


def _train_count(sizes: dict[str, int], n_classes: int, cfg: TrainConfig) -> int:
    n = sizes.get("train", 0)
    return max(n_classes, round(n * cfg.data_fraction)) if n else 0


def _batches(n: int, bs: int) -> int:
    full, rest = divmod(n, bs)
    return full + (1 if rest > 1 else 0) if n else 0


def _fmt_time(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def recommend(
    info: DatasetInfo,
    store: Store,
    budget: Budget,
    cfg: TrainConfig,
    *,
    by: str = "energy",
    top: int = 10,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    names: list[str] | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    probe_fn: Callable[..., ProbeResult] | None = None,
    online: Callable[[], bool] | None = None,
    power_w: float | None = None,
) -> Recommendation:
    """Models that fit `budget` for training `info` with `cfg`'s settings, best expected PePR
    first. `names` restricts the pool (default: the catalogue); `probe_fn` replaces the probe
    (tests give fixed costs); `online` says whether the hub can be reached; `power_w` overrides
    the power figure used for energy."""
    t_start = time.perf_counter()
    if by not in BY:
        raise UserError(f"--by must be one of {', '.join(BY)}, not '{by}'.")
    budget.validate()
    if top < 1:
        raise UserError(f"top must be at least 1, not {top}.")
    device = resolve_device(cfg.device)
    probe_fn = probe_fn or probe
    online = online or hub_reachable
    native = info.image_size
    size = cfg.image_size or native
    c, k = info.channels, info.n_classes
    sizes = split_sizes(info)
    n_train = _train_count(sizes, k, cfg)
    n_eval = sizes.get("val", 0) + sizes.get("test", 0)
    n_batches = _batches(n_train, cfg.batch_size)
    if power_w is not None:
        power_source = f"your setting: {power_w:g} W"
    else:
        power_w, power_source = power_estimate(device)
    intensity, _ = carbon_intensity()
    dataset_mb = sum(sizes.values()) * c * native * native / 2**20 * 2
    import psutil

    base_mb = 0.0 if device.startswith("cuda") else psutil.Process().memory_info().rss / 2**20

    # 1. prune with the prior
    pool = names if names is not None else [e.model for e in catalog.entries()]
    skipped: list[dict[str, str]] = []
    todo: list[tuple[float, str, int]] = []  # (prior flops, name, input size)
    for name in pool:
        e = catalog.entry(name)
        if e is None:
            todo.append((math.inf, name, size))
            continue
        approx = e.approx_params(k)
        if budget.max_params is not None and approx * 0.9 > budget.max_params:
            skipped.append({"model": name, "why": f"~{approx / 1e6:.1f}M params > max params"})
            continue
        if (
            budget.memory_mb is not None
            and approx * OPTIMIZER_BYTES_PER_PARAM / 2**20 > budget.memory_mb
        ):
            skipped.append(
                {
                    "model": name,
                    "why": (
                        f"weights, gradients and Adam state alone need "
                        f"{approx * OPTIMIZER_BYTES_PER_PARAM / 2**20:.0f} MB"
                    ),
                }
            )
            continue
        if not e.min_size:
            skipped.append({"model": name, "why": "does not run at any input size tried"})
            continue
        in_size = size if cfg.image_size or e.min_size <= size else e.min_size
        if in_size > MAX_UPSCALE * size:
            skipped.append(
                {
                    "model": name,
                    "why": (
                        f"needs >= {in_size} px input: more than {MAX_UPSCALE}x the images' "
                        f"{size} px"
                    ),
                }
            )
            continue
        todo.append((e.approx_flops(in_size) or math.inf, name, in_size))
    todo.sort()

    # 2. exact facts, then probe in ascending FLOPs until the deadline
    facts_cache = catalog.FactsCache()
    probe_cache = ProbeCache()
    acc, experiment = expected_accuracy([n for _, n, _ in todo], info, store, cfg)
    want_pretrained = bool(cfg.pretrained)
    online_state: list[bool] = []
    seen_speed: list[tuple[float, float]] = []  # (training FLOPs per step, FLOP/s)
    cands: list[Candidate] = []
    cancelled = False
    time_cap_s = None
    if budget.time_min is not None:
        time_cap_s = budget.time_min * 60
    if budget.energy_wh is not None and power_w:
        energy_cap = budget.energy_wh * 3600 / power_w
        time_cap_s = energy_cap if time_cap_s is None else min(time_cap_s, energy_cap)
    try:
        for i, (_prior, name, in_size) in enumerate(todo):
            if should_stop and should_stop():
                cancelled = True
                break
            if progress:
                progress(i, len(todo), name)
            if time.perf_counter() - t_start > time_limit_s:
                skipped += [
                    {
                        "model": n,
                        "why": f"not probed: the {time_limit_s:.0f} s "
                        "recommendation time limit was reached",
                    }
                    for _, n, _ in todo[i:]
                ]
                break
            f = catalog.facts(name, c, k, in_size, cache=facts_cache)
            if f.error:
                skipped.append({"model": name, "why": f.error})
                continue
            if budget.max_params is not None and f.params > budget.max_params:
                skipped.append({"model": name, "why": f"{f.params:,} params > max params"})
                continue
            in_size = f.input_size
            step_flops = 3 * (f.flops or 0.0) * cfg.batch_size
            comparable = [v for fl, v in seen_speed if fl >= COMPARABLE_SCALE * step_flops]
            if time_cap_s is not None and comparable and step_flops:
                best_flops_per_s = max(comparable)
                lower = cfg.epochs * n_batches * step_flops / (best_flops_per_s * SAFETY_THROUGHPUT)
                if lower > time_cap_s:
                    skipped.append(
                        {
                            "model": name,
                            "why": (
                                f"would need >= {_fmt_time(lower)} even at the best training speed "
                                "measured here; not probed"
                            ),
                        }
                    )
                    continue
            key = ProbeCache.probe_key(
                name, device, c, k, native, in_size, cfg.batch_size, cfg.eval_batch_size
            )
            hit = probe_cache.get(key)
            if hit is not None:
                pr = ProbeResult(**{**hit, "source": "cached"})
            else:
                try:
                    pr = probe_fn(
                        name,
                        channels=c,
                        n_classes=k,
                        native_size=native,
                        input_size=in_size,
                        batch_size=cfg.batch_size,
                        eval_batch_size=cfg.eval_batch_size,
                        device=device,
                        lr=cfg.lr,
                    )
                except (MemoryError, RuntimeError) as exc:
                    skipped.append(
                        {
                            "model": name,
                            "why": f"probe failed: "
                            f"{str(exc).splitlines()[0][:100] if str(exc) else exc}",
                        }
                    )
                    continue
                probe_cache.put(
                    key,
                    {
                        "step_s": pr.step_s,
                        "eval_s_per_image": pr.eval_s_per_image,
                        "cold_s": pr.cold_s,
                        "mem_mb": pr.mem_mb,
                    },
                )
            if step_flops and pr.step_s > 0:
                seen_speed.append((step_flops, step_flops / pr.step_s))
            t_pred = cfg.epochs * (n_batches * pr.step_s + n_eval * pr.eval_s_per_image)
            t_pred += pr.cold_s
            energy = power_w * t_pred / 3600 if power_w else None
            pretrained, note = _pretrained_choice(f, cfg, want_pretrained, online, online_state)
            a, src = acc[name]
            cands.append(
                Candidate(
                    model=name,
                    params=f.params,
                    flops=f.flops or 0.0,
                    pretrained=pretrained,
                    predicted_time_s=t_pred,
                    predicted_energy_wh=energy,
                    predicted_memory_mb=base_mb + dataset_mb + pr.mem_mb,
                    expected_acc=a,
                    acc_source=src,
                    expected_pepr=None,
                    fits=True,
                    why="",
                    family=f.family,
                    image_size=in_size,
                    predicted_co2_g=energy / 1000 * intensity if energy is not None else None,
                    step_s=pr.step_s,
                    eval_s_per_image=pr.eval_s_per_image,
                    probe=pr.source,
                    pretrained_note=note,
                )
            )
    finally:
        facts_cache.save()
        probe_cache.save()
    if progress:
        progress(len(todo), len(todo), "")
    return rank(
        cands,
        budget,
        by=by,
        top=top,
        seconds=time.perf_counter() - t_start,
        extra={
            "device": device,
            "power_w": power_w,
            "power_source": power_source,
            "experiment": experiment,
            "skipped": skipped,
            "cancelled": cancelled,
            "settings": {
                "epochs": cfg.epochs,
                "batch_size": cfg.batch_size,
                "image_size": size,
                "data_fraction": cfg.data_fraction,
                "train_images": n_train,
                "batches_per_epoch": n_batches,
                "eval_images": n_eval,
                "device": device,
            },
        },
    )


def _pretrained_choice(
    f: catalog.ModelFacts,
    cfg: TrainConfig,
    want: bool,
    online: Callable[[], bool],
    online_state: list[bool],
) -> tuple[bool, str]:
    """Pretrained only when weights are at hand: --weights for this model, the local cache, or
    the hub when it answers and pretrained was asked for."""
    if cfg.weights and cfg.model == f.model:
        return True, f"pretrained from {Path(cfg.weights).name}"
    if not f.pretrained_tags:
        return False, "from scratch: timm has no pretrained weights for it"
    if f.weights_cached:
        return True, "pretrained: weights are in the local cache"
    if want:
        if not online_state:
            online_state.append(online())
        if online_state[0]:
            return True, "pretrained: weights will download from the hub"
        return False, (
            "from scratch: no cached weights and the hub is unreachable (offline); "
            "pass --weights FILE to fine-tune"
        )
    return False, "from scratch (pretrained weights exist but are not cached; --pretrained)"


def rank(
    cands: list[Candidate],
    budget: Budget,
    *,
    by: str = "energy",
    top: int = 10,
    seconds: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> Recommendation:
    """Check every budget, score the fitting set by expected PePR, explain each place."""
    attr = BY[by]
    for cd in cands:
        cd.over = []
        if budget.time_min is not None and cd.predicted_time_s > budget.time_min * 60:
            cd.over.append(f"time {cd.predicted_time_s / 60:.1f} min")
        if budget.energy_wh is not None and (
            cd.predicted_energy_wh is None or cd.predicted_energy_wh > budget.energy_wh
        ):
            cd.over.append(f"energy {cd.predicted_energy_wh or float('nan'):.3g} Wh")
        if budget.memory_mb is not None and cd.predicted_memory_mb > budget.memory_mb:
            cd.over.append(f"memory {cd.predicted_memory_mb:.0f} MB")
        if budget.max_params is not None and cd.params > budget.max_params:
            cd.over.append(f"{cd.params:,} params")
        cd.fits = not cd.over
        cd.expected_pepr = None
        cd.rank = None
    fitting = [cd for cd in cands if cd.fits]
    scores = pepr_scores([cd.expected_acc for cd in fitting], [getattr(cd, attr) for cd in fitting])
    for cd, s in zip(fitting, scores):
        cd.expected_pepr = s
    fitting.sort(key=lambda cd: (-(cd.expected_pepr or 0.0), getattr(cd, attr) or 0.0))
    label = {"energy": "E", "time": "T", "memory": "M", "co2": "C"}[by]
    if fitting:
        lo = min(getattr(cd, attr) or 0.0 for cd in fitting)
        for i, cd in enumerate(fitting, 1):
            cd.rank = i
            res = getattr(cd, attr) or 0.0
            rel = "the least" if res == lo else f"{res / lo:.1f}x the least" if lo else ""
            cd.why = (
                f"#{i} of {len(fitting)} fitting: expected PePR-{label} "
                f"{cd.expected_pepr:.3f} = acc {cd.expected_acc:.3f} ({cd.acc_source}) / "
                f"(1 + normalised {by}); uses {rel} {by} of the set. {cd.pretrained_note}"
            )
    rest = sorted((cd for cd in cands if not cd.fits), key=lambda cd: getattr(cd, attr) or 0.0)
    for cd in rest:
        cd.why = f"does not fit: would need {', '.join(cd.over)} ({budget.describe()})"
    shown_fit = fitting[:top]
    if fitting:
        best = fitting[0]
        message = (
            f"{len(fitting)} of {len(cands)} probed models fit {budget.describe()}; best "
            f"expected PePR-{label}: {best.model} (acc {best.expected_acc:.3f}, "
            f"{_fmt_time(best.predicted_time_s)})."
        )
        ordered = shown_fit + rest[: max(0, top - len(shown_fit))]
    elif cands:
        cheap = rest[:3]
        message = (
            f"Nothing fits {budget.describe()}. Cheapest: "
            + "; ".join(f"{cd.model} would need {', '.join(cd.over)}" for cd in cheap)
            + "."
        )
        ordered = rest[:top]
    else:
        message = f"No model could be evaluated for {budget.describe()} (see skipped)."
        ordered = []
    extra = dict(extra or {})
    if extra.get("cancelled"):
        message = "Cancelled; partial result. " + message
    return Recommendation(
        candidates=ordered,
        fitting=shown_fit,
        message=message,
        by=by,
        seconds=seconds,
        budget=budget,
        **extra,
    )


def recommend_for(
    dataset: str,
    open_store: Callable[[], Any],
    budget: Budget,
    cfg: TrainConfig,
    *,
    by: str = "energy",
    **kwargs: Any,
) -> Recommendation:
    """`recommend` for the dataset named `dataset`, on a store that `open_store()` opens as a
    context manager (and closes when done). The caller chooses the store: the GUI passes a
    `RemoteStore` opener (it must not open a `Store`), the CLI its own. `kwargs` go to
    `recommend` (top, progress, should_stop, names, ...)."""
    from pepr_desktop.core.data import registry as datasets

    with open_store() as store:
        info = datasets.resolve(dataset, store)
        return recommend(info, store, budget, cfg, by=by, **kwargs)
