"""Whether pretrained weights are at hand for a candidate: a weights file, the local cache, or
the Hugging Face hub when it answers."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

from pepr_desktop.core.models.catalog import ModelFacts
from pepr_desktop.core.training.config import TrainConfig


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face hub answers (pretrained downloads possible)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


class Weights:
    """Decides pretrained-or-scratch per candidate; asks the hub at most once per recommendation."""

    def __init__(self, cfg: TrainConfig, online: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.online = online
        self._online: bool | None = None

    def choose(self, f: ModelFacts) -> tuple[bool, str]:
        """(pretrained, why): pretrained only when weights are at hand: --weights for this model,
        the local cache, or the hub when it answers and pretrained was asked for."""
        cfg = self.cfg
        if cfg.weights and cfg.model == f.model:
            return True, f"pretrained from {Path(cfg.weights).name}"
        if not f.pretrained_tags:
            return False, "from scratch: timm has no pretrained weights for it"
        if f.weights_cached:
            return True, "pretrained: weights are in the local cache"
        if not cfg.pretrained:
            return False, "from scratch (pretrained weights exist but are not cached; --pretrained)"
        if self._online is None:
            self._online = self.online()
        if self._online:
            return True, "pretrained: weights will download from the hub"
        return False, (
            "from scratch: no cached weights and the hub is unreachable (offline); "
            "pass --weights FILE to fine-tune"
        )
