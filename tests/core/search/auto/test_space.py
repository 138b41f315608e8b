"""The recipe space: augmentation is not searched (every searched recipe augments), the paper's
protocol stays the one reference without it, and points stored by earlier versions keep theirs."""

from __future__ import annotations

from pepr_desktop.core.search.auto.space import (
    PAPER,
    Arm,
    distributions,
    for_next_trial,
    overrides,
    recipe,
    recipe_name,
    seed_points,
)


def _arm(model: str, size: int = 28, upscaled: bool = False) -> Arm:
    return Arm(model, size, False, 0.01, 0.001, 100.0, upscaled=upscaled)


def test_every_searched_recipe_trains_with_light_augmentation() -> None:
    point = {"imbalance": "weights", "schedule": "cosine", "lr": 1e-3}
    assert overrides(point)["augment"] == "light"
    assert overrides(point)["class_weights"] == "auto"
    assert recipe_name(point) == "weights+light+cosine lr 1e-03"


def test_the_paper_protocol_ignores_the_searched_fields() -> None:
    point = {"protocol": "paper", "imbalance": "balanced", "schedule": "onecycle", "lr": 3e-3}
    assert recipe(point) == PAPER
    assert overrides(point)["augment"] == "none"
    assert overrides(point)["sampler"] == "shuffle"
    assert recipe_name(point) == "paper protocol"


def test_a_point_stored_before_protocol_existed_keeps_its_own_augmentation() -> None:
    old = {"imbalance": "weights", "augment": "none", "schedule": "cosine", "lr": 1e-3}
    assert overrides(old)["augment"] == "none"
    assert recipe_name(old) == "weights+cosine lr 1e-03"
    assert recipe_name({**PAPER}) == "paper protocol"


def test_augmentation_is_not_a_searched_dimension() -> None:
    dists = distributions([_arm("resnet18"), _arm("resnet18", 56, True)])
    assert "augment" not in dists
    assert "protocol" not in dists  # only the enqueued reference trial gets one


def test_seed_points_augment_except_the_paper_reference() -> None:
    arms = [_arm("resnet18"), _arm("resnet18", 56, True), _arm("resnet10t")]
    points = seed_points(arms)
    dists = distributions(arms)
    for p in points:
        assert set(p) <= set(for_next_trial(dists, p)), p  # every enqueued value is asked for
    augments = [overrides(p)["augment"] for p in points]
    assert augments.count("none") == 1
    assert recipe_name(points[-1]) == "paper protocol"
