"""Carbon intensity table, region lookup, CO2 arithmetic, settings checks, projection."""

from __future__ import annotations

import pytest

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.metering import MeterSettings
from pepr_desktop.core.metering.carbon import co2_g, lookup, resolve, table
from pepr_desktop.core.metering.projection import project
from pepr_desktop.resources_path import resource


def test_table_states_source_and_year() -> None:
    head = [
        ln for ln in resource("carbon_intensity.csv").read_text().splitlines() if ln.startswith("#")
    ]
    text = " ".join(head)
    assert "Our World in Data" in text and "Ember" in text and "eGRID2023" in text
    rows = table()
    assert len(rows) > 200
    assert all(0 <= r["g_per_kwh"] < 2000 and r["year"] for r in rows.values())


def test_lookup_by_code_iso2_name_and_us_state() -> None:
    de = lookup("DEU")
    assert lookup("de") == de == lookup("germany")
    assert de.g_per_kwh == pytest.approx(380.9) and "2023" in de.source
    assert lookup("DK").region == "DNK"
    assert lookup("US-CA").g_per_kwh < lookup("USA").g_per_kwh
    assert lookup("FRA").g_per_kwh < lookup("POL").g_per_kwh  # nuclear vs coal


def test_unknown_region_is_a_user_error_with_suggestion() -> None:
    with pytest.raises(UserError, match="unknown region 'Germny'.*Germany.*--carbon-intensity"):
        lookup("Germny")


def test_resolve_prefers_typed_number_then_region_then_world() -> None:
    assert resolve("DEU", 100.0).g_per_kwh == 100.0
    assert resolve("DEU", 100.0).source == "typed in"
    assert resolve("FRA").region == "FRA"
    world = resolve()
    assert world.region == "WORLD" and 300 < world.g_per_kwh < 700
    with pytest.raises(UserError, match="carbon intensity"):
        resolve(None, -1.0)


def test_co2_arithmetic() -> None:
    # 3.6 MJ = 1 kWh; x PUE 1.5 x 400 g/kWh = 600 g
    assert co2_g(3.6e6, 400.0, 1.5) == pytest.approx(600.0)
    assert co2_g(None, 400.0) is None


def test_settings_check_their_numbers() -> None:
    s = MeterSettings(region="DE", pue=1.2)
    assert s.intensity.region == "DEU"
    for bad in (
        {"pue": 0.5},
        {"period_s": 0.0},
        {"idle_baseline_s": -1},
        {"cpu_tdp_w": float("nan")},
        {"region": "Atlantis"},
    ):
        with pytest.raises(UserError):
            MeterSettings(**bad)


def test_projection_after_first_epoch() -> None:
    assert project([], [], 10) is None
    p = project([10.0], [100.0], 10)
    assert p.time_s == pytest.approx(100.0) and p.energy_j == pytest.approx(1000.0)
    assert p.remaining_time_s == pytest.approx(90.0)
    # warm-up epoch dropped from the rate once there are three epochs
    p = project([20.0, 10.0, 10.0], [200.0, 100.0, 100.0], 5)
    assert p.time_s == pytest.approx(60.0) and p.energy_j == pytest.approx(600.0)
    assert project([10.0, 10.0], [100.0, None], 4).energy_j is None
    assert project([10.0, 10.0], [100.0, None], 4).time_s == pytest.approx(40.0)
