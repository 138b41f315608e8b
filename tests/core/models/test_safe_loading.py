"""Safe loading: a weights file or checkpoint whose unpickling would run code is refused, and the
code never runs (torch.load with weights_only=True, or safetensors)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pepr_desktop.cli import main
from pepr_desktop.core.data import registry as datasets
from pepr_desktop.core.errors import UserError
from pepr_desktop.core.models.build import read_state_dict
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.checkpoints import load_checkpoint
from pepr_desktop.core.training.config import TrainConfig
from pepr_desktop.core.training.runner import checkpoint_path
from pepr_desktop.core.training.train import prepare
from tests.conftest import TINY_MODEL


class _Payload:
    """Unpickling this creates `marker` (a stand-in for any code an attacker would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.mkdir, (self.marker,))


def _evil_files(tmp_path: Path, marker: Path) -> list[Path]:
    import torch

    files = []
    raw = tmp_path / "raw_pickle.pt"  # a plain pickle, as torch.save's legacy format would be
    raw.write_bytes(pickle.dumps({"conv.weight": _Payload(marker)}))
    files.append(raw)
    zipped = tmp_path / "torch_zip.pth"  # torch.save's zip format, payload inside a state dict
    torch.save({"model": {"w": torch.zeros(2)}, "evil": _Payload(marker)}, zipped)
    files.append(zipped)
    ckpt = tmp_path / "checkpoint.pt"  # shaped like a PePR checkpoint
    torch.save({"model": _Payload(marker), "optimizer": {}, "epoch": 0}, ckpt)
    files.append(ckpt)
    return files


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    m = tmp_path / "PWNED"
    # the payload is live: unpickling it without protection does create the marker
    pickle.loads(pickle.dumps(_Payload(m)))
    assert m.is_dir()
    m.rmdir()
    return m


def test_read_state_dict_refuses_code(tmp_path: Path, marker: Path) -> None:
    for f in _evil_files(tmp_path, marker):
        with pytest.raises(UserError, match="code in pickles is refused") as info:
            read_state_dict(f)
        assert "\n" not in str(info.value)
        assert not marker.exists(), f
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(UserError, match="not a usable weights file"):
        read_state_dict(bad)


def test_load_checkpoint_refuses_code(tmp_path: Path, marker: Path, store: Store) -> None:
    cfg = TrainConfig(dataset="sample", model=TINY_MODEL, epochs=1, data_fraction=0.1)
    prepared = prepare(cfg, datasets.load(datasets.resolve("sample", store)))
    for f in _evil_files(tmp_path, marker):
        with pytest.raises(UserError, match="cannot be resumed"):
            load_checkpoint(f, prepared)
        assert not marker.exists(), f


def test_cli_train_weights_and_resume_refuse_code(tmp_path: Path, marker: Path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    evil = _evil_files(tmp_path, marker)
    for f in evil:
        code = main(
            ["--db", str(db), "train", "--data", "sample", "--model", TINY_MODEL, "--epochs", "1",
             "--no-meter", "--weights", str(f)]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "refused" in err, err
        assert not marker.exists()
    store = Store(db)
    assert store.runs() == []  # nothing was recorded for the refused file
    cfg = TrainConfig(dataset="sample", model=TINY_MODEL, epochs=2, data_fraction=0.1)
    run_id = store.create_run(dataset="sample", model=TINY_MODEL, config=cfg.to_dict())
    store.update_run(run_id, status="interrupted")
    ck = checkpoint_path(store, run_id)
    ck.parent.mkdir(parents=True)
    ck.write_bytes(evil[2].read_bytes())
    store.close()
    code = main(["--db", str(db), "resume", str(run_id), "--no-meter"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot be resumed" in err, err
    assert not marker.exists()
    assert Store(db).get_run(run_id)["status"] == "interrupted"  # left as it was
