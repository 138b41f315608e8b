"""Default locations of the user's files (platformdirs), each overridable for tests and users."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

APP = "pepr-desktop"
_dirs = PlatformDirs(APP, appauthor=False)


def default_db_path() -> Path:
    """`PEPR_DB` if set, else pepr.sqlite in the user data dir."""
    env = os.environ.get("PEPR_DB")
    return Path(env).expanduser() if env else Path(_dirs.user_data_dir) / "pepr.sqlite"


def cache_dir() -> Path:
    """Downloaded MedMNIST files and computed catalogue facts (`PEPR_CACHE` overrides)."""
    env = os.environ.get("PEPR_CACHE")
    return Path(env).expanduser() if env else Path(_dirs.user_cache_dir)


def log_dir() -> Path:
    """The rotating log file's folder (`PEPR_LOG_DIR` overrides)."""
    env = os.environ.get("PEPR_LOG_DIR")
    return Path(env).expanduser() if env else Path(_dirs.user_log_dir)


def config_dir() -> Path:
    return Path(_dirs.user_config_dir)
