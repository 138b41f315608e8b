"""Logging for the CLI and the GUI: warnings to stderr, details to a rotating file in the user log
dir (platformdirs), which Help > Open log file shows."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from pepr_desktop.core.paths import log_dir

LOG_NAME = "pepr-desktop.log"


def log_file() -> Path:
    return log_dir() / LOG_NAME


def configure_logging(verbose: bool = False, to_file: bool = True) -> Path | None:
    """Idempotent: a second call only adjusts the console level."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = next((h for h in root.handlers if getattr(h, "_pepr_console", False)), None)
    if console is None:
        console = logging.StreamHandler()
        console._pepr_console = True  # type: ignore[attr-defined]
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    if not to_file:
        return None
    if any(getattr(h, "_pepr_file", False) for h in root.handlers):
        return log_file()
    try:
        log_file().parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_file(), maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:  # a read-only home must not stop the app; the console still logs
        return None
    handler._pepr_file = True  # type: ignore[attr-defined]
    handler.setLevel(logging.INFO)
    handler.setFormatter(fmt)
    root.addHandler(handler)
    return log_file()
