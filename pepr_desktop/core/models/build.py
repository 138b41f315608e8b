"""Building timm models for a dataset, with clear errors for unknown names and missing weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError, close_matches

log = logging.getLogger(__name__)


def known_models() -> list[str]:
    import timm

    return timm.list_models()


def check_model_name(name: str) -> None:
    import timm

    if not timm.is_model(name):
        raise UserError(
            f"unknown model '{name}'.{close_matches(name, known_models())} "
            "Run `pepr models` for the catalogue."
        )


def fixed_input_size(name: str) -> bool:
    """True for models (ViT, DeiT...) whose input size is fixed at construction."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return bool(cfg and getattr(cfg, "fixed_input_size", False))


# Sizes tried upwards from a size a model cannot take, to name the smallest that works (then
# narrowed by bisection). 299 and 331 are the Inception/NASNet family's own sizes.
_SIZE_STEPS = (16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 299, 331, 384, 512, 1024)


def _meta_forward(name: str, channels: int, n_classes: int, size: int, batch: int, cache: dict):
    """None when the model (built on the meta device: no memory, no weights) takes a training
    forward pass of `batch` images of `size` px, else the exception. `cache` keeps one model for
    architectures whose input size is not fixed at construction."""
    import timm
    import torch

    fixed = fixed_input_size(name)
    try:
        model = None if fixed else cache.get("model")
        if model is None:
            kwargs: dict[str, Any] = {"in_chans": channels, "num_classes": n_classes}
            if fixed:
                kwargs["img_size"] = size
            with torch.device("meta"):
                model = timm.create_model(name, pretrained=False, **kwargs)
            if not fixed:
                cache["model"] = model
        model.train()  # batch norm refuses a batch of one only in training mode
        with torch.no_grad():
            model(torch.zeros(batch, channels, size, size, device="meta"))
    except Exception as exc:  # any failure: what it means is decided by the caller
        return exc
    return None


def check_input_size(
    name: str, *, channels: int, n_classes: int, image_size: int, batch_size: int
) -> None:
    """Refuse, with one line naming the fix, a model that cannot train on `image_size` px images
    (a kernel or patch larger than the feature map: inception_v3 at 28 px, a ViT with 16 px
    patches at 8 px) or that cannot train at batch size 1 (batch norm over a 1x1 map). Checked
    with a forward pass on the meta device, so it costs a fraction of a second and no memory.
    A model that fails at every size (an op the meta device lacks) is let through: the run will
    report whatever it hits."""
    cache: dict[str, Any] = {}
    batch = 1 if batch_size == 1 else 2
    err = _meta_forward(name, channels, n_classes, image_size, batch, cache)
    if err is None:
        return
    if batch == 1 and _meta_forward(name, channels, n_classes, image_size, 2, cache) is None:
        raise UserError(
            f"batch size 1 cannot train {name} on {image_size} px images: its batch norm needs "
            "more than one value per channel; use --batch-size 2 or more."
        )
    lo, hi = image_size, 0  # lo fails; hi (once found) works
    for s in _SIZE_STEPS:
        if s > image_size:
            if _meta_forward(name, channels, n_classes, s, 2, cache) is None:
                hi = s
                break
            lo = s
    if not hi:
        log.debug("input check of %s at %d px inconclusive: %s", name, image_size, err)
        return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _meta_forward(name, channels, n_classes, mid, 2, cache) is None:
            hi = mid
        else:
            lo = mid
    raise UserError(
        f"{name} cannot train on {image_size} px images (it needs at least {hi} px); use "
        f"--image-size {hi} or larger, or a model made for small images."
    )


def build_model(
    name: str,
    *,
    in_chans: int,
    num_classes: int,
    image_size: int,
    pretrained: bool = False,
    weights: str | Path | None = None,
) -> Any:
    """`timm.create_model` as the paper does it, plus a user weight file loaded safely."""
    import timm

    check_model_name(name)
    kwargs: dict[str, Any] = {"in_chans": in_chans, "num_classes": num_classes}
    if fixed_input_size(name):
        kwargs["img_size"] = image_size
    try:
        model = timm.create_model(name, pretrained=pretrained and weights is None, **kwargs)
    except (OSError, RuntimeError, ValueError) as exc:
        if pretrained:
            raise UserError(
                f"pretrained weights for {name} could not be loaded ({type(exc).__name__}); "
                "offline? Train from scratch (drop --pretrained) or pass --weights FILE."
            ) from None
        raise UserError(f"cannot build model {name} at {image_size} px: {exc}") from None
    if weights is not None:
        load_weights(model, weights)
    return model


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """A state dict from .safetensors or a torch file, never executing code from the file."""
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to decode is the file's fault, not the app's
        raise UserError(
            f"{path.name} is not a usable weights file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); only state dicts saved with "
            "torch.save or safetensors load (code in pickles is refused)."
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a PePR checkpoint
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path.name} holds a {type(state).__name__}, not a state dict.")
    return state


def load_weights(model: Any, path: str | Path) -> None:
    """Load matching tensors; a classifier head of another size is left fresh (fine-tuning)."""
    state = read_state_dict(path)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not usable:
        raise UserError(
            f"{Path(path).name} matches none of the model's parameters; it was saved for another "
            "architecture."
        )
    skipped = len(own) - len(usable)
    if skipped > 0.5 * len(own):
        raise UserError(
            f"{Path(path).name} fits only {len(usable)} of {len(own)} tensors of the model; it was "
            "saved for another architecture."
        )
    model.load_state_dict(usable, strict=False)
    log.info("loaded %d tensors from %s (%d left as initialised)", len(usable), path, skipped)


def count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
