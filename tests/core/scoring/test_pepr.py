"""PePR scoring: the formula, exclusions with reasons, Pareto front, ranking, table scoring."""

from __future__ import annotations

import math
import random

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.scoring.pepr import (
    VARIANTS,
    normalise,
    pareto_front,
    pepr_scores,
    ranking,
    score_table,
    variants_for,
)


def test_normalise_min_max_and_equal_values() -> None:
    assert normalise([10.0, 20.0, 30.0]) == [0.0, 0.5, 1.0]
    assert normalise([5.0, 5.0]) == [0.0, 0.0]  # equal across the set -> 0, so PePR == P
    assert normalise([1.0, None, math.inf, 3.0]) == [0.0, None, None, 1.0]
    assert normalise([None, None]) == [None, None]


def test_pepr_by_hand() -> None:
    # R_n = [0, 0.5, 1] -> PePR = [0.9/1, 0.8/1.5, 0.6/2]
    got = pepr_scores([0.9, 0.8, 0.6], [10.0, 20.0, 30.0])
    assert got == pytest.approx([0.9, 0.8 / 1.5, 0.3])
    assert got[1] == pytest.approx(0.533333, abs=1e-6)


def test_pepr_missing_performance_does_not_move_min_max() -> None:
    # The run without P (resource 1000) is not part of the set: R_n over [10, 20] only.
    assert pepr_scores([0.9, None, 0.5], [10.0, 1000.0, 20.0]) == pytest.approx([0.9, None, 0.25])


def test_pepr_missing_resource_is_none_not_zero() -> None:
    got = pepr_scores([0.9, 0.7, 0.5], [10.0, None, float("nan")])
    assert got[0] == 0.9 and got[1] is None and got[2] is None


def test_pepr_rejects_performance_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match="outside"):
        pepr_scores([0.5, 85.0], [1.0, 2.0])


def test_pareto_front_cases() -> None:
    perf = [0.9, 0.8, 0.9, 0.95, None, 0.7, 0.85]
    res = [2.0, 1.0, 2.0, 5.0, 0.5, 1.0, 3.0]
    # 0.9@2 twice (identical, both on it); 0.8@1 cheapest best; 0.95@5 best; 0.7@1 dominated by
    # 0.8@1; 0.85@3 dominated by 0.9@2; None never on it.
    assert pareto_front(perf, res) == [True, True, True, True, False, False, False]
    # equal performance at more resource is dominated
    assert pareto_front([0.8, 0.8], [1.0, 2.0]) == [True, False]
    assert pareto_front([], []) == []


def _brute_front(perf: list[float], res: list[float]) -> list[bool]:
    out = []
    for i in range(len(perf)):
        dominated = any(
            perf[j] >= perf[i] and res[j] <= res[i] and (perf[j] > perf[i] or res[j] < res[i])
            for j in range(len(perf))
        )
        out.append(not dominated)
    return out


def test_pareto_front_matches_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(1, 25)
        perf = [rng.choice([0.5, 0.6, 0.7, 0.8, rng.random()]) for _ in range(n)]
        res = [rng.choice([1.0, 2.0, 3.0, rng.random() * 5]) for _ in range(n)]
        assert pareto_front(perf, res) == _brute_front(perf, res)


def test_ranking_ties_and_missing() -> None:
    assert ranking([0.5, 0.7, 0.7, None, 0.1]) == [3, 1, 1, None, 4]


def test_variants_by_name() -> None:
    assert [v.name for v in variants_for("all")] == ["PePR-E", "PePR-C", "PePR-T", "PePR-M"]
    assert variants_for("memory")[0].run_column == "peak_mem_mb"
    assert variants_for("PePR-C")[0] is VARIANTS["co2"]
    with pytest.raises(UserError, match="energy, co2, time, memory"):
        variants_for("watts")


ROWS = [
    {"m": "a", "acc": "0.9", "e": "10", "g": "x"},
    {"m": "b", "acc": "0.8", "e": "20", "g": "x"},
    {"m": "c", "acc": "0.6", "e": "30", "g": "x"},
    {"m": "d", "acc": "0.5", "e": "", "g": "x"},
    {"m": "e", "acc": "0.7", "e": "inf", "g": "x"},
    {"m": "f", "acc": "", "e": "1", "g": "x"},
    {"m": "g", "acc": "0.4", "e": "100", "g": "y"},
]


def test_score_table_groups_and_reasons() -> None:
    st = score_table(ROWS, "acc", ["e"], "g")
    sc = st.scores["e"]
    assert sc.pepr[:3] == pytest.approx([0.9, 0.8 / 1.5, 0.3])
    assert sc.pepr[3:6] == [None, None, None]  # excluded, never 0
    assert sc.pepr[6] == pytest.approx(0.4)  # alone in its group: R_n = 0, PePR == P
    assert sc.normalised[6] == 0.0
    assert sc.rank[:3] == [1, 2, 3] and sc.rank[6] == 1
    assert sc.pareto == [True, False, False, False, False, False, True]
    reasons = {(e.row, e.column): e.reason for e in st.excluded}
    assert reasons == {
        (3, "e"): "no value for 'e'",
        (4, "e"): "'e' is inf (not finite)",
        (5, "acc"): "no value for 'acc'",
    }


def test_score_table_user_mistakes() -> None:
    with pytest.raises(UserError, match=r"column 'acc2' is not in the table\. Did you mean: acc"):
        score_table(ROWS, "acc2", ["e"])
    with pytest.raises(UserError, match="no rows"):
        score_table([], "acc", ["e"])
    with pytest.raises(UserError, match=r"row 2, column 'e': 'abc' is not a number"):
        score_table([{"acc": 0.5, "e": 1}, {"acc": 0.5, "e": "abc"}], "acc", ["e"])
    with pytest.raises(UserError, match=r"outside \[0, 1\] \(a percentage\? give 0.853"):
        score_table([{"acc": "85.3", "e": 1}], "acc", ["e"])
    with pytest.raises(UserError, match="outside"):
        score_table([{"acc": -0.1, "e": 1}], "acc", ["e"])
