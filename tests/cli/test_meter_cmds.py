"""`pepr meter`: the capability report, the live readout, JSON output, user mistakes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pepr_desktop.cli import main


@pytest.fixture
def no_gpu_no_rapl(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr("pepr_desktop.core.metering.rapl.POWERCAP_ROOT", tmp_path / "none")


def test_report_says_what_is_estimated_and_why(no_gpu_no_rapl, capsys) -> None:
    assert main(["meter", "--seconds", "0", "--cpu-watts", "65"]) == 0
    out = capsys.readouterr().out
    assert "Device: cpu" in out
    assert "cpu_estimate" in out and "ESTIMATE" in out and "tdp_w 65" in out
    assert "rapl" in out and "powercap" in out  # why RAPL is not used
    assert "nvidia-ml-py" in out  # why the GPU is not metered
    assert "Carbon intensity: 480.6" in out
    assert "Live readout" not in out


def test_live_readout_json(no_gpu_no_rapl, capsys) -> None:
    rc = main(["meter", "--seconds", "0.8", "--period", "0.1", "--json", "--region", "FR"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device"] == "cpu" and data["method"] == "cpu_estimate+dram_estimate"
    assert data["carbon"]["region"] == "FRA" and data["gpu"]["available"] is False
    assert len(data["samples"]) >= 2
    assert all(set(s["power_w"]) == {"cpu", "dram"} for s in data["samples"])
    assert data["total"]["energy_j"] > 0 and "estimate" in data["total"]["note"]


def test_readable_rapl_is_measured(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    root = tmp_path / "powercap"
    for d, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:2", "dram")):
        (root / d).mkdir(parents=True)
        (root / d / "name").write_text(name)
        (root / d / "energy_uj").write_text("1000")
        (root / d / "max_energy_range_uj").write_text("262143328850")
    monkeypatch.setattr("pepr_desktop.core.metering.rapl.POWERCAP_ROOT", root)
    assert main(["meter", "--seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "rapl " in out and "rapl_dram" in out and "measured" in out
    assert "ESTIMATE" not in out


def test_live_text_readout(no_gpu_no_rapl, capsys) -> None:
    assert main(["meter", "--seconds", "0.5", "--period", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "cpu W" in out and "dram W" in out and "Total:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["meter", "--region", "Atlantis"], "unknown region 'Atlantis'"),
        (["meter", "--device", "tpu"], "device must be"),
        (["meter", "--seconds", "-1"], "--seconds"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(no_gpu_no_rapl, capsys, argv, message) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
