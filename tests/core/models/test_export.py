"""Export round trips: ONNX (run with onnxruntime) and TorchScript give the PyTorch outputs;
safetensors holds the same tensors; the sidecar says how to feed the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from issue13_helpers import make_run

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models.export import export_model, sidecar_path


@pytest.fixture
def run(store):
    return make_run(store)


def _reference(net, x):
    import torch

    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


def test_onnx_matches_pytorch(store, run, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (extra: export)")
    run_id, net = run
    path, side = export_model(store, run_id, "onnx", tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(5, 1, 28, 28)).astype(np.float32)  # batch != 1
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"input": x})
    np.testing.assert_allclose(out, _reference(net, x), atol=1e-4, rtol=0)
    meta = json.loads(side.read_text())
    assert side == sidecar_path(path) and meta["format"] == "onnx"
    assert meta["timm_model"] == "mobilenetv3_small_050"
    assert meta["class_names"] == ["normal", "pneumonia"]
    assert meta["input_size"] == [1, 28, 28] and meta["colour_mode"] == "L"
    assert meta["normalisation"]["mean"] == [0.5] and meta["normalisation"]["std"] == [0.5]
    assert meta["figures"]["test_acc"] == 0.8 and meta["figures"]["train_time_s"] == 12.0
    # one run in its model space: resources normalise to 0, so PePR-T == P
    assert meta["pepr"]["PePR-T"] == pytest.approx(0.8)
    assert meta["pepr"]["PePR-E"] is None  # no energy figure: not scored as zero


def test_torchscript_matches_pytorch(store, run, tmp_path) -> None:
    import torch

    run_id, net = run
    path, _ = export_model(store, run_id, "torchscript", tmp_path / "m.pt")
    x = np.random.default_rng(1).normal(size=(3, 1, 28, 28)).astype(np.float32)
    with pytest.warns(FutureWarning):  # torch 2.14 marks jit as deprecated; it still loads
        ts = torch.jit.load(str(path))
    with torch.inference_mode():
        out = ts(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, _reference(net, x), atol=1e-4, rtol=0)


def test_safetensors_holds_the_state_dict(store, run, tmp_path) -> None:
    from safetensors.torch import load_file

    from pepr_desktop.core.models.build import build_model

    run_id, net = run
    path, side = export_model(store, run_id, "safetensors", tmp_path / "m.safetensors")
    state = load_file(str(path))
    own = net.state_dict()
    assert state.keys() == own.keys()
    fresh = build_model("mobilenetv3_small_050", in_chans=1, num_classes=2, image_size=28).eval()
    fresh.load_state_dict(state)
    x = np.random.default_rng(2).normal(size=(2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(_reference(fresh, x), _reference(net, x), atol=1e-6)
    assert json.loads(side.read_text())["file"] == "m.safetensors"


def test_export_mistakes_are_user_errors(store, run, tmp_path) -> None:
    run_id, _ = run
    with pytest.raises(UserError, match="is a folder"):
        export_model(store, run_id, "onnx", tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        export_model(store, run_id, "onnx", tmp_path / "no" / "m.onnx")
    with pytest.raises(UserError, match="format must be"):
        export_model(store, run_id, "tflite", tmp_path / "m.tflite")
    with pytest.raises(UserError, match="no run with id"):
        export_model(store, 999, "onnx", tmp_path / "m.onnx")
    assert not list(tmp_path.glob("*.part"))
