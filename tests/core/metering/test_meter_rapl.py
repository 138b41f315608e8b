"""RAPL meter over a fake powercap tree: normal counting, wraparound, permission denied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pepr_desktop.core.metering import MeterSettings, build_meters
from pepr_desktop.core.metering.base import MeterUnavailable
from pepr_desktop.core.metering.rapl import RaplMeter


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def zone(root: Path, name: str, dirname: str, uj: int, max_uj: int = 262_143_328_850) -> Path:
    d = root / dirname
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def set_uj(d: Path, uj: int) -> None:
    (d / "energy_uj").write_text(f"{uj}\n")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "powercap"
    return {
        "root": root,
        "pkg0": zone(root, "package-0", "intel-rapl:0", 1_000_000),
        "core": zone(root, "core", "intel-rapl:0:0", 500_000),
        "dram": zone(root, "dram", "intel-rapl:0:2", 2_000_000),
        "pkg1": zone(root, "package-1", "intel-rapl:1", 7_000_000),
    }


def test_packages_summed_and_dram_separate(tree) -> None:
    clock = FakeClock()
    cpu = RaplMeter("cpu", tree["root"], clock=clock)
    dram = RaplMeter("dram", tree["root"], clock=clock)
    cpu.open()
    dram.open()
    assert sorted(z.name for z in cpu.zones) == ["package-0", "package-1"]  # not "core"
    assert [z.name for z in dram.zones] == ["dram"]
    clock.t = 2.0
    set_uj(tree["pkg0"], 1_000_000 + 30_000_000)  # +30 J
    set_uj(tree["pkg1"], 7_000_000 + 10_000_000)  # +10 J
    set_uj(tree["core"], 99_000_000)  # a subdomain of package-0: must not be added again
    set_uj(tree["dram"], 2_000_000 + 4_000_000)  # +4 J
    r = cpu.read()
    assert r.energy_j == pytest.approx(40.0)
    assert r.power_w == pytest.approx(20.0)
    assert dram.read().energy_j == pytest.approx(4.0)
    assert cpu.method == "rapl" and dram.method == "rapl_dram"


def test_wraparound_uses_max_energy_range(tmp_path: Path) -> None:
    root = tmp_path / "pc"
    max_uj = 1_000_000_000
    d = zone(root, "package-0", "intel-rapl:0", max_uj - 2_000_000, max_uj)
    clock = FakeClock()
    m = RaplMeter("cpu", root, clock=clock)
    m.open()
    clock.t = 1.0
    set_uj(d, 3_000_000)  # wrapped: 2 J up to the top, 3 J after
    r = m.read()
    assert r.energy_j == pytest.approx(5.0)
    clock.t = 2.0
    set_uj(d, 4_000_000)
    assert m.read().energy_j == pytest.approx(6.0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_explains_and_factory_falls_back(tree) -> None:
    for key in ("pkg0", "pkg1", "dram"):
        (tree[key] / "energy_uj").chmod(0o200)
    with pytest.raises(MeterUnavailable, match="root only.*chmod o\\+r"):
        RaplMeter("cpu", tree["root"]).open()
    meters, notes = build_meters(
        "cpu", MeterSettings(powercap_root=str(tree["root"]), cpu_tdp_w=50)
    )
    assert [m.method for m in meters] == ["cpu_estimate", "dram_estimate"]
    assert any("rapl" in n and "root only" in n for n in notes)


def test_permission_denied_as_root_through_a_patched_read(tree, monkeypatch) -> None:
    """The same path for root test runners: reading energy_uj raises PermissionError."""
    real = Path.read_text

    def deny(self: Path, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", deny)
    meters, notes = build_meters("cpu", MeterSettings(powercap_root=str(tree["root"])))
    assert [m.method for m in meters] == ["cpu_estimate", "dram_estimate"]
    assert all(m.estimate for m in meters)
    assert any("root only" in n and "sudo chmod" in n for n in notes)


def test_readable_tree_is_preferred_by_the_factory(tree) -> None:
    meters, notes = build_meters("cpu", MeterSettings(powercap_root=str(tree["root"])))
    assert [m.method for m in meters] == ["rapl", "rapl_dram"]
    assert notes == []


def test_missing_root_says_why(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="no .*powercap"):
        RaplMeter("cpu", tmp_path / "absent").open()
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeterUnavailable, match="no RAPL dram domain"):
        RaplMeter("dram", tmp_path / "empty").open()
