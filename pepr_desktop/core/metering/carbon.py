"""CO2eq = energy x PUE x carbon intensity, with the intensity from a region or a typed number.

The bundled table (`resources/carbon_intensity.csv`) says its sources and years in its header.
Without a region or a number the world average is used and the source says so, so a CO2 figure is
never shown without the values it was computed from.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from pepr_desktop.core.errors import UserError, close_matches
from pepr_desktop.resources_path import resource

TABLE = "carbon_intensity.csv"
WORLD = "WORLD"
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Intensity:
    g_per_kwh: float
    region: str  # the code ("DEU", "US-CA", "WORLD") or "custom"
    source: str  # e.g. "Germany, 2023, OWID/Ember" or "typed in"


@cache
def table() -> dict[str, dict[str, Any]]:
    """code -> row of the bundled table (codes upper case)."""
    path = resource(TABLE)
    with path.open(newline="", encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    out = {}
    for row in csv.DictReader(lines):
        row["g_per_kwh"] = float(row["g_per_kwh"])
        out[row["code"].upper()] = row
    return out


def lookup(region: str) -> Intensity:
    """A region by code (DEU or DE, US-CA, WORLD) or country name (case-insensitive)."""
    rows = table()
    key = region.strip().upper()
    row = rows.get(key)
    if row is None:
        by_alias = {r["iso2"].upper(): r for r in rows.values() if r.get("iso2")}
        by_alias.update({r["name"].upper(): r for r in rows.values()})
        row = by_alias.get(key)
    if row is None:
        names = [*rows, *(r["name"] for r in rows.values())]
        raise UserError(
            f"unknown region '{region}'.{close_matches(region, names)} Use a country code such as "
            "DE or DEU, a US state such as US-CA, or give --carbon-intensity in gCO2/kWh."
        )
    return Intensity(
        row["g_per_kwh"], row["code"], f"{row['name']}, {row['year']}, {row['source']}"
    )


def resolve(region: str | None = None, g_per_kwh: float | None = None) -> Intensity:
    """A typed number wins over a region; neither means the world average."""
    if g_per_kwh is not None:
        if not (math.isfinite(g_per_kwh) and 0 <= g_per_kwh < 5000):
            raise UserError(
                f"carbon intensity must be 0-5000 gCO2/kWh, not {g_per_kwh!r} (world mean ~480)."
            )
        return Intensity(float(g_per_kwh), "custom", "typed in")
    return lookup(region or WORLD)


def co2_g(energy_j: float | None, intensity_g_per_kwh: float, pue: float = 1.0) -> float | None:
    """Grams CO2eq for `energy_j` joules of IT energy; None when the energy is unavailable."""
    if energy_j is None:
        return None
    return energy_j / J_PER_KWH * pue * intensity_g_per_kwh


def run_carbon_fields(meter: Any, energy_j: float | None) -> dict[str, Any]:
    """The runs-table CO2 columns for a session made by `meter_factory` ({} for other meters)."""
    carbon = getattr(meter, "carbon", None)
    settings = getattr(meter, "settings", None)
    if carbon is None or settings is None:
        return {}
    return {
        "co2_g": co2_g(energy_j, carbon.g_per_kwh, settings.pue),
        "carbon_intensity": carbon.g_per_kwh,
        "pue": settings.pue,
    }
