"""The catalogue: coverage, exact facts against timm, the facts cache, minimum input size."""

from __future__ import annotations

import csv

import pytest

from pepr_desktop.core.models import catalog
from tests.conftest import SHARED_DATA

PAPER = SHARED_DATA / "pepr_paper"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PEPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_catalogue_spans_sizes_and_families():
    es = catalog.entries()
    assert len(es) >= 40
    params = [e.approx_params(2) for e in es]  # a binary task, as in MedMNIST
    assert min(params) < 600_000 and max(params) > 120_000_000
    fams = {e.family for e in es}
    for fam in (
        "ResNet",
        "EfficientNet",
        "MobileNetV3",
        "RegNet",
        "ConvNeXt",
        "DenseNet",
        "DLA",
        "ViT",
        "DeiT",
        "LCNet",
        "GhostNet",
    ):
        assert fam in fams, fam


def test_catalogue_includes_the_papers_models():
    if not (PAPER / "model_names.csv").is_file():
        pytest.skip("../shared/data/pepr_paper is absent")
    with open(PAPER / "model_names.csv", newline="") as fh:
        paper = {r["model"] for r in csv.DictReader(fh)}
    ours = {e.model for e in catalog.entries() if e.source == "paper"}
    missing = paper - ours
    # gluon_xception65 is gone from timm; crossvit_9_240 runs only at 240 px on the meta device
    assert missing <= {"gluon_xception65", "crossvit_9_240"}, missing


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv3_small_050", "efficientnet_b0"])
def test_facts_match_timm(name):
    import timm

    from pepr_desktop.core.models.build import count_params

    f = catalog.facts(name, 1, 2, 28)
    real = timm.create_model(name, in_chans=1, num_classes=2)
    assert f.params == count_params(real)
    assert f.flops and f.flops > 1e5
    assert f.input_size == 28 and not f.error
    assert f.pretrained_tags and all(t.startswith(name + ".") for t in f.pretrained_tags)
    assert f.weights_cached is False  # empty hub cache
    # the prior's head arithmetic agrees with the exact count (stem channels aside)
    assert abs(catalog.entry(name).approx_params(2) - f.params) / f.params < 0.01


def test_facts_are_cached(monkeypatch, tmp_path):
    first = catalog.facts("resnet10t", 3, 5, 32)
    assert (tmp_path / "cache" / catalog.FACTS_FILE).is_file()

    def boom(*a, **k):
        raise AssertionError("measured again instead of using the cache")

    monkeypatch.setattr(catalog, "measure", boom)
    again = catalog.facts("resnet10t", 3, 5, 32)
    assert again.params == first.params and again.flops == first.flops


def test_model_too_big_for_small_images_gets_its_minimum_size():
    f = catalog.facts("vgg11", 1, 2, 28)
    assert f.min_input_size > 28 and f.input_size == f.min_input_size
    assert catalog.runs_at("vgg11", 1, f.min_input_size)
    assert not catalog.runs_at("vgg11", 1, 28)


def test_weights_cached_sees_a_hub_file(tmp_path):
    import timm.models

    repo = timm.models.get_pretrained_cfg("resnet18").hf_hub_id
    snap = tmp_path / "hf" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "model.safetensors").write_bytes(b"x")
    refs = snap.parents[1] / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc")
    assert catalog.weights_cached("resnet18")
    assert not catalog.weights_cached("resnet34")


def test_catalogue_prunes_by_params():
    rows = catalog.catalogue(1, 2, 28, max_params=1_500_000)
    assert rows and all(r.params <= 1_500_000 for r in rows)
    assert {"mobilenetv3_small_050", "lcnet_050"} <= {r.model for r in rows}


def test_family_names():
    assert catalog.family_of("mobilenetv3_small_050") == "MobileNetV3"
    assert catalog.family_of("seresnext26d_32x4d") == "ResNeXt"
    assert catalog.family_of("resnetrs50") == "ResNet-RS"
