"""Comparison of stored runs: the GUI's and `pepr compare`'s table, and its PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.scoring.compare import compare_runs, load_runs
from pepr_desktop.core.scoring.plot import nice_ticks, plot_comparison


def add_run(store, dataset: str = "pneumoniamnist", status: str = "finished", **figures) -> int:
    run_id = store.create_run(dataset=dataset, model=figures.pop("model", "resnet10t"))
    store.update_run(run_id, status=status, epochs_done=2, epochs_planned=2, **figures)
    return run_id


@pytest.fixture
def runs(store):
    a = add_run(
        store, test_acc=0.9, energy_j=3600.0, co2_g=1.0, train_time_s=10.0, peak_mem_mb=100.0
    )
    b = add_run(
        store, test_acc=0.8, energy_j=7200.0, co2_g=2.0, train_time_s=10.0, peak_mem_mb=50.0
    )
    c = add_run(
        store, test_acc=0.95, energy_j=10800.0, co2_g=3.0, train_time_s=30.0, peak_mem_mb=None
    )
    return store, [a, b, c]


def test_compare_values_by_hand(runs) -> None:
    store, ids = runs
    table = compare_runs(load_runs(store, ids))
    a, b, c = table.rows
    assert [v.name for v in table.variants] == ["PePR-E", "PePR-C", "PePR-T", "PePR-M"]
    assert a.resources["energy"] == pytest.approx(1.0)  # 3600 J shown as 1 Wh
    # energy 1, 2, 3 Wh -> R_n 0, 0.5, 1
    assert [r.normalised["energy"] for r in table.rows] == pytest.approx([0.0, 0.5, 1.0])
    assert [r.pepr["energy"] for r in table.rows] == pytest.approx([0.9, 0.8 / 1.5, 0.475])
    assert [r.rank["energy"] for r in table.rows] == [1, 2, 3]
    assert [r.pareto["energy"] for r in table.rows] == [True, False, True]
    # time 10, 10, 30: the two equal cheapest keep P
    assert [r.pepr["time"] for r in table.rows] == pytest.approx([0.9, 0.8, 0.475])
    # memory: c has none -> excluded with a reason, not scored as 0; a vs b only
    assert c.pepr["memory"] is None and c.rank["memory"] is None and not c.pareto["memory"]
    assert "no memory figure" in c.excluded["memory"]
    assert a.pepr["memory"] == pytest.approx(0.45) and b.pepr["memory"] == pytest.approx(0.8)
    assert [r.run_id for r in table.ranked("memory")] == [b.run_id, a.run_id, c.run_id]
    d = table.to_dict()
    assert d["runs"][0]["energy"]["PePR-E"] == pytest.approx(0.9)
    assert d["runs"][2]["memory"]["excluded"].startswith("no memory figure")


def test_compare_one_variant_and_unfinished_runs(store) -> None:
    a = add_run(store, test_acc=0.7, energy_j=100.0)
    b = add_run(store, status="running", test_acc=None, energy_j=50.0)
    table = compare_runs(load_runs(store, [a, b]), resource="energy")
    assert [v.key for v in table.variants] == ["E"]
    assert table.rows[0].pepr["energy"] == pytest.approx(0.7)  # b has no P: not in the set
    assert table.rows[1].excluded["energy"] == "no test accuracy (run is running)"
    assert any(f"run {b} is running" in n for n in table.notes)


def test_compare_refuses_mixed_datasets_unless_allowed(store) -> None:
    a = add_run(store, test_acc=0.7, energy_j=100.0)
    b = add_run(store, dataset="dermamnist", test_acc=0.6, energy_j=200.0)
    runs = load_runs(store, [a, b])
    with pytest.raises(UserError, match=r"different datasets.*--allow-mixed"):
        compare_runs(runs)
    table = compare_runs(runs, allow_mixed=True)
    assert table.datasets == ["dermamnist", "pneumoniamnist"]
    assert table.rows[1].pepr["energy"] == pytest.approx(0.3)
    assert "mixed datasets" in table.notes[0]


def test_user_mistakes(store) -> None:
    a = add_run(store, test_acc=0.7, energy_j=100.0)
    with pytest.raises(UserError, match="no run with id 99, 98"):
        load_runs(store, [a, 99, 98])
    with pytest.raises(UserError, match="no runs to compare"):
        compare_runs([])
    with pytest.raises(UserError, match="unknown resource"):
        compare_runs(load_runs(store, [a]), resource="watts")
    assert [r["id"] for r in load_runs(store, [a, a])] == [a]


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.83, 0.97) == pytest.approx([0.85, 0.9, 0.95])  # step 0.05 >= 0.14 / 5


def test_plot_png(runs, tmp_path: Path) -> None:
    from PIL import Image

    store, ids = runs
    table = compare_runs(load_runs(store, ids))
    out = plot_comparison(table, tmp_path / "cmp.png")
    img = Image.open(out)
    assert img.format == "PNG" and img.size == (1280, 920)  # 2 x 2 panels
    counts = {colour: n for n, colour in img.getcolors(maxcolors=1 << 20)}
    reds = counts.get((214, 39, 40), 0)
    assert reds > 50  # the Pareto points and line are drawn
    with pytest.raises(UserError, match=r"must end in \.png"):
        plot_comparison(table, tmp_path / "cmp.jpg")
    with pytest.raises(UserError, match="does not exist"):
        plot_comparison(table, tmp_path / "nope" / "cmp.png")
