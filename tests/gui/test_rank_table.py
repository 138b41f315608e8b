"""Issue 19: the recommendation in rank order, with a Rank column and the #1 selected, so "Train
selected" trains the top model; the full Why beside the table; units in the headers; numbers in
fixed precision; an unknown expected accuracy shown as unknown, never as chance level."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import Qt

from pepr_desktop.gui.widgets.candidates import COLUMNS, MODEL_COL, RANK_COL
from pepr_desktop.gui.widgets.tables import fmt_sig


def _cand(model: str, rank: int | None, acc: float | None = 0.8, **kw) -> SimpleNamespace:
    base = dict(
        model=model,
        rank=rank,
        params=600_000,
        pretrained=False,
        predicted_time_s=90.0,
        predicted_energy_wh=0.0123,
        predicted_memory_mb=48.0,
        expected_acc=acc,
        acc_source="paper prior",
        expected_pepr=None if rank is None else 0.9 / rank,
        fits=rank is not None,
        why=f"#{rank} of 3 fitting: expected PePR-E ..." if rank else "does not fit: time",
    )
    base.update(kw)
    return SimpleNamespace(**base)


def test_table_is_in_rank_order_and_the_top_model_is_selected(window) -> None:
    ex = window.experiment
    cands = [  # the order a sort by model name would give: not the rank
        _cand("alpha_net", 3),
        _cand("beta_net", None, predicted_time_s=74_000.0),
        _cand("gamma_net", 1, acc=None),
        _cand("delta_net", 2, acc_low=0.7, acc_high=0.9, past_median_error=0.04),
    ]
    ex.show_candidates(cands)
    t = ex.table
    assert t.horizontalHeaderItem(RANK_COL).text() == "Rank"
    models = [t.item(r, MODEL_COL).text() for r in range(t.rowCount())]
    assert models == ["gamma_net", "delta_net", "alpha_net", "beta_net"]
    assert [t.item(r, RANK_COL).text() for r in range(4)] == ["#1", "#2", "#3", "–"]
    assert [c.model for c in ex.selected_configs()] == ["gamma_net"]  # Train selected: the #1
    acc_col = COLUMNS.index("Expected\naccuracy")
    assert t.item(0, acc_col).text() == "unknown"  # not chance level, not a family median
    assert t.item(1, acc_col).text() == "0.800 (0.70–0.90)"
    time_col = COLUMNS.index("Time\n(min)")
    assert t.item(3, time_col).text() == "1,233"  # never 1.2e+03
    assert t.item(0, COLUMNS.index("Energy\n(Wh)")).text() == "0.0123"
    assert {"Time\n(min)", "Energy\n(Wh)", "Memory\n(MB)", "Params\n(M)"} <= set(COLUMNS)
    # the full reasons of the selected model, beside the table
    why = ex.cands.why.toPlainText()
    assert "gamma_net" in why and "unknown" in why and "#1 of 3 fitting" in why
    ex.table.selectRow(1)
    why = ex.cands.why.toPlainText()
    assert "likely 0.70–0.90" in why and "median of 0.04" in why
    # a sort by another column and back keeps the ranks meaningful
    t.sortByColumn(MODEL_COL, Qt.SortOrder.AscendingOrder)
    assert t.item(0, MODEL_COL).text() == "alpha_net"
    t.sortByColumn(RANK_COL, Qt.SortOrder.AscendingOrder)
    assert t.item(0, MODEL_COL).text() == "gamma_net"


def test_fixed_precision() -> None:
    assert fmt_sig(0.04, 2, strip=True) == "0.04"
    assert fmt_sig(0.0412) == "0.0412" and fmt_sig(12.34) == "12.3"
    assert fmt_sig(1234.5) == "1,234" and fmt_sig(None) == "n/a" and fmt_sig(0) == "0"
