"""core/training/resume.py: the one check of which runs can be resumed, shared by the CLI, GUI and runner."""

from __future__ import annotations

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.resume import is_resumable, resume_config


def test_a_stopped_run_resumes_with_its_own_settings() -> None:
    cfg = TrainConfig(dataset="sample", model="resnet18", epochs=4, lr=0.01)
    run = {"id": 3, "status": "stopped", "config": cfg.to_dict()}
    assert is_resumable(run)
    assert resume_config(run) == cfg


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"id": 1, "status": "finished", "config": {}}, "only interrupted or stopped"),
        ({"id": 2, "status": "running", "config": {}}, "run 2 is running"),
        ({"id": 3, "status": "interrupted", "config": None}, "no stored settings"),
        ({"id": 4, "status": "stopped", "config": {"dataset": "x"}}, "no stored settings"),
        (
            {"id": 5, "status": "stopped", "config": {"dataset": "x", "model": "m", "epochs": 0}},
            "epochs",
        ),
    ],
)
def test_runs_that_cannot_resume_say_why(run: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        resume_config(run)
