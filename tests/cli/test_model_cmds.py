"""`pepr models` and `pepr recommend`: JSON output, budgets and user mistakes (exit 2)."""

from __future__ import annotations

import json

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.models import catalog
from pepr_desktop.core.search import recommend as rc

SMALL = ("lcnet_050", "mobilenetv3_small_050", "resnet10t", "resnet18")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PEPR_DB", str(tmp_path / "db.sqlite"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    few = tuple(e for e in catalog.entries() if e.model in SMALL)
    monkeypatch.setattr(catalog, "entries", lambda: few)


def fake_probe(name, **kw):
    return rc.ProbeResult(
        {"lcnet_050": 0.01, "mobilenetv3_small_050": 0.02, "resnet10t": 0.05, "resnet18": 2.0}[
            name
        ],
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
    monkeypatch.setattr(rc, "probe", fake_probe)
    code = main(["recommend", "--data", "sample", "--time-min", "1", "--device", "cpu", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    fit = out["fitting"]
    assert set(fit) == {"lcnet_050", "mobilenetv3_small_050", "resnet10t"}
    cands = {c["model"]: c for c in out["candidates"]}
    assert cands["resnet18"]["fits"] is False and "time" in cands["resnet18"]["why"]
    top = cands[fit[0]]
    assert top["rank"] == 1 and top["expected_pepr"] is not None and top["acc_source"]
    assert out["settings"]["epochs"] == 10 and out["power_source"].startswith("estimate")


def test_recommend_table(capsys, monkeypatch):
    monkeypatch.setattr(rc, "probe", fake_probe)
    assert main(["recommend", "--data", "sample", "--energy-wh", "0.001", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Nothing fits energy <= 0.001 Wh")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["recommend", "--data", "nosuch"], "unknown dataset 'nosuch'"),
        (["recommend", "--data", "sample", "--weights", "w.pt"], "--weights needs --model"),
        (["recommend", "--data", "sample", "--device", "tpu"], "device must be"),
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
