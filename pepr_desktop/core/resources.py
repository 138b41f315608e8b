"""The resources PePR can be computed over: one registry, read by every layer.

Each entry says how a resource is named (CLI choice, GUI combo), labelled and in which unit it is
shown, which column of a stored run holds it (and in which stored unit), which column of the
paper's table, which field of a recommender candidate predicts it, and whether it accumulates over
epochs (energy does; a peak does not). Adding a resource means one entry here, the meter that
measures it and a store migration for its column; the CLI choices, GUI combos and columns, the
recommender and the scoring are built from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from pepr_desktop.core.errors import UserError


@dataclass(frozen=True)
class Resource:
    key: str  # PePR variant letter: "E"
    resource: str  # name on the command line and in the GUI: energy, co2, time, memory
    label: str  # "Energy"
    unit: str  # display unit of stored runs
    run_column: str  # column of the `runs` table
    scale: float  # run_column value * scale -> display unit
    paper_column: str  # column of the paper's all_results.csv
    paper_unit: str
    predicted: str  # field of recommend.Candidate predicting it, in `unit`
    accumulates: bool  # sums over epochs (energy, CO2, time), not a peak

    @property
    def name(self) -> str:
        return f"PePR-{self.key}"

    def display(self, run: dict) -> float | None:
        """The stored run's figure in the display unit; None when unavailable."""
        value = run.get(self.run_column)
        return None if value is None else value * self.scale


# Energy is stored in joules and shown in Wh (a laptop run is a few Wh; kWh would be 0.00x).
# The scale does not change the score: min-max normalisation is unit-free.
RESOURCES: dict[str, Resource] = {
    r.resource: r
    for r in (
        Resource("E", "energy", "Energy", "Wh", "energy_j", 1 / 3600, "energy", "kWh",
                 "predicted_energy_wh", True),
        Resource("C", "co2", "CO2", "g", "co2_g", 1.0, "co2", "g", "predicted_co2_g", True),
        Resource("T", "time", "Time", "s", "train_time_s", 1.0, "train_time", "s",
                 "predicted_time_s", True),
        Resource("M", "memory", "Memory", "MB", "peak_mem_mb", 1.0, "memR", "GB",
                 "predicted_memory_mb", False),
    )
}  # fmt: skip
NAMES: tuple[str, ...] = tuple(RESOURCES)
CHOICES: tuple[str, ...] = (*NAMES, "all")
LETTERS: tuple[str, ...] = tuple(r.key for r in RESOURCES.values())


def resources_for(text: str) -> list[Resource]:
    """`energy|co2|time|memory` (or E/C/T/M, PePR-E...) -> [Resource]; `all` -> every one."""
    key = text.strip().lower()
    if key == "all":
        return list(RESOURCES.values())
    for r in RESOURCES.values():
        if key in (r.resource, r.key.lower(), r.name.lower()):
            return [r]
    raise UserError(f"unknown resource '{text}'; choose one of {', '.join(CHOICES)}.")
