"""The PePR paper's own model space (Selvan et al., NLDL 2025, arXiv 2403.12562): 131 timm models
trained on 8 experiments, with measured energy, CO2, time and memory. Shipped (MIT licence beside
it) in resources/pepr_paper/ so a user can see the reference landscape offline, and so the
recommender can use it as a prior.

Performance is the test accuracy after the final (10th) epoch, `test_09`, as in the paper; the
model space of a score is one experiment.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from typing import Any

from pepr_desktop.core.errors import UserError, close_matches
from pepr_desktop.core.scoring.pepr import VARIANTS, score_table
from pepr_desktop.resources_path import resource

PERFORMANCE = "test_09"
GROUP = "dataset"
RESULTS_FILE = ("pepr_paper", "all_results.csv")
MODELS_FILE = ("pepr_paper", "model_names.csv")
CITATION = (
    'Selvan et al., "PePR: Performance Per Resource Unit as a Metric to Promote Small-Scale Deep '
    'Learning", NLDL 2025, arXiv 2403.12562 (data: MIT licence)'
)


@dataclass(frozen=True)
class PaperModel:
    """One model in one experiment, in the paper's units, with its PePR per variant."""

    model: str
    experiment: str
    num_param: int
    type: str
    efficient: bool
    test_acc: float
    energy_kwh: float
    co2_g: float
    train_time_s: float
    mem_gb: float
    pepr: dict[str, float]  # "E", "C", "T", "M"
    rank: dict[str, int]  # within the experiment, 1 = best
    pareto: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("pepr", "rank")}
        d.pop("pareto")
        for key in self.pepr:
            d[f"pepr_{key}"] = self.pepr[key]
            d[f"rank_{key}"] = self.rank[key]
            d[f"pareto_{key}"] = self.pareto[key]
        return d


def _read(parts: tuple[str, str]) -> list[dict[str, str]]:
    path = resource(*parts)
    if not path.is_file():
        raise UserError(f"the paper's data file {path} is missing; reinstall PePR Desktop.")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@cache
def _scored() -> tuple[PaperModel, ...]:
    rows = _read(RESULTS_FILE)
    variants = list(VARIANTS.values())
    st = score_table(rows, PERFORMANCE, [v.paper_column for v in variants], GROUP)
    out = []
    for i, r in enumerate(rows):
        out.append(
            PaperModel(
                model=r["model"],
                experiment=r[GROUP],
                num_param=int(float(r["num_param"])),
                type=r["type"],
                efficient=r["efficient"].strip() == "1",
                test_acc=float(r[PERFORMANCE]),
                energy_kwh=float(r["energy"]),
                co2_g=float(r["co2"]),
                train_time_s=float(r["train_time"]),
                mem_gb=float(r["memR"]),
                pepr={v.key: st.scores[v.paper_column].pepr[i] for v in variants},  # type: ignore[misc]
                rank={v.key: st.scores[v.paper_column].rank[i] for v in variants},  # type: ignore[misc]
                pareto={v.key: st.scores[v.paper_column].pareto[i] for v in variants},
            )
        )
    return tuple(out)


def experiments() -> list[str]:
    """The paper's experiments (datasets and variants such as derma_pt = pretrained), sorted."""
    return sorted({m.experiment for m in _scored()})


def paper_models(experiment: str | None = None) -> list[PaperModel]:
    """All 1048 (model, experiment) rows, or one experiment's, in the file's order."""
    rows = list(_scored())
    if experiment is None:
        return rows
    names = experiments()
    if experiment not in names:
        raise UserError(
            f"unknown experiment '{experiment}'.{close_matches(experiment, names)} "
            f"Experiments: {', '.join(names)}."
        )
    return [m for m in rows if m.experiment == experiment]


def model_info() -> dict[str, dict[str, Any]]:
    """The 131 architectures: parameter count, type (CNN/Other), designed-for-efficiency flag."""
    return {
        r["model"]: {
            "num_param": int(float(r["num_param"])),
            "type": r["type"],
            "efficient": r["efficient"].strip() == "1",
            "link": r.get("link") or None,
        }
        for r in _read(MODELS_FILE)
    }
