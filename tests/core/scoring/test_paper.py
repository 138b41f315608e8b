"""The paper's model space shipped with the app: same data as the source, licence beside it,
PePR invariants and values computed by hand."""

from __future__ import annotations

from collections import Counter

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.scoring.paper import experiments, model_info, paper_models
from pepr_desktop.resources_path import resource
from tests.conftest import SHARED_DATA

SHARED_PAPER = SHARED_DATA / "pepr_paper"


def test_shipped_files_match_source_and_carry_licence() -> None:
    shipped = resource("pepr_paper")
    assert "MIT License" in (shipped / "LICENSE").read_text()
    if not SHARED_PAPER.is_dir():
        pytest.skip(f"source data not available: {SHARED_PAPER}")
    for name in ("all_results.csv", "model_names.csv", "LICENSE"):
        assert (shipped / name).read_bytes() == (SHARED_PAPER / name).read_bytes(), name


def test_model_space_shape() -> None:
    models = paper_models()
    assert len(models) == 1048
    assert experiments() == [
        "derma", "derma_pt", "derma_small", "derma_smallest",
        "lidc", "lidc_small", "pneumonia", "pneumonia_small",
    ]  # fmt: skip
    assert set(Counter(m.experiment for m in models).values()) == {131}
    assert len(model_info()) == 131


def test_invariants_per_experiment() -> None:
    for exp in experiments():
        ms = paper_models(exp)
        for key, attr in (
            ("E", "energy_kwh"),
            ("C", "co2_g"),
            ("T", "train_time_s"),
            ("M", "mem_gb"),
        ):
            for m in ms:
                assert m.test_acc / 2 - 1e-12 <= m.pepr[key] <= m.test_acc + 1e-12
            cheapest = min(ms, key=lambda m, a=attr: getattr(m, a))
            assert cheapest.pepr[key] == cheapest.test_acc  # least resource keeps full P
            dearest = max(ms, key=lambda m, a=attr: getattr(m, a))
            assert dearest.pepr[key] == pytest.approx(dearest.test_acc / 2)
            assert cheapest.pareto[key]  # nothing is cheaper, so nothing dominates it
            assert sorted(m.rank[key] for m in ms)[0] == 1


def test_values_by_hand_pneumonia() -> None:
    ms = {m.model: m for m in paper_models("pneumonia")}
    # From all_results.csv, pneumonia: energy min 0.005593791909 (mobilenetv2_050), max
    # 0.163470332261 (convmixer_768_32); dla46_c energy 0.008777283101, test_09 0.953947368421053.
    e_n = (0.008777283101 - 0.005593791909) / (0.163470332261 - 0.005593791909)
    assert ms["dla46_c"].pepr["E"] == pytest.approx(0.953947368421053 / (1 + e_n), rel=1e-12)
    assert ms["dla46_c"].pepr["E"] == pytest.approx(0.935092, abs=1e-6)
    # memR min 1.577058304 (convnext_atto), max 22.718447616 (pnasnet5large); vgg13 7.40294656 GB
    m_n = (7.40294656 - 1.577058304) / (22.718447616 - 1.577058304)
    assert ms["vgg13"].pepr["M"] == pytest.approx(0.797697368421053 / (1 + m_n), rel=1e-12)
    assert ms["vgg13"].pepr["M"] == pytest.approx(0.625360, abs=1e-5)
    assert ms["mobilenetv2_050"].pepr["E"] == 0.917763157894737
    assert ms["dla46_c"].rank["E"] == 1


def test_unknown_experiment_names_the_choices() -> None:
    with pytest.raises(UserError, match="Did you mean: pneumonia"):
        paper_models("pnemonia")
