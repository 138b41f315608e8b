"""Issue 17: one Budget type (core/budget.py) for the recommender, the training loop and the GUI;
TrainConfig keeps its stored budget fields and gives them back as `.budget`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pepr_desktop.core import budget as budget_mod
from pepr_desktop.core.budget import TRAIN_FIELDS, Budget
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.training.config import (
    AUGMENTS,
    CLASS_WEIGHTS,
    SAMPLERS,
    SCHEDULES,
    TrainConfig,
)


def test_recommend_budget_is_the_same_type() -> None:
    from pepr_desktop.core.search.recommend import Budget as RecBudget

    assert RecBudget is Budget
    assert Budget(1.5, 2, 300, 10) == Budget(
        energy_wh=1.5, time_min=2, memory_mb=300, max_params=10
    )


def test_describe_and_validate() -> None:
    assert Budget().describe() == "no budget"
    b = Budget(energy_wh=2.5, time_min=5, memory_mb=512, max_params=1_000_000)
    assert b.describe() == (
        "energy <= 2.5 Wh, time <= 5 min, memory <= 512 MB, params <= 1,000,000"
    )
    assert b.validate() is b
    with pytest.raises(UserError, match=r"energy budget \(Wh\) must be a positive number"):
        Budget(energy_wh=0).validate()
    with pytest.raises(UserError, match="time budget"):
        Budget(time_min=math.inf).validate()
    with pytest.raises(UserError, match="memory budget"):
        Budget(memory_mb="lots").validate()
    with pytest.raises(UserError, match="max params must be a positive whole number"):
        Budget(max_params=2.5).validate()
    with pytest.raises(UserError, match="max params"):
        Budget(max_params=True).validate()


def test_train_config_budget_property_and_stored_fields() -> None:
    cfg = TrainConfig(
        dataset="d", model="m", budget_energy_wh=1.0, budget_time_min=2.0, budget_memory_mb=None
    )
    assert cfg.budget == Budget(energy_wh=1.0, time_min=2.0, memory_mb=None, max_params=None)
    d = cfg.to_dict()
    # stored run configs keep the flat field names, and nothing named "budget" is added
    assert set(TRAIN_FIELDS.values()) <= set(d) and "budget" not in d
    assert d["budget_energy_wh"] == 1.0 and d["budget_time_min"] == 2.0
    # an old stored config (no budget fields at all, or with them) loads
    old = {"dataset": "d", "model": "m", "epochs": 3}
    assert TrainConfig.from_dict(old).budget == Budget()
    assert TrainConfig.from_dict(d).budget == cfg.budget


def test_train_fields_round_trip() -> None:
    b = Budget(energy_wh=3.0, time_min=None, memory_mb=100.0, max_params=5)
    fields = b.train_fields()
    assert fields == {
        "budget_energy_wh": 3.0,
        "budget_time_min": None,
        "budget_memory_mb": 100.0,
    }
    cfg = TrainConfig(dataset="d", model="m", **fields)
    assert cfg.budget == Budget(energy_wh=3.0, memory_mb=100.0)  # max_params is not stored
    assert Budget.of_config(cfg) == cfg.budget


@pytest.mark.parametrize(
    ("field", "match"),
    [
        ("budget_energy_wh", r"energy budget \(Wh\) must be a positive number"),
        ("budget_time_min", r"time budget \(min\) must be a positive number"),
        ("budget_memory_mb", r"memory budget \(MB\) must be a positive number"),
    ],
)
def test_train_config_validates_its_budget(field: str, match: str) -> None:
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(UserError, match=match):
            TrainConfig(dataset="d", model="m", device="cpu", **{field: bad}).validate()


def test_exceeded_projects_the_next_epoch() -> None:
    b = Budget(time_min=1.0)  # 60 s
    assert b.exceeded({"train_time_s": 20.0}, epochs_done=2, peak_mb=0) == ""  # 20 + 10 <= 60
    why = b.exceeded({"train_time_s": 40.0}, epochs_done=1, peak_mb=0)  # 40 + 40 > 60
    assert why == "time: 0.67 min used, next epoch ~0.67 min"
    e = Budget(energy_wh=1.0)  # 3600 J
    assert e.exceeded({"energy_j": 1000.0}, epochs_done=1, peak_mb=0) == ""
    assert e.exceeded({}, epochs_done=1, peak_mb=0) == ""  # not metered: no energy verdict
    why = e.exceeded({"energy_j": 2000.0}, epochs_done=1, peak_mb=0)
    assert why == "energy: 0.556 Wh used, next epoch ~0.556 Wh"
    m = Budget(memory_mb=100.0)
    assert m.exceeded({}, epochs_done=1, peak_mb=100.0) == ""
    assert m.exceeded({}, epochs_done=1, peak_mb=150.0) == "memory: peak 150 MB above 100 MB"
    assert Budget(max_params=10).exceeded({"train_time_s": 1e9}, 1, 1e9) == ""


def test_budget_module_has_no_qt_or_torch_import() -> None:
    src = Path(budget_mod.__file__).read_text(encoding="utf-8")
    assert "PySide6" not in src and "torch" not in src


@pytest.mark.parametrize(
    ("field", "choices", "label"),
    [
        ("class_weights", CLASS_WEIGHTS, "class weights"),
        ("augment", AUGMENTS, "augment"),
        ("schedule", SCHEDULES, "schedule"),
        ("sampler", SAMPLERS, "sampler"),
    ],
)
def test_option_choices_are_what_validate_accepts(field: str, choices, label: str) -> None:
    assert isinstance(choices, tuple) and choices
    for value in choices:
        TrainConfig(dataset="d", model="m", device="cpu", **{field: value}).validate()
    with pytest.raises(UserError, match=label):
        TrainConfig(dataset="d", model="m", device="cpu", **{field: "other"}).validate()
    assert getattr(TrainConfig(dataset="d", model="m"), field) == choices[0]  # default first


def test_option_choice_values() -> None:
    assert CLASS_WEIGHTS == ("none", "auto")
    assert AUGMENTS == ("none", "light")
    assert SCHEDULES == ("constant", "cosine", "onecycle")
    assert SAMPLERS == ("shuffle", "balanced")
