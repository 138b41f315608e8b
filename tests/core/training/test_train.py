"""Training on real data: loss falls, metrics in range, stop flag, checkpoints, config checks."""

from __future__ import annotations

import math
import os
from pathlib import Path

import psutil
import pytest

from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.events import BatchEnded, EpochEnded, RunFinished, RunStarted
from pepr_desktop.core.training.config import Control, TrainConfig
from pepr_desktop.core.training.runner import checkpoint_path, execute
from tests.conftest import TINY_MODEL


@pytest.fixture
def pneu(pneumonia_npz: Path, store):
    datasets.import_dataset(pneumonia_npz, "pneu", store)
    return store


def test_two_epochs_on_real_data_learn_and_are_stored(pneu) -> None:
    cfg = TrainConfig(
        dataset="pneu",
        model=TINY_MODEL,
        epochs=2,
        data_fraction=0.15,
        class_weights="auto",
        lr=2e-3,
    )
    events = list(execute(cfg, pneu))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].status == "finished", events[-1].message
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [0, 1]
    assert epochs[1].train_loss < epochs[0].train_loss
    for e in epochs:
        for k in ("val_acc", "val_auc", "val_bacc", "test_acc", "test_auc", "test_bacc"):
            assert 0.0 <= e.metrics[k] <= 1.0, k
        # the run's own memory: at least its model and data tensors, far below the process's RSS
        rss_mb = psutil.Process(os.getpid()).memory_info().rss / 2**20
        assert e.seconds > 0 and e.mem_method == "run_rss_growth"
        assert 2 < e.peak_mem_mb < 0.5 * rss_mb, (e.peak_mem_mb, rss_mb)
        assert e.energy_j is None and e.energy_method == "unavailable"  # never a silent 0
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert batches and batches[-1].batch == batches[-1].batches
    run = pneu.get_run(events[0].run_id)
    assert run["status"] == "finished" and run["epochs_done"] == 2
    assert run["test_acc"] == epochs[-1].metrics["test_acc"]  # paper: final-epoch test accuracy
    assert run["best_val_epoch"] in (0, 1) and run["train_time_s"] > 0
    assert len(pneu.epochs(run["id"])) == 2
    assert checkpoint_path(pneu, run["id"]).is_file()


def test_stop_flag_keeps_finished_epochs(pneu) -> None:
    control = Control()
    cfg = TrainConfig(dataset="pneu", model=TINY_MODEL, epochs=5, data_fraction=0.05)
    seen_epochs = 0
    final = None
    for ev in execute(cfg, pneu, control=control):
        if isinstance(ev, EpochEnded):
            seen_epochs += 1
        if isinstance(ev, BatchEnded) and ev.epoch == 1 and ev.batch == 2:
            control.stop("user")
        if isinstance(ev, RunFinished):
            final = ev
    assert final is not None and final.status == "stopped" and final.reason == "user"
    run = pneu.get_run(final.run_id)
    assert run["status"] == "stopped" and seen_epochs == 1
    assert [e["epoch"] for e in pneu.epochs(final.run_id)] == [0]


def test_checkpoint_loads_with_weights_only(pneu) -> None:
    import torch

    cfg = TrainConfig(dataset="pneu", model=TINY_MODEL, epochs=1, data_fraction=0.05)
    run_id = list(execute(cfg, pneu))[-1].run_id
    ck = torch.load(checkpoint_path(pneu, run_id), weights_only=True)
    assert ck["epoch"] == 0 and "model" in ck and "optimizer" in ck
    assert ck["run"] == {"run_id": run_id, "created_at": pneu.get_run(run_id)["created_at"]}


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("epochs", 0, "epochs"),
        ("epochs", -3, "epochs"),
        ("batch_size", 0, "batch size"),
        ("lr", math.nan, "learning rate"),
        ("lr", -1.0, "learning rate"),
        ("data_fraction", 1.5, "data fraction"),
        ("device", "tpu", "device"),
        ("device", "cuda:0", "no CUDA GPU"),
        ("budget_time_min", -1.0, "time budget"),
        ("class_weights", "yes", "class weights"),
        ("seed", -1, "seed"),
        ("seed", 2**32, "seed must be a whole number from 0 to 4294967295"),
        ("seed", 99999999999999999999999, "seed must be a whole number from 0"),
    ],
)
def test_bad_settings_are_user_errors(field: str, value, match: str, store) -> None:
    cfg = TrainConfig(dataset="sample", model=TINY_MODEL, **{field: value})
    with pytest.raises(UserError, match=match):
        list(execute(cfg, store))
    assert store.runs() == []  # no run is created for a mistake


def test_unknown_model_suggests_close_names(store) -> None:
    with pytest.raises(UserError, match="Did you mean: resnet18"):
        list(execute(TrainConfig(dataset="sample", model="resnet81"), store))


@pytest.mark.parametrize(
    ("model", "image_size", "batch_size", "match"),
    [
        # (inception_v3 at 28 px, slower to probe, is in tests/cli/test_bad_inputs.py)
        ("vit_tiny_patch16_224", 8, 32, "vit_tiny_patch16_224 cannot train on 8 px images"),
        (TINY_MODEL, None, 1, "--batch-size 2"),
    ],
    ids=["vit_at_8", "batch_norm_at_batch_1"],
)
def test_model_input_constraints_are_user_errors_before_the_run(
    model: str, image_size, batch_size: int, match: str, store
) -> None:
    cfg = TrainConfig(
        dataset="sample", model=model, image_size=image_size, batch_size=batch_size, epochs=1
    )
    with pytest.raises(UserError, match=match):
        list(execute(cfg, store))
    assert store.runs() == []
    info = datasets.resolve("sample", store)
    with pytest.raises(UserError, match=match):  # the same check, for the GUI's dialogs
        cfg.check_model_input(info.channels, info.n_classes, info.image_size)


def test_model_input_check_accepts_what_trains() -> None:
    TrainConfig(dataset="sample", model=TINY_MODEL, batch_size=2).check_model_input(1, 2, 28)
    cfg = TrainConfig(dataset="sample", model="vit_tiny_patch16_224", image_size=16)
    cfg.check_model_input(1, 2, 28)  # a ViT is built for the image size it is given


WARNING_SCRIPT = """
import sys, warnings
import pepr_desktop.core.training.metrics as metrics
real = metrics.evaluate
def evaluate(*args, **kwargs):  # as torch and timm do now and then, mid-run
    warnings.warn("something is deprecated", UserWarning)
    warnings.warn("another thing will change", FutureWarning)
    return real(*args, **kwargs)
metrics.evaluate = evaluate
from pepr_desktop.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_train_keeps_library_warnings_off_stderr(tmp_path: Path) -> None:
    """Warnings from torch/timm/sklearn go to the log file; stderr holds only our lines."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PEPR_LOG_DIR": str(tmp_path / "logs")}
    argv = ["--db", str(tmp_path / "w.sqlite"), "train", "--data", "sample", "--model",
            TINY_MODEL, "--epochs", "1", "--data-fraction", "0.1", "--device", "cpu",
            "--no-meter"]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-c", WARNING_SCRIPT, *argv], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stderr  # our progress lines are still there
    assert not [ln for ln in r.stderr.splitlines() if "Warning" in ln], r.stderr
    log = (tmp_path / "logs" / "pepr-desktop.log").read_text()
    assert "something is deprecated" in log and "another thing will change" in log
