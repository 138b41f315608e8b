"""The CPU's TDP from CodeCarbon's table: detection from fake /proc/cpuinfo text, CodeCarbon's
matching rules, and the labelled fallback to 7 W per core."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pepr_desktop.core.metering import cpu_tdp
from pepr_desktop.core.metering.cpu_estimate import CpuEstimateMeter
from pepr_desktop.resources_path import resource

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 142
model name\t: Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz
stepping\t: 10

processor\t: 1
model name\t: Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
CPU implementer\t: 0x41

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_the_bundled_table_is_codecarbons_file_with_its_licence() -> None:
    folder = resource("cpu_power")
    assert "MIT License" in (folder / "LICENSE").read_text()
    assert "3.3.2" in (folder / "README.md").read_text()
    with (folder / "cpu_power.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 4800 and list(rows[0]) == ["Name", "TDP"]
    t = cpu_tdp.table()
    assert len(rows) - 10 < len(t) <= len(rows)  # only the unparseable TDPs are left out
    assert t["Intel Core i7-8550U"] == 15.0 and t["AMD Ryzen 9 5950X"] == 105.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz", "Intel Core i7-8550U"),
        ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Intel Xeon E5-2680 v4"),
        ("Intel(R) Xeon(R) Gold 6226R CPU @ 2.90GHz", "Intel Xeon Gold 6226R"),
        ("13th Gen Intel(R) Core(TM) i9-13900K", "Intel Core i9-13900K"),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X"),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763"),
        ("apple m1", "Apple M1"),  # exact, case-insensitive (macOS brand string)
    ],
)
def test_real_cpu_names_match_their_row(raw: str, expected: str) -> None:
    assert cpu_tdp.match_cpu(raw) == expected
    found = cpu_tdp.cpu_power(raw, physical_cores=4)
    assert found.watts == cpu_tdp.table()[expected] and found.matched == expected
    assert found.source == f"CodeCarbon 3.3.2 CPU table: {expected}"


@pytest.mark.parametrize("raw", ["AMD EPYC", "Neoverse-N1", "Raspberry Pi 4 Model B Rev 1.4", ""])
def test_unknown_or_ambiguous_cpus_fall_back_to_the_core_rule_and_say_so(raw: str) -> None:
    found = cpu_tdp.cpu_power(raw, physical_cores=6)
    assert found.matched is None and found.watts == 42.0
    assert found.source.startswith("7 W per physical core")
    assert (raw in found.source) if raw else "unknown" in found.source


def test_ambiguity_and_word_subsets_follow_codecarbon() -> None:
    names = {"Intel Core i5-1135G7": 28.0, "AMD EPYC 7763": 280.0, "AMD EPYC 7713": 225.0}
    assert (
        cpu_tdp.match_cpu("Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", names) == "Intel Core i5-1135G7"
    )
    assert cpu_tdp.match_cpu("AMD EPYC", names) is None  # two rows contain both words
    assert cpu_tdp.match_cpu("AMD EPYC 7713 64-Core Processor", names) == "AMD EPYC 7713"
    assert cpu_tdp.match_cpu("Intel Pentium", names) is None


def test_model_name_from_fake_cpuinfo(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(cpu_tdp.sys, "platform", "linux")
    info = tmp_path / "cpuinfo"
    info.write_text(X86_CPUINFO)
    assert cpu_tdp.detect_cpu_model(info) == "Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz"
    info.write_text(ARM_CPUINFO)  # ARM boards name the board, not the core
    assert cpu_tdp.detect_cpu_model(info) == "Raspberry Pi 4 Model B Rev 1.4"
    info.write_text("processor\t: 0\nmodel\t\t: 85\n")  # a model *number* is no name
    monkeypatch.setattr(cpu_tdp.platform, "processor", lambda: "x86_64")
    assert cpu_tdp.detect_cpu_model(info) == ""


def test_meter_labels_where_its_tdp_came_from(monkeypatch) -> None:
    known = cpu_tdp.cpu_power("Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz")
    monkeypatch.setattr("pepr_desktop.core.metering.cpu_estimate.this_cpu", lambda: known)
    m = CpuEstimateMeter()
    assert m.tdp_w == 15.0 and m.info()["tdp_source"].endswith("Intel Core i7-8550U")
    unknown = cpu_tdp.cpu_power("AMD EPYC", physical_cores=2)
    monkeypatch.setattr("pepr_desktop.core.metering.cpu_estimate.this_cpu", lambda: unknown)
    m = CpuEstimateMeter()
    assert m.tdp_w == 15.0 and "7 W per physical core" in m.info()["tdp_source"]
    assert CpuEstimateMeter(65.0).info() == {
        "tdp_w": 65.0,
        "tdp_source": "your setting",
        "scope": "system",
        "model": "TDP x CPU utilisation",
    }
