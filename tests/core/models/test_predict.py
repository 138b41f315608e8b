"""Predict: images saved from the dataset as PNG give what training's own pipeline gives;
other sizes and colour modes are converted; checkpoints load with weights_only; bad files are
one-line UserErrors."""

from __future__ import annotations

import numpy as np
import pytest
from issue13_helpers import SHARED_NPZ, make_run, save_test_pngs, torch_probs

from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models.predict import (
    collect_images,
    load_run_model,
    predict_files,
    read_image,
)

pytestmark = pytest.mark.skipif(not SHARED_NPZ.is_file(), reason=f"no shared data: {SHARED_NPZ}")


@pytest.fixture
def loaded(store):
    run_id, net = make_run(store)
    return load_run_model(store, run_id), net


def test_pngs_from_the_dataset_match_training_pipeline(loaded, tmp_path) -> None:
    rm, net = loaded
    paths, arrays = save_test_pngs(tmp_path / "imgs", 4)
    preds = predict_files(rm, [tmp_path / "imgs"])  # a folder expands to its images
    assert [p.path for p in preds] == [str(p) for p in paths]
    ref = torch_probs(net, arrays)
    got = np.array([[p.probabilities["normal"], p.probabilities["pneumonia"]] for p in preds])
    np.testing.assert_allclose(got, ref, atol=1e-6)
    for p, r in zip(preds, ref):
        assert p.label == ["normal", "pneumonia"][int(r.argmax())]
        assert p.confidence == pytest.approx(r.max(), abs=1e-6)


def test_rgb_and_other_sizes_are_converted(loaded, tmp_path) -> None:
    from PIL import Image

    rm, _ = loaded
    paths, arrays = save_test_pngs(tmp_path, 1)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(arrays[0]).convert("RGB").save(rgb)
    big = tmp_path / "big.jpg"
    Image.fromarray(arrays[0]).resize((96, 80)).convert("RGB").save(big, quality=95)
    np.testing.assert_array_equal(read_image(rgb, 1, 28), arrays[0])  # grey RGB -> same L
    assert read_image(big, 1, 28).shape == (28, 28)
    assert read_image(paths[0], 3, 28).shape == (28, 28, 3)  # an RGB model gets RGB
    a, b, c = predict_files(rm, [paths[0], rgb, big])
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-7)
    assert sum(c.probabilities.values()) == pytest.approx(1.0)


def test_bad_files_are_one_line_user_errors(loaded, tmp_path) -> None:
    rm, _ = loaded
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    for target, match in (
        (bad, "not a readable image"),
        (tmp_path / "missing.png", "no such file or folder"),
    ):
        with pytest.raises(UserError, match=match) as exc:
            predict_files(rm, [target])
        assert "\n" not in str(exc.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no images"):
        collect_images([empty])


def test_checkpoint_loads_without_executing_code(store, capsys) -> None:
    """A pickle that would run code on load is refused (weights_only=True), as a UserError."""
    import pickle

    run_id, _ = make_run(store)
    ck = store.get_run(run_id)["checkpoint"]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(ck, "wb") as fh:
        pickle.dump({"model": Evil()}, fh, protocol=2)
    with pytest.raises(UserError, match="not a usable weights file"):
        load_run_model(store, run_id)
    assert "pwned" not in capsys.readouterr().out


def test_run_without_checkpoint(store) -> None:
    run_id = store.create_run(dataset="sample", model="resnet10t", config={"dataset": "sample"})
    with pytest.raises(UserError, match="has no saved model"):
        load_run_model(store, run_id)


def test_a_16bit_image_is_scaled_like_the_import_not_clipped_white(tmp_path) -> None:
    """PIL's convert('L') clips 16-bit values at 255; prediction must see what training saw."""
    import numpy as np
    from PIL import Image

    from pepr_desktop.core.models.predict import read_image

    arr = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)  # 0..63000
    path = tmp_path / "scan.png"
    Image.fromarray(arr).save(path)  # uint16: a 16-bit PNG
    assert Image.open(path).mode.startswith("I")
    out = read_image(path, channels=1, size=8)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, (arr >> 8).astype(np.uint8))
    assert out.min() == 0 and out.max() < 255
