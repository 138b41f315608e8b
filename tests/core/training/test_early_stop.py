"""The energy-aware early-stop rule on synthetic curves, and a real run that stops by it."""

from __future__ import annotations

import pytest

from pepr_desktop.core.training.early_stop import decide

WH = 3600.0  # joules


def test_rising_curve_that_pays_continues() -> None:
    # +3 points per epoch for 0.5 Wh per epoch: 0.06 per Wh, far above 0.01
    d = decide([0.70, 0.73, 0.76, 0.79], [0.5 * WH] * 4, patience=2, min_gain_per_wh=0.01)
    assert not d.stop
    assert d.expected_gain == pytest.approx(0.06, abs=1e-9)
    assert d.projected_wh == pytest.approx(1.0)


def test_same_gain_at_high_energy_stops() -> None:
    # the same +3 points per epoch, but 10 Wh per epoch: 0.06 / 20 Wh = 0.003 per Wh < 0.01
    d = decide([0.70, 0.73, 0.76, 0.79], [10 * WH] * 4, patience=2, min_gain_per_wh=0.01)
    assert d.stop and d.rule == "gain_per_wh"
    assert "per Wh" in d.message and d.projected_wh == pytest.approx(20.0)


def test_plateau_stops_by_trend() -> None:
    # the last 3 epochs gain 0.001 each: 0.002 expected for 1 Wh
    d = decide([0.80, 0.85, 0.851, 0.852], [0.5 * WH] * 4, patience=2, min_gain_per_wh=0.01)
    assert d.stop and d.rule == "gain_per_wh"


def test_no_gain_for_patience_epochs() -> None:
    d = decide([0.80, 0.90, 0.85, 0.86], [None] * 4, patience=2)
    assert d.stop and d.rule == "no_gain" and "best 0.9000 at epoch 2" in d.message


def test_without_energy_only_the_no_gain_rule() -> None:
    d = decide([0.70, 0.701, 0.702, 0.703], [None] * 4, patience=2)
    assert not d.stop and "energy unavailable" in d.message


def test_too_few_epochs_for_a_trend() -> None:
    assert not decide([0.5, 0.6], [WH, WH], patience=2).stop
    assert not decide([], []).stop


def test_a_run_records_why_it_stopped(pneumonia_npz, store, monkeypatch) -> None:
    """The trainer asks the rule after each epoch with the validation history only, and a stop
    is recorded as a finished run with reason early_stop and the rule's message."""
    from pepr_desktop.core.data import registry as datasets
    from pepr_desktop.core.training import early_stop
    from pepr_desktop.core.training.config import TrainConfig
    from pepr_desktop.core.training.runner import execute

    seen: list[list] = []

    def fake(vals, energies, **kw):
        seen.append(list(vals))
        return early_stop.Decision(len(vals) >= 2, "no_gain", f"early stop after epoch {len(vals)}")

    monkeypatch.setattr(early_stop, "decide", fake)
    datasets.import_dataset(pneumonia_npz, "pneu", store)
    cfg = TrainConfig(
        dataset="pneu", model="mobilenetv3_small_050", epochs=4, data_fraction=0.02,
        device="cpu", early_stop=True, early_stop_patience=1, checkpoint=False,
    )  # fmt: skip
    fin = list(execute(cfg, store))[-1]
    run = store.get_run(fin.run_id)
    eps = store.epochs(fin.run_id)
    assert (run["status"], run["reason"]) == ("finished", "early_stop")
    assert run["message"] == "early stop after epoch 2" and len(eps) == 2
    assert seen == [[eps[0]["val_acc"]], [eps[0]["val_acc"], eps[1]["val_acc"]]]
