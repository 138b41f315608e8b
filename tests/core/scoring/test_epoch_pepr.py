"""PePR over epochs on a hand-made table, on stored runs, and on the paper's own table."""

from __future__ import annotations

import csv
import json

import pytest

from pepr_desktop.core.scoring.epoch_pepr import (
    EpochCurve,
    cumulative,
    for_paper,
    for_runs,
    score_curves,
    uniform_curve,
)


def test_hand_made_table() -> None:
    # all points' resources: 1 2 3 | 2 4 -> min 1, max 4
    a = EpochCurve("a", "A", [0.5, 0.8, 0.82], [1.0, 2.0, 3.0])
    b = EpochCurve("b", "B", [0.7, 0.75], [2.0, 4.0])
    t = score_curves([a, b], "energy", "Wh", "test")
    ca, cb = t.curves
    assert ca.normalised == pytest.approx([0, 1 / 3, 2 / 3])
    assert ca.pepr == pytest.approx([0.5, 0.8 / (4 / 3), 0.82 / (5 / 3)])
    assert (ca.best_epochs, ca.best_pepr) == (2, pytest.approx(0.6))
    assert ca.final_pepr == pytest.approx(0.492)
    assert cb.pepr == pytest.approx([0.7 / (4 / 3), 0.75 / 2])
    assert cb.best_epochs == 1


def test_ties_prefer_fewer_epochs_and_missing_points_are_skipped() -> None:
    c = EpochCurve("c", "C", [None, 0.6, 0.6], [1.0, 1.0, 1.0])  # equal resource -> R_n = 0
    t = score_curves([c], "time", "s", "test")
    assert t.curves[0].pepr == [None, 0.6, 0.6]
    assert t.curves[0].best_epochs == 2


def test_uniform_and_cumulative() -> None:
    assert uniform_curve("m", "m", [0.1, 0.2, 0.3, 0.4], 8.0).resource == [2.0, 4.0, 6.0, 8.0]
    assert cumulative([1.0, 2.0, None, 3.0]) == [1.0, 3.0, None, None]


def test_paper_table_uses_uniform_energy(paper_rows) -> None:
    t = for_paper("pneumonia")
    rows = [r for r in paper_rows if r["dataset"] == "pneumonia"]
    assert len(t.curves) == len(rows) and "assumed uniform" in t.basis
    # recompute one model by hand: resource e/10 of the total, min-max over all models' epochs
    points = [
        (float(r[f"test_{e:02d}"]), float(r["energy"]) * (e + 1) / 10)
        for r in rows
        for e in range(10)
    ]
    lo, hi = min(p[1] for p in points), max(p[1] for p in points)
    r0 = rows[0]
    expect = [
        float(r0[f"test_{e:02d}"]) / (1 + (float(r0["energy"]) * (e + 1) / 10 - lo) / (hi - lo))
        for e in range(10)
    ]
    c0 = next(c for c in t.curves if c.key == r0["model"])
    assert c0.pepr == pytest.approx(expect)
    assert c0.best_epochs == 1 + max(range(10), key=lambda i: (expect[i], -i))


@pytest.fixture
def paper_rows():
    from pepr_desktop.resources_path import resource

    path = resource("pepr_paper", "all_results.csv")
    if not path.is_file():
        pytest.skip(f"paper data not shipped: {path}")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _run(store, model: str, accs: list[float], energies: list[float | None]) -> dict:
    rid = store.create_run(dataset="d", model=model, config={}, epochs_planned=len(accs))
    for e, (acc, en) in enumerate(zip(accs, energies, strict=True)):
        store.add_epoch(
            rid,
            {"epoch": e, "train_loss": 0.1, "test_acc": acc, "seconds": 10.0, "energy_j": en},
            {"epochs_done": e + 1},
        )
    return store.get_run(rid)


def test_stored_runs_energy_then_time_fallback(store) -> None:
    r1 = _run(store, "small", [0.8, 0.85], [3600.0, 3600.0])
    r2 = _run(store, "big", [0.7, 0.9, 0.91], [7200.0, 7200.0, 7200.0])
    t = for_runs(store, [r1, r2])
    assert (t.resource, t.unit) == ("energy", "Wh")
    assert t.curves[0].resource == [1.0, 2.0] and t.curves[1].resource == [2.0, 4.0, 6.0]
    # min 1 Wh, max 6 Wh: small after 1 epoch 0.8/1; after 2: 0.85/1.2
    assert t.curves[0].best_epochs == 1 and t.curves[0].best_pepr == pytest.approx(0.8)
    r3 = _run(store, "unmetered", [0.6], [None])
    t = for_runs(store, [r1, r2, r3])
    assert t.resource == "time" and "energy unavailable" in t.basis
    assert t.curves[2].resource == [10.0]


def test_cli_paper_and_compare_show_the_optimal_epochs(store, capsys, monkeypatch) -> None:
    from pepr_desktop.cli import main

    assert main(["paper", "--experiment", "pneumonia", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "best epochs E" in out and "energy assumed uniform per epoch" in out
    r1 = _run(store, "small", [0.8, 0.85], [3600.0, 3600.0])
    r2 = _run(store, "big", [0.7, 0.9, 0.91], [7200.0, 7200.0, 7200.0])
    monkeypatch.setenv("PEPR_DB", str(store.path))
    assert main(["compare", str(r1["id"]), str(r2["id"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    best = {c["model"]: c["best_epochs"] for c in data["epoch_pepr"]["curves"]}
    assert best == {"small": 1, "big": 1}  # big: 0.7/1.2 = 0.583 > 0.9/1.6 = 0.5625
