"""`pepr config`, the settings reaching every command (flag > environment > file), global options
after the sub-command, and timm's spellings of the training flags."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from pepr_desktop.cli import build_parser, main
from pepr_desktop.cli.options import TIMM_ALIASES, apply_settings
from pepr_desktop.core import config


def _meter(capsys, *extra: str) -> dict:
    assert main(["meter", "--seconds", "0", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def no_gpu(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr("pepr_desktop.core.metering.rapl.POWERCAP_ROOT", tmp_path / "none")


def test_set_show_unset_path(capsys) -> None:
    assert main(["config", "set", "region", "DK"]) == 0
    assert main(["config", "set", "pue", "1.3"]) == 0
    capsys.readouterr()
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(config.config_path())
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["settings"]
    assert shown["region"] == {"value": "DK", "source": "file", "env": "PEPR_REGION"}
    assert shown["pue"]["value"] == 1.3 and shown["device"]["source"] == "default"
    assert main(["config", "show"]) == 0
    table = capsys.readouterr().out
    assert "region" in table and "DK" in table and "PEPR_CPU_WATTS" in table
    assert main(["config", "unset", "pue"]) == 0
    assert config.read_file() == {"region": "DK"}


def test_settings_reach_a_command_flag_beats_env_beats_file(no_gpu, capsys, monkeypatch) -> None:
    config.set_value("region", "DK")
    config.set_value("pue", "1.3")
    config.set_value("cpu_watts", "65")
    got = _meter(capsys)
    assert (got["carbon"]["region"], got["pue"]) == ("DNK", 1.3)
    assert got["meters"][0]["tdp_w"] == 65.0 and got["meters"][0]["tdp_source"] == "your setting"
    monkeypatch.setenv("PEPR_PUE", "1.2")
    monkeypatch.setenv("PEPR_CARBON_INTENSITY", "100")
    got = _meter(capsys)
    assert (got["carbon"]["region"], got["carbon"]["g_per_kwh"], got["pue"]) == ("custom", 100, 1.2)
    got = _meter(capsys, "--pue", "1.1", "--region", "FR")  # a flag region beats env intensity
    assert (got["carbon"]["region"], got["pue"]) == ("FRA", 1.1)


def test_device_comes_from_the_settings_unless_given() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--data", "sample", "--model", "m"])
    apply_settings(args)
    assert args.device == "auto"
    config.set_value("device", "cuda:1")
    args = parser.parse_args(["train", "--data", "sample", "--model", "m"])
    apply_settings(args)
    assert args.device == "cuda:1"
    args = parser.parse_args(["train", "--data", "sample", "--model", "m", "--device", "cpu"])
    apply_settings(args)
    assert args.device == "cpu"


def test_db_from_the_settings_file_below_pepr_db(tmp_path: Path, capsys, monkeypatch) -> None:
    db = tmp_path / "from_file.sqlite"
    config.set_value("db", str(db))
    monkeypatch.delenv("PEPR_DB")
    assert main(["runs"]) == 0 and db.exists()
    monkeypatch.setenv("PEPR_DB", str(tmp_path / "env.sqlite"))
    assert main(["runs"]) == 0 and (tmp_path / "env.sqlite").exists()


def test_global_options_work_after_the_sub_command(tmp_path: Path, capsys) -> None:
    after, before = tmp_path / "after.sqlite", tmp_path / "before.sqlite"
    assert main(["runs", "--db", str(after)]) == 0 and after.exists()
    assert main(["--db", str(before), "runs", "--json"]) == 0 and before.exists()
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == []
    nested = tmp_path / "nested.sqlite"  # a sub-sub-command: `pepr db check`
    assert main(["db", "check", "--db", str(nested), "-v"]) == 2
    assert f"database {nested} does not exist" in capsys.readouterr().err
    args = build_parser().parse_args(["--db", "a", "runs"])
    assert args.db == "a" and args.verbose is False  # absent below: the top's values stay
    args = build_parser().parse_args(["--db", "a", "runs", "--db", "b", "-v"])
    assert args.db == "b" and args.verbose is True


def test_a_damaged_settings_file_is_one_line_exit_2(capsys) -> None:
    path = config.config_path()
    path.write_text('region = "DK"\npue = = 2\n')
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"settings file {path}, line 2" in err
    assert "Traceback" not in err
    assert main(["config", "path"]) == 0  # still tells where the file is
    assert main(["config", "show"]) == 2


def _options(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.Action]:
    """'train --model' -> its action, for every sub-command (nested ones too)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out.update(_options(child, f"{path}{name} "))
        for opt in action.option_strings:
            out[f"{path}{opt}"] = action
    return out


def test_timm_spellings_are_aliases_wherever_our_option_exists() -> None:
    opts = _options(build_parser())
    checked = 0
    for ours, theirs in TIMM_ALIASES.items():
        for key, action in opts.items():
            command, _, opt = key.rpartition(" ")
            if opt == ours and command:
                for alias in theirs:
                    assert opts.get(f"{command} {alias}") is action, f"{command} {alias}"
                    checked += 1
    assert checked >= 12  # train, recommend, sweep, demo, models


def test_timm_spellings_parse_to_our_fields() -> None:
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "d",
            "-m",
            "resnet18",
            "-b",
            "16",
            "--img-size",
            "64",
            "--smoothing",
            "0.1",
            "--sched",
            "cosine",
            "--initial-checkpoint",
            "w.pt",
        ]
    )
    assert (args.model, args.batch_size, args.image_size) == ("resnet18", 16, 64)
    assert (args.label_smoothing, args.schedule, args.weights) == (0.1, "cosine", "w.pt")
