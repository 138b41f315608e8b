"""`pepr models` and `pepr recommend`: JSON output, budgets and user mistakes (exit 2)."""

from __future__ import annotations

import json

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.models import catalog
from pepr_desktop.core.search import probe as probing

SMALL = ("lcnet_050", "mobilenetv3_small_050", "resnet10t", "resnet18", "efficientnet_b0")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PEPR_DB", str(tmp_path / "db.sqlite"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    few = tuple(e for e in catalog.entries() if e.model in SMALL)
    monkeypatch.setattr(catalog, "entries", lambda: few)


def fake_probe(name, **kw):
    return probing.ProbeResult(
        {
            "lcnet_050": 0.01,
            "mobilenetv3_small_050": 0.02,
            "efficientnet_b0": 0.03,
            "resnet10t": 0.05,
            "resnet18": 2.0,
        }[name],
        1e-4,
        40.0,
    )


def test_models_json(capsys):
    assert main(["models", "--max-params", "2000000", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in rows} == {"lcnet_050", "mobilenetv3_small_050"}
    assert all(r["params"] <= 2_000_000 and r["flops"] > 0 for r in rows)


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "resnet18" in out and "MobileNetV3" in out


def test_recommend_json(capsys, monkeypatch):
    monkeypatch.setattr(probing, "probe", fake_probe)
    code = main(["recommend", "--data", "sample", "--time-min", "1", "--device", "cpu", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    fit = out["fitting"]
    assert set(fit) == {"lcnet_050", "mobilenetv3_small_050", "resnet10t", "efficientnet_b0"}
    cands = {c["model"]: c for c in out["candidates"]}
    assert cands["resnet18"]["fits"] is False and "time" in cands["resnet18"]["why"]
    # the one model the paper trained leads by expected PePR; the others are unknown, after it
    top = cands[fit[0]]
    assert top["model"] == "efficientnet_b0" and top["acc_source"] == "paper prior"
    assert top["rank"] == 1 and top["expected_pepr"] is not None
    assert top["acc_low"] < top["expected_acc"] < top["acc_high"]
    for name in fit[1:]:
        assert cands[name]["expected_acc"] is None and cands[name]["acc_source"] == "unknown"
    assert out["settings"]["epochs"] == 10 and out["power_source"].startswith("estimate")
    assert out["calibration"] == "no past predictions yet" and out["past_predictions"] == 0
    assert out["carbon_source"].startswith(f"{out['carbon_g_per_kwh']:g} g/kWh")


def test_recommend_uses_the_region_and_pue(capsys, monkeypatch):
    from pepr_desktop.core.metering.carbon import lookup

    monkeypatch.setattr(probing, "probe", fake_probe)
    argv = ["recommend", "--data", "sample", "--device", "cpu", "--region", "DE", "--pue", "1.3"]
    assert main([*argv, "--cpu-watts", "40", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    de = lookup("DE").g_per_kwh
    assert out["carbon_g_per_kwh"] == de and "PUE 1.3" in out["carbon_source"]
    assert out["power_w"] == 40.0
    for c in out["candidates"]:
        assert c["predicted_co2_g"] == pytest.approx(c["predicted_energy_wh"] / 1000 * 1.3 * de)


def test_recommend_table(capsys, monkeypatch):
    monkeypatch.setattr(probing, "probe", fake_probe)
    assert main(["recommend", "--data", "sample", "--energy-wh", "0.001", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Nothing fits energy <= 0.001 Wh")
    assert main(["recommend", "--data", "sample", "--time-min", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "expected accuracy: no past predictions yet" in out
    assert "unknown" in out and "paper prior" in out and "exp acc [interval]" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["recommend", "--data", "nosuch"], "unknown dataset 'nosuch'"),
        (["recommend", "--data", "sample", "--weights", "w.pt"], "--weights needs --model"),
        (["recommend", "--data", "sample", "--device", "tpu"], "device must be"),
        (["recommend", "--data", "sample", "--region", "Atlantis"], "unknown region 'Atlantis'"),
    ],
)
def test_recommend_user_mistakes(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_bad_numbers_exit_2(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["recommend", "--data", "sample", "--time-min", "-3"])
    assert ex.value.code == 2
