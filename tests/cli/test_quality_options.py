"""The issue-12 training options on the command line: parsed into TrainConfig, bad values are
one-line errors (exit 2)."""

from __future__ import annotations

from pepr_desktop.cli import build_parser, main
from pepr_desktop.cli.options import quality_options
from pepr_desktop.core.training.config import TrainConfig


def test_options_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["train", "--data", "d", "--model", "resnet10t", "--augment", "light", "--schedule",
         "onecycle", "--sampler", "balanced", "--label-smoothing", "0.1", "--early-stop",
         "--early-stop-patience", "3", "--early-stop-min-gain", "0.02"]
    )  # fmt: skip
    cfg = TrainConfig(dataset="d", model="resnet10t", device="cpu", **quality_options(args))
    cfg.validate()
    assert (cfg.augment, cfg.schedule, cfg.sampler) == ("light", "onecycle", "balanced")
    assert (cfg.label_smoothing, cfg.early_stop, cfg.early_stop_patience) == (0.1, True, 3)
    assert cfg.early_stop_min_gain == 0.02


def test_defaults_keep_the_paper_protocol() -> None:
    args = build_parser().parse_args(["train", "--data", "d", "--model", "resnet10t"])
    q = quality_options(args)
    assert q == {
        "sampler": "shuffle", "augment": "none", "schedule": "constant", "label_smoothing": 0.0,
        "early_stop": False, "early_stop_patience": 2, "early_stop_min_gain": 0.01,
    }  # fmt: skip


def test_bad_label_smoothing_is_one_line(capsys) -> None:
    rc = main(["train", "--data", "nope", "--model", "resnet10t", "--label-smoothing", "1.5"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "label smoothing must be in [0, 1)" in err and "\n" not in err


def test_choices_are_core_s_one_definition() -> None:
    """The CLI's choices are core/training/config.py's tuples (issue 17), on every command that
    has them."""
    from pepr_desktop.core.training import config as train

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in ("train", "sweep", "recommend"):
        actions = {a.dest: a for a in commands[name]._actions}
        assert tuple(actions["class_weights"].choices) == train.CLASS_WEIGHTS
        assert tuple(actions["augment"].choices) == train.AUGMENTS
        assert tuple(actions["schedule"].choices) == train.SCHEDULES
        assert tuple(actions["sampler"].choices) == train.SAMPLERS
        assert "light" in actions["augment"].choices and "heavy" not in actions["augment"].choices


def test_building_the_parser_does_not_load_core_train() -> None:
    """The parser reads the choices from core/training/config.py, which loads neither the
    training loop nor numpy: `pepr --help` stays fast."""
    import subprocess
    import sys

    code = (
        "import sys; from pepr_desktop.cli import build_parser; build_parser(); "
        "print('pepr_desktop.core.training.train' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
