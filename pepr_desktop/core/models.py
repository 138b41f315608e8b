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
