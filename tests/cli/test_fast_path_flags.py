"""The fast-path flags of `pepr train`, `pepr sweep` and `pepr auto`: shown in --help, bad values
refused in one line (exit 2), given values stored with the run, and on the CPU "auto" recorded as
resolved to off."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pepr_desktop.cli import build_parser, main
from pepr_desktop.core.store import Store
from pepr_desktop.core.training.fast_path import FAST_KEY
from tests.conftest import TINY_MODEL, write_npz

FLAGS = ("--amp", "--channels-last", "--cudnn-benchmark", "--tf32", "--compile-step")


@pytest.fixture
def db(tmp_path: Path, capsys) -> str:
    path = str(tmp_path / "p.sqlite")
    data = write_npz(tmp_path / "tiny.npz", (48, 16, 16), 28)
    assert main(["--db", path, "import-data", str(data), "--name", "tiny"]) == 0
    capsys.readouterr()
    return path


def _runs(db: str) -> list[dict]:
    with Store(Path(db)) as store:
        return store.runs()


@pytest.mark.parametrize("command", ["train", "sweep", "auto"])
def test_help_shows_the_flags(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in FLAGS:
        assert flag in out, flag
    assert "bf16" in out and "fp16" in out


@pytest.mark.parametrize("command", ["train", "sweep", "auto"])
@pytest.mark.parametrize(
    "bad", [["--amp", "fp8"], ["--channels-last", "yes"], ["--tf32", "1"], ["--compile-step=on"]]
)
def test_bad_values_exit_2_in_one_line(command: str, bad: list[str], tmp_path, capsys) -> None:
    argv = ["--db", str(tmp_path / "p.sqlite"), command, "--data", "tiny", *bad]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--model" if command == "train" else "--models", TINY_MODEL])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and "error:" in err, err
    assert not (tmp_path / "p.sqlite").exists()  # refused before the store is opened


def test_given_flags_reach_the_stored_run(db: str, capsys) -> None:
    argv = ["--db", db, "train", "--data", "tiny", "--model", TINY_MODEL, "--epochs", "1"]
    fast = ["--amp", "bf16", "--channels-last", "on", "--cudnn-benchmark", "off", "--tf32", "off"]
    assert main([*argv, "-b", "16", "--no-meter", *fast]) == 0
    (run,) = _runs(db)
    cfg = run["config"]
    assert (cfg["amp"], cfg["channels_last"], cfg["cudnn_benchmark"], cfg["tf32"]) == (
        "bf16",
        "on",
        "off",
        "off",
    )
    assert cfg["compile_step"] is False
    # what they resolved to on this CPU: forced on where given, never "auto"
    assert cfg["extra"][FAST_KEY] == {
        "amp": "bf16",
        "channels_last": True,
        "cudnn_benchmark": False,
        "tf32": False,
        "compiled": False,
    }


def test_auto_is_recorded_as_off_on_the_cpu(db: str, capsys) -> None:
    argv = ["--db", db, "train", "--data", "tiny", "--model", TINY_MODEL, "--epochs", "1"]
    assert main([*argv, "-b", "16", "--no-meter", "--device", "cpu"]) == 0
    (run,) = _runs(db)
    assert run["config"]["amp"] == "auto" and run["config"]["channels_last"] == "auto"
    resolved = run["config"]["extra"][FAST_KEY]
    assert resolved["amp"] == "off" and not any(v for k, v in resolved.items() if k != "amp")
    with Store(Path(db)) as store:
        epochs = store.epochs(run["id"])
    assert epochs and epochs[-1]["extra"][FAST_KEY] == resolved  # and with every epoch


def test_a_sweep_passes_the_flags_to_every_job(db: str, capsys) -> None:
    argv = ["--db", db, "sweep", "--data", "tiny", "--models", TINY_MODEL, "--epochs", "1"]
    assert main([*argv, "-b", "16", "--no-meter", "--amp", "off", "--channels-last", "on"]) == 0
    (run,) = _runs(db)
    assert run["config"]["amp"] == "off" and run["config"]["channels_last"] == "on"


def test_auto_passes_the_flags_and_concurrency_to_its_runs() -> None:
    from pepr_desktop.cli.auto_cmds import spec_from_args
    from pepr_desktop.core.search.auto.engine import _Search

    given = ["--amp", "fp16", "--tf32", "off", "--compile-step", "--concurrency", "2"]
    args = build_parser().parse_args(
        ["auto", "--data", "tiny", "--time-min", "1", *given, "--no-meter"]
    )
    spec = spec_from_args(args).validate()
    assert spec.concurrency == 2
    assert spec.fast_path == {
        "amp": "fp16",
        "channels_last": "auto",
        "cudnn_benchmark": "auto",
        "tf32": "off",
        "compile_step": True,
    }
    base = _Search._base(SimpleNamespace(spec=spec))  # the config every probe and run starts from
    assert (base.amp, base.tf32, base.compile_step) == ("fp16", "off", True)
    defaults = spec_from_args(build_parser().parse_args(["auto", "--data", "t", "--time-min", "1"]))
    assert defaults.concurrency == 0 and defaults.fast_path["amp"] == "auto"


def test_bad_concurrency_exits_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--db", str(tmp_path / "p.sqlite"), "auto", "--data", "t", "--concurrency", "-1"])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    ray = ["--concurrency", "2", "--backend", "ray"]
    code = main(
        ["--db", str(tmp_path / "p.sqlite"), "auto", "--data", "t", "--time-min", "1", *ray]
    )
    assert code == 2 and "local backend" in capsys.readouterr().err
