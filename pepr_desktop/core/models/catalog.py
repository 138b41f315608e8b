"""The model catalogue: which timm architectures the app offers, and their facts at a given input.

`resources/catalog.csv` is the curated list: the 130 architectures the PePR paper measured that the
installed timm still knows (`gluon_xception65` was renamed and is left out), plus small and common
ones the paper did not cover (MobileNetV3, LCNet, RegNet, ConvNeXt atto..tiny, ViT/DeiT tiny/small,
ResNet10t/18/50 ...). Each row carries a *prior*: parameters without the classifier and the
classifier's input width (so parameters at K classes are exact up to the stem's channels), forward
FLOPs of one 3-channel image at 28, 64 and 224 px, and the smallest input the model accepts. The
prior lets the recommender prune by parameters and FLOPs without building anything; the exact facts
at the dataset's channels, classes and size are measured on torch's meta device (no weights are
allocated) and cached in `cache_dir()/catalog_facts.json`. `python -m
pepr_desktop.core.models.catalog`
regenerates the csv.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pepr_desktop.core.paths import cache_dir

log = logging.getLogger(__name__)

FACTS_FILE = "catalog_facts.json"
FACTS_VERSION = 1
PROBE_SIZES = (8, 16, 24, 28, 32, 48, 64, 96, 128, 160, 192, 224, 256, 288, 320)
PRIOR_SIZES = (28, 64, 224)

# Extra architectures beyond the paper's model space: small, efficient and common baselines.
EXTRA_MODELS = [
    "resnet10t",
    "resnet18",
    "resnet26",
    "resnet34",
    "resnet50",
    "mobilenetv3_small_050",
    "mobilenetv3_small_075",
    "mobilenetv3_small_100",
    "mobilenetv3_large_075",
    "mobilenetv3_large_100",
    "mobilenetv2_100",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_lite0",
    "lcnet_050",
    "lcnet_075",
    "lcnet_100",
    "ghostnet_050",
    "repghostnet_050",
    "regnetx_002",
    "regnetx_004",
    "regnetx_008",
    "regnety_002",
    "regnety_004",
    "regnety_008",
    "regnety_016",
    "convnext_femto",
    "convnext_pico",
    "convnext_nano",
    "convnext_tiny",
    "vit_tiny_patch16_224",
    "vit_small_patch16_224",
    "deit_tiny_patch16_224",
    "deit_small_patch16_224",
    "tinynet_e",
    "tinynet_d",
    "mnasnet_small",
    "mobileone_s0",
    "fastvit_t8",
    "efficientvit_b0",
]

# Longest prefix first wins; anything else is named by its leading letters.
_FAMILIES = (
    ("mobilenetv3", "MobileNetV3"),
    ("mobilenetv2", "MobileNetV2"),
    ("mobilevit", "MobileViT"),
    ("mobileone", "MobileOne"),
    ("efficientnetv2", "EfficientNetV2"),
    ("gc_efficientnetv2", "EfficientNetV2"),
    ("efficientnet", "EfficientNet"),
    ("efficientvit", "EfficientViT"),
    ("tinynet", "EfficientNet"),
    ("regnet", "RegNet"),
    ("convnext", "ConvNeXt"),
    ("convmixer", "ConvMixer"),
    ("densenet", "DenseNet"),
    ("dla", "DLA"),
    ("vit_", "ViT"),
    ("deit", "DeiT"),
    ("crossvit", "ViT"),
    ("lcnet", "LCNet"),
    ("ghostnet", "GhostNet"),
    ("repghost", "GhostNet"),
    ("seresnext", "ResNeXt"),
    ("gluon_seresnext", "ResNeXt"),
    ("gluon_resnext", "ResNeXt"),
    ("resnext", "ResNeXt"),
    ("res2n", "Res2Net"),
    ("resnetrs", "ResNet-RS"),
    ("wide_resnet", "ResNet"),
    ("gluon_resnet", "ResNet"),
    ("resnet", "ResNet"),
    ("seresnet", "ResNet"),
    ("ecaresnet", "ResNet"),
    ("eca_resnet", "ResNet"),
    ("gcresnet", "ResNet"),
    ("legacy_seresnet", "ResNet"),
    ("gcresnext", "ResNeXt"),
    ("lambda_resnet", "ResNet"),
    ("dpn", "DPN"),
    ("xception", "Xception"),
    ("gluon_xception", "Xception"),
    ("inception", "Inception"),
    ("adv_inception", "Inception"),
    ("gluon_inception", "Inception"),
    ("vgg", "VGG"),
    ("mnasnet", "MNASNet"),
    ("semnasnet", "MNASNet"),
    ("spnasnet", "MNASNet"),
    ("fbnet", "FBNet"),
    ("hardcorenas", "HardCoReNAS"),
    ("nasnet", "NASNet"),
    ("pnasnet", "NASNet"),
    ("cspres", "CSPNet"),
    ("cspdark", "CSPNet"),
    ("cs3", "CSPNet"),
    ("darknet", "CSPNet"),
    ("halo", "HaloNet"),
    ("sehalo", "HaloNet"),
    ("lamhalo", "HaloNet"),
    ("botnet", "BoTNet"),
    ("sebotnet", "BoTNet"),
    ("eca_botnext", "BoTNet"),
    ("bat_resnext", "ResNeXt"),
    ("maxvit", "MaxViT"),
    ("maxxvit", "MaxViT"),
    ("swin", "Swin"),
    ("twins", "Twins"),
    ("pvt", "PVT"),
    ("poolformer", "PoolFormer"),
    ("sequencer", "Sequencer"),
    ("edgenext", "EdgeNeXt"),
    ("fastvit", "FastViT"),
    ("selecsls", "SelecSLS"),
    ("gernet", "GENet"),
    ("repvgg", "RepVGG"),
    ("hrnet", "HRNet"),
    ("ese_vovnet", "VoVNet"),
    ("dm_nfnet", "NFNet"),
    ("legacy_senet", "SENet"),
)


def family_of(name: str) -> str:
    best = ""
    fam = ""
    for prefix, label in _FAMILIES:
        if name.startswith(prefix) and len(prefix) > len(best):
            best, fam = prefix, label
    if fam:
        return fam
    letters = "".join(ch for ch in name.split("_")[0] if ch.isalpha())
    return letters or name


@dataclass(frozen=True)
class Entry:
    """One row of the curated catalogue (the prior, at 3 channels)."""

    model: str
    family: str
    source: str  # "paper" or "extra"
    efficient: bool
    params_nohead: int
    head_in: int
    flops_28: float | None
    flops_64: float | None
    flops_224: float | None
    min_size: int
    fixed_size: bool

    def approx_params(self, n_classes: int) -> int:
        """Parameters at `n_classes` classes (exact up to the stem's input channels)."""
        return (
            self.params_nohead + (self.head_in + 1) * n_classes
            if self.head_in
            else (self.params_nohead)
        )

    def approx_flops(self, size: int) -> float | None:
        """Forward FLOPs of one image at `size` px, interpolated log-log between the prior sizes."""
        pts = [
            (s, f) for s, f in zip(PRIOR_SIZES, (self.flops_28, self.flops_64, self.flops_224)) if f
        ]
        if not pts:
            return None
        for s, f in pts:
            if s == size:
                return f
        lo = max((p for p in pts if p[0] <= size), default=pts[0], key=lambda p: p[0])
        hi = min((p for p in pts if p[0] >= size), default=pts[-1], key=lambda p: p[0])
        if lo[0] == hi[0]:
            return lo[1] * (size / lo[0]) ** 2  # outside the range: FLOPs grow with the area
        t = (math.log(size) - math.log(lo[0])) / (math.log(hi[0]) - math.log(lo[0]))
        return math.exp(math.log(lo[1]) + t * (math.log(hi[1]) - math.log(lo[1])))


@dataclass
class ModelFacts:
    """Exact facts of one architecture at one input shape (measured on the meta device)."""

    model: str
    family: str
    source: str
    channels: int
    n_classes: int
    image_size: int  # the size asked for
    params: int
    flops: float | None  # forward FLOPs of one image at `input_size`
    min_input_size: int
    input_size: int  # what it would train at: image_size, or min_input_size when larger
    fixed_size: bool
    pretrained_tags: list[str] = field(default_factory=list)
    weights_cached: bool = False
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def catalog_path() -> Path:
    from pepr_desktop.resources_path import resource

    return resource("catalog.csv")


@cache
def entries() -> tuple[Entry, ...]:
    """The curated catalogue, ordered by parameters."""
    rows: list[Entry] = []
    with open(catalog_path(), newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                Entry(
                    model=r["model"],
                    family=r["family"],
                    source=r["source"],
                    efficient=r["efficient"] == "1",
                    params_nohead=int(r["params_nohead"]),
                    head_in=int(r["head_in"]),
                    flops_28=float(r["flops_28"]) if r["flops_28"] else None,
                    flops_64=float(r["flops_64"]) if r["flops_64"] else None,
                    flops_224=float(r["flops_224"]) if r["flops_224"] else None,
                    min_size=int(r["min_size"]),
                    fixed_size=r["fixed_size"] == "1",
                )
            )
    return tuple(sorted(rows, key=lambda e: e.params_nohead))


def entry(name: str) -> Entry | None:
    return next((e for e in entries() if e.model == name), None)


# ------------------------------------------------------------------ measuring on the meta device


def _build_meta(name: str, channels: int, n_classes: int, size: int) -> Any:
    import timm
    import torch

    from pepr_desktop.core.models.build import fixed_input_size

    kwargs: dict[str, Any] = {"in_chans": channels, "num_classes": n_classes}
    if fixed_input_size(name):
        kwargs["img_size"] = size
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs)


def measure(name: str, channels: int, n_classes: int, size: int) -> tuple[int, float]:
    """(trainable params, forward FLOPs of one image) at this shape; raises if it cannot run."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _build_meta(name, channels, n_classes, size).eval()
    params = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    x = torch.zeros(1, channels, size, size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return params, float(counter.get_total_flops())


def runs_at(name: str, channels: int, size: int) -> bool:
    try:
        measure(name, channels, 2, size)
        return True
    except Exception:  # any failure at this size means "too small (or wrong shape)"
        return False


def min_input_size(name: str, channels: int = 3, at_least: int = 0) -> int:
    """The smallest of PROBE_SIZES (>= at_least) the model runs at; 0 when none does."""
    for s in PROBE_SIZES:
        if s >= at_least and runs_at(name, channels, s):
            return s
    return 0


def pretrained_tags(name: str) -> list[str]:
    """timm's pretrained tags for this architecture (e.g. resnet18.a1_in1k)."""
    import timm

    return [t for t in timm.list_pretrained(name + "*") if t.split(".")[0] == name]


def weights_cached(name: str) -> bool:
    """True when the default pretrained weights are already on disk (Hugging Face or torch hub
    cache), so a pretrained run needs no network."""
    try:
        import timm.models

        cfg = timm.models.get_pretrained_cfg(name)
    except Exception:
        return False
    if cfg is None:
        return False
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            repo = hub_id.split("@")[0]
            hub_cache = os.environ.get("HF_HUB_CACHE")  # read now, not at hub import time
            for fname in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
                hit = try_to_load_from_cache(repo, fname, cache_dir=hub_cache)
                if isinstance(hit, str) and Path(hit).is_file():
                    return True
        except Exception as exc:  # a broken cache is "not cached", never a crash
            log.debug("hub cache check for %s failed: %s", name, exc)
    url = getattr(cfg, "url", None)
    if url:
        try:
            import torch.hub

            return (Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]).is_file()
        except Exception:
            return False
    return False


# ------------------------------------------------------------------ the facts cache


class FactsCache:
    """A JSON file of measured facts keyed by model and input shape; safe to share by threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / FACTS_FILE
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}
        self._dirty = False
        try:
            raw = json.loads(self.path.read_text())
            if raw.get("version") == FACTS_VERSION:
                self._data = raw.get("facts", {})
        except (OSError, ValueError, AttributeError):
            self._data = {}

    @staticmethod
    def key(name: str, channels: int, n_classes: int, size: int) -> str:
        return f"{name}|c{channels}|k{n_classes}|s{size}"

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = value
            self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + f".{os.getpid()}.part")
                tmp.write_text(json.dumps({"version": FACTS_VERSION, "facts": self._data}))
                os.replace(tmp, self.path)
                self._dirty = False
            except OSError as exc:  # a read-only cache only costs speed
                log.warning("could not write the catalogue cache %s: %s", self.path, exc)


def facts(
    name: str,
    channels: int,
    n_classes: int,
    size: int,
    *,
    cache: FactsCache | None = None,
) -> ModelFacts:
    """Exact facts for `name` at this shape, from the cache or measured now."""
    own_cache = cache is None
    cache = cache or FactsCache()
    key = FactsCache.key(name, channels, n_classes, size)
    hit = cache.get(key)
    e = entry(name)
    if hit is None:
        hit = _measure_facts(name, channels, n_classes, size, e)
        cache.put(key, hit)
        if own_cache:
            cache.save()
    f = ModelFacts(**hit)
    f.weights_cached = weights_cached(name) if f.pretrained_tags else False  # never cached: cheap
    return f


def _measure_facts(
    name: str, channels: int, n_classes: int, size: int, e: Entry | None
) -> dict[str, Any]:
    fam = e.family if e else family_of(name)
    src = e.source if e else "user"
    fixed = e.fixed_size if e else False
    base = {
        "model": name,
        "family": fam,
        "source": src,
        "channels": channels,
        "n_classes": n_classes,
        "image_size": size,
        "fixed_size": fixed,
        "pretrained_tags": pretrained_tags(name),
    }
    err = ""
    try:
        params, flops = measure(name, channels, n_classes, size)
        input_size = min_size = size
        # the prior's minimum, confirmed at these channels
        if e and e.min_size and e.min_size < size:
            min_size = e.min_size
    except Exception as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        min_size = min_input_size(name, channels, at_least=size + 1)
        if not min_size:
            return {
                **base,
                "params": 0,
                "flops": None,
                "min_input_size": 0,
                "input_size": 0,
                "error": f"does not run at any size up to {PROBE_SIZES[-1]} px: {first}",
            }
        params, flops = measure(name, channels, n_classes, min_size)
        input_size = min_size
        err = ""
    return {
        **base,
        "params": params,
        "flops": flops,
        "min_input_size": min_size,
        "input_size": input_size,
        "error": err,
    }


def catalogue(
    channels: int = 3,
    n_classes: int = 1000,
    size: int = 224,
    *,
    max_params: int | None = None,
    names: Iterable[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cache: FactsCache | None = None,
) -> list[ModelFacts]:
    """Facts for the catalogue (or `names`) at one shape, pruned by the prior's parameters first."""
    cache = cache or FactsCache()
    pool = [e.model for e in entries()] if names is None else list(names)
    if max_params is not None:
        pool = [
            n
            for n in pool
            if (e := entry(n)) is None or e.approx_params(n_classes) * 0.9 <= max_params
        ]
    out: list[ModelFacts] = []
    try:
        for i, name in enumerate(pool):
            f = facts(name, channels, n_classes, size, cache=cache)
            if max_params is None or f.params <= max_params:
                out.append(f)
            if progress:
                progress(i + 1, len(pool), name)
    finally:
        cache.save()
    return sorted(out, key=lambda f: f.params)


# ------------------------------------------------------------------ regenerating the csv


def _prior_row(name: str, source: str, efficient: bool) -> dict[str, Any]:
    import timm
    import torch

    from pepr_desktop.core.models.build import fixed_input_size

    with torch.device("meta"):
        kwargs: dict[str, Any] = {"num_classes": 0}
        if fixed_input_size(name):
            kwargs["img_size"] = 224
        m = timm.create_model(name, **kwargs)
    params_nohead = int(sum(p.numel() for p in m.parameters() if p.requires_grad))
    head_in = int(getattr(m, "num_features", 0) or 0)
    if hasattr(m, "head_hidden_size") and m.head_hidden_size:
        head_in = int(m.head_hidden_size)
    # check the head arithmetic against a real 2-class build; fall back to 0 (no prior) if off
    p2, _ = measure(name, 3, 2, max(min_input_size(name, 3), 32))
    if p2 != params_nohead + (head_in + 1) * 2:
        head_in = 0
        params_nohead = p2
    flops = {}
    for s in PRIOR_SIZES:
        try:
            flops[s] = measure(name, 3, 2, s)[1]
        except Exception:
            flops[s] = None
    return {
        "model": name,
        "family": family_of(name),
        "source": source,
        "efficient": int(efficient),
        "params_nohead": params_nohead,
        "head_in": head_in,
        "flops_28": flops[28] or "",
        "flops_64": flops[64] or "",
        "flops_224": flops[224] or "",
        "min_size": min_input_size(name, 3),
        "fixed_size": int(fixed_input_size(name)),
    }


def write_catalog_csv(paper_names_csv: Path, out: Path) -> int:
    """Regenerate resources/catalog.csv from the paper's model list plus EXTRA_MODELS."""
    import timm

    todo: list[tuple[str, str, bool]] = []
    with open(paper_names_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            todo.append((r["model"], "paper", r["efficient"] == "1"))
    paper = {n for n, _, _ in todo}
    todo += [(n, "extra", True) for n in EXTRA_MODELS if n not in paper]
    rows = []
    for name, source, eff in todo:
        if not timm.is_model(name):
            log.warning("%s is not a model in timm %s; left out", name, timm.__version__)
            continue
        try:
            rows.append(_prior_row(name, source, eff))
        except Exception as exc:
            log.warning("%s left out: %s", name, exc)
    rows.sort(key=lambda r: r["params_nohead"])
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return len(rows)


if (
    __name__ == "__main__"
):  # python -m pepr_desktop.core.models.catalog PAPER_MODEL_NAMES.csv OUT.csv
    import sys

    logging.basicConfig(level=logging.INFO)
    src = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path("../shared/data/pepr_paper/model_names.csv")
    )
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("resources/catalog.csv")
    print(write_catalog_csv(src, dst), "models written to", dst)
