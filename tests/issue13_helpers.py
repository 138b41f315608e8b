"""Shared by the issue-13 tests: a stored run whose checkpoint holds a real (untrained) model.

Training is not needed to check that export, predict and the widgets reproduce the PyTorch model:
a seeded, freshly built model with a checkpoint written the way `core/training/train.py` writes one is the
same contract, and costs a second instead of a training run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TINY_MODEL = "mobilenetv3_small_050"
SHARED_NPZ = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pneumoniamnist_28.npz"
)


def make_run(store: Any, *, model: str = TINY_MODEL, dataset: str = "sample", seed: int = 0):
    """(run_id, model) for a finished run on `dataset` (1 channel, 2 classes, 28 px)."""
    import torch

    from pepr_desktop.core.models.build import build_model
    from pepr_desktop.core.training.config import TrainConfig

    torch.manual_seed(seed)
    net = build_model(model, in_chans=1, num_classes=2, image_size=28).eval()
    cfg = TrainConfig(dataset=dataset, model=model, epochs=1)
    run_id = store.create_run(
        dataset=dataset,
        model=model,
        config=cfg.to_dict(),
        epochs_planned=1,
        epochs_done=1,
        test_acc=0.8,
        train_time_s=12.0,
        peak_mem_mb=300.0,
        params=1,
    )
    ck = store.data_dir / "checkpoints" / f"run_{run_id}.pt"
    ck.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "epoch": 0}, ck)
    store.update_run(run_id, checkpoint=str(ck), status="finished")
    return run_id, net


def save_test_pngs(folder: Path, n: int = 4) -> tuple[list[Path], np.ndarray]:
    """The first `n` test images of the shared PneumoniaMNIST file as PNGs, and their arrays."""
    from PIL import Image

    with np.load(SHARED_NPZ) as z:
        x = z["test_images"][:n]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(x):
        p = folder / f"test_{i}.png"
        Image.fromarray(im).save(p)
        paths.append(p)
    return paths, x


def torch_probs(net: Any, images: np.ndarray) -> np.ndarray:
    """The reference: what training's own pipeline (Normalizer, mean/std 0.5) gives."""
    import torch

    from pepr_desktop.core.training.tensors import Normalizer

    x = torch.from_numpy(images).unsqueeze(1)
    with torch.inference_mode():
        return torch.softmax(net(Normalizer((0.5,), (0.5,), None, "cpu")(x)), 1).numpy()
