"""The one settings file: TOML in the user config dir, read by the CLI and the GUI alike.

    region = "DK"            # carbon-table region (or carbon_intensity = 120, in gCO2eq/kWh)
    pue = 1.2
    cpu_watts = 65
    device = "cuda"
    db = "~/lab/pepr.sqlite"

Each setting comes from the highest of: a command-line flag, an environment variable
(`PEPR_REGION`, `PEPR_PUE`, `PEPR_CARBON_INTENSITY`, `PEPR_CPU_WATTS`, `PEPR_DEVICE`, `PEPR_DB`),
this file, the built-in default. Region and carbon intensity are one choice (a typed intensity wins
over a region): the highest layer that sets either supplies both, so `--region DE` is not undone
by an intensity in the file. `PEPR_CONFIG` names another file (tests, portable use). Tables
(`[gui]`...) are left to whoever owns them; an unknown top-level key is refused, with its line.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pepr_desktop.core.errors import UserError, close_matches
from pepr_desktop.core.paths import config_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FILE_NAME = "config.toml"
HEADER = (
    "# PePR Desktop settings, shared by `pepr` and the desktop app (`pepr config show`).\n"
    "# Command-line flags and PEPR_* environment variables override them.\n"
)
CARBON_GROUP = ("region", "carbon_intensity")  # one choice: the highest layer supplies both


@dataclass(frozen=True)
class Key:
    name: str
    env: str
    kind: str  # "text", "number", "device" or "path"
    help: str
    default: str  # what applies when nothing sets it, in words
    lo: float = 0.0
    hi: float = math.inf


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("region", "PEPR_REGION", "text", "carbon-table region: DE, DEU, US-CA, Denmark...",
            "world average"),
        Key("pue", "PEPR_PUE", "number", "power usage effectiveness: 1.0 at a desk, 1.1-1.6 "
            "in a data centre", "1.0", 1.0, 5.0),
        Key("carbon_intensity", "PEPR_CARBON_INTENSITY", "number", "gCO2eq per kWh; wins over "
            "region", "from region", 0.0, 5000.0),
        Key("cpu_watts", "PEPR_CPU_WATTS", "number", "CPU power (W) for the estimate without RAPL",
            "CodeCarbon's CPU table, else 7 W per core", 1.0, 2000.0),
        Key("device", "PEPR_DEVICE", "device", "auto, cpu, cuda or cuda:N", "auto"),
        Key("db", "PEPR_DB", "path", "the runs database file", "pepr.sqlite in the user data dir"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """A setting's value (None: not set anywhere) and which layer gave it."""

    value: Any
    source: str  # "flag", "env PEPR_PUE", "file", "default"


def config_path() -> Path:
    """`PEPR_CONFIG` if set, else config.toml in the user config dir."""
    env = os.environ.get("PEPR_CONFIG")
    return Path(env).expanduser() if env else config_dir() / FILE_NAME


def check_value(name: str, raw: Any, where: str = "") -> Any:
    """`raw` (TOML-typed, or text from the environment or a command) as the setting's value;
    UserError naming `where` (the file and line, the variable) when it does not fit."""
    if where and not where.endswith(": "):
        where += ": "
    key = _key(name, where)
    if key.kind == "number":
        value = _number(raw)
        if value is None or not key.lo <= value <= key.hi:
            raise UserError(
                f"{where}{name} must be a number {key.lo:g}-{key.hi:g}, not {raw!r} ({key.help})."
            )
        return value
    if not isinstance(raw, str) or not raw.strip():
        raise UserError(f"{where}{name} must be text such as {_example(key)}, not {raw!r}.")
    text = raw.strip()
    if key.kind == "device":
        text = text.lower()
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
            raise UserError(f"{where}device must be auto, cpu, cuda or cuda:N, not {raw!r}.")
    elif key.name == "region":
        from pepr_desktop.core.metering.carbon import lookup

        try:
            lookup(text)
        except UserError as exc:
            raise UserError(f"{where}{exc}") from None
    return text


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The settings in the file, checked ({} when there is no file). A damaged file or a bad value
    is a UserError naming the file and the line."""
    path = config_path() if path is None else path
    text, doc = _parse(path)
    out = {}
    for name, raw in doc.items():
        if isinstance(raw, dict):  # a table: another component's settings
            continue
        where = f"settings file {path}, line {_line_of(text, name)}"
        out[name] = check_value(name, raw, where)
    return out


def resolve(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> dict[str, Setting]:
    """Every setting from the highest layer that sets it: flags (None = not given), environment,
    file, default (value None)."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = [
        ("flag", {k: v for k, v in (flags or {}).items() if k in KEYS and v is not None}),
        ("env", _from_environ(environ)),
        ("file", read_file(path)),
    ]
    out: dict[str, Setting] = {}
    for name, key in KEYS.items():
        group = CARBON_GROUP if name in CARBON_GROUP else (name,)
        for layer, values in layers:
            if any(g in values for g in group):
                source = f"env {key.env}" if layer == "env" else layer
                out[name] = Setting(values.get(name), source if name in values else layer)
                break
        else:
            out[name] = Setting(None, "default")
    return out


def get(name: str, path: Path | None = None) -> Any:
    """One setting from the environment or the file; None when neither sets it."""
    return resolve(path=path)[name].value


def set_value(name: str, text: Any, path: Path | None = None) -> Any:
    """Check `text` and write it as `name` to the file (others kept); the value written."""
    value = check_value(name, text)
    _write(path, {name: value})
    return value


def save(name: str, value: Any, path: Path | None = None) -> Any:
    """`set_value`, or `unset` for None / blank (the GUI's "use the default")."""
    if value is None or (isinstance(value, str) and not value.strip()):
        unset(name, path)
        return None
    return set_value(name, value, path)


def unset(name: str, path: Path | None = None) -> bool:
    """Remove `name` from the file; whether it was there."""
    _key(name, "")
    path = config_path() if path is None else path
    present = name in _parse(path)[1]
    if present:
        _write(path, {name: None})
    return present


def _key(name: str, where: str) -> Key:
    key = KEYS.get(name)
    if key is None:
        raise UserError(
            f"{where}unknown setting '{name}'.{close_matches(name, KEYS)} "
            f"Settings: {', '.join(KEYS)}."
        )
    return key


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _example(key: Key) -> str:
    return {"device": "'cuda'", "path": "'~/pepr.sqlite'"}.get(key.kind, "'DE'")


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for name, key in KEYS.items():
        raw = environ.get(key.env)
        if raw is not None and raw.strip():
            out[name] = check_value(name, raw, f"environment variable {key.env}={raw!r}")
    return out


def _parse(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its TOML document ("", {} when absent); UserError when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", {}
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise UserError(f"cannot read settings file {path} ({reason}); fix or remove it.") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)|\(at end of document\)", message)
        line = found.group(1) if found and found.group(1) else str(text.count("\n") + 1)
        what = message[: found.start()].strip() if found else message
        raise UserError(
            f"settings file {path}, line {line}: {what}; fix that line or remove the file."
        ) from None


def _line_of(text: str, name: str) -> int | str:
    found = re.search(rf"^[ \t]*[\"']?{re.escape(name)}[\"']?[ \t]*=", text, flags=re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else "?"


def _write(path: Path | None, changes: dict[str, Any]) -> None:
    """Apply `changes` (None removes) to the file, written beside it and renamed into place."""
    import tomli_w

    path = config_path() if path is None else path
    doc = _parse(path)[1]
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    # plain keys first: TOML puts every key after a table header inside that table
    ordered = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    ordered.update({k: v for k, v in doc.items() if isinstance(v, dict)})
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(HEADER + tomli_w.dumps(ordered))
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise UserError(
            f"cannot write settings file {path} ({exc.strerror or exc}); check the folder."
        ) from None
