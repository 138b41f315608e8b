"""core/config.py: the settings file, its layers (flag > environment > file > default), and one-line
errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr_desktop.core import config
from pepr_desktop.core.errors import UserError


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "conf" / "config.toml"
    monkeypatch.setenv("PEPR_CONFIG", str(path))
    return path


def test_path_follows_pepr_config_else_the_user_config_dir(cfg: Path, monkeypatch) -> None:
    assert config.config_path() == cfg
    monkeypatch.delenv("PEPR_CONFIG")
    assert config.config_path().name == "config.toml"
    assert config.config_path().parent == config.config_dir()


def test_layers_flag_over_env_over_file_over_default(cfg: Path) -> None:
    config.set_value("pue", "1.2")
    config.set_value("device", "CUDA:1")
    config.set_value("cpu_watts", "65")
    env = {"PEPR_PUE": "1.3", "PEPR_DB": "/tmp/env.sqlite"}
    got = config.resolve({"pue": 1.4, "device": None}, environ=env)
    assert (got["pue"].value, got["pue"].source) == (1.4, "flag")
    assert (got["device"].value, got["device"].source) == ("cuda:1", "file")
    assert (got["db"].value, got["db"].source) == ("/tmp/env.sqlite", "env PEPR_DB")
    assert (got["cpu_watts"].value, got["cpu_watts"].source) == (65.0, "file")
    assert config.resolve({}, environ=env)["pue"].value == 1.3
    assert config.resolve({}, environ={})["region"] == config.Setting(None, "default")


def test_region_and_intensity_are_one_choice(cfg: Path) -> None:
    config.set_value("carbon_intensity", "120")
    got = config.resolve({"region": "DE"}, environ={})  # a region typed now beats the file's number
    assert got["region"].value == "DE" and got["carbon_intensity"] == config.Setting(None, "flag")
    got = config.resolve({}, environ={"PEPR_REGION": "FR"})
    assert got["region"].value == "FR" and got["carbon_intensity"].value is None
    assert config.resolve({}, environ={})["carbon_intensity"].value == 120.0


def test_set_keeps_other_keys_and_tables_and_unset_removes(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text('region = "DK"\n\n[gui]\ntheme = "dark"\n')
    config.set_value("pue", "1.5")
    text = cfg.read_text()
    assert text.startswith("# PePR Desktop settings")
    assert config.read_file() == {"region": "DK", "pue": 1.5}
    assert 'theme = "dark"' in text and text.index("pue") < text.index("[gui]")
    assert config.unset("region") and not config.unset("region")
    assert config.read_file() == {"pue": 1.5}
    assert not list(cfg.parent.glob("*.part"))


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("pue", "0.5", "pue must be a number 1-5, not '0.5'"),
        ("pue", "nan", "pue must be a number"),
        ("cpu_watts", "lots", "cpu_watts must be a number 1-2000"),
        ("carbon_intensity", "-3", "carbon_intensity must be a number 0-5000"),
        ("device", "tpu", "device must be auto, cpu, cuda or cuda:N"),
        ("region", "Atlantis", "unknown region 'Atlantis'"),
        ("regoin", "DK", "unknown setting 'regoin'. Did you mean: region?"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(cfg, key, text, expected) -> None:
    with pytest.raises(UserError, match=expected.replace("(", r"\(").replace("?", r"\?")):
        config.set_value(key, text)
    assert not cfg.exists()


def test_a_damaged_file_names_the_file_and_the_line(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text('region = "DK"\n\npue = \n')
    with pytest.raises(UserError) as exc:
        config.resolve()
    msg = str(exc.value)
    assert f"settings file {cfg}, line 3:" in msg and "\n" not in msg
    with pytest.raises(UserError, match="line 3"):
        config.set_value("region", "DE")  # a damaged file is not overwritten
    assert cfg.read_text().endswith("pue = \n")


def test_a_bad_value_in_the_file_names_its_line(cfg: Path) -> None:
    cfg.parent.mkdir()
    cfg.write_text('# mine\nregion = "DK"\n\npue = "high"\n')
    with pytest.raises(UserError, match=rf"settings file {cfg}, line 4: pue must be a number"):
        config.read_file()
    cfg.write_text('region = "DK"\nregoin = "DK"\n')
    with pytest.raises(UserError, match="line 2: unknown setting 'regoin'"):
        config.read_file()
    cfg.write_bytes(b"\xff\xfe")
    with pytest.raises(UserError, match="not UTF-8"):
        config.read_file()


def test_a_bad_environment_variable_names_itself(cfg: Path) -> None:
    with pytest.raises(UserError, match="environment variable PEPR_CPU_WATTS='x'"):
        config.resolve(environ={"PEPR_CPU_WATTS": "x"})
    assert config.resolve(environ={"PEPR_CPU_WATTS": " "})["cpu_watts"].value is None


def test_save_blank_removes(cfg: Path) -> None:
    assert config.save("region", "DK") == "DK" and config.get("region") == "DK"
    assert config.save("region", "  ") is None and config.read_file() == {}
