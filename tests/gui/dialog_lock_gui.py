"""The GUI side of tests/gui/test_dialog_locks.py, run as its own process (issue 16).

A real `AppContext` (the GUI's store, as the app opens it) writes runs and epochs while file
dialogs list the database's folder, and after each round a second process reads and writes the
same database through the CLI. Prints one JSON line per round and a summary line at the end.
It uses only APIs that existed before the store process, so the same script shows the failure
on an older checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

EPOCHS_PER_RUN = 3


def _dialogs(folder: Path) -> list:
    """The app's own dialog (when this checkout has one) and a plain Qt dialog, as any library
    could open: both list and sniff the database's folder."""
    from PySide6.QtWidgets import QFileDialog

    made = []
    try:
        from pepr_desktop.gui.file_dialogs import _dialog

        made.append(_dialog(None, "Open a PePR database", str(folder), "All files (*)"))
    except ImportError:
        pass
    plain = QFileDialog(None, "plain", str(folder))
    plain.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    made.append(plain)
    return made


def _pump(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main(db: Path, rounds: int, tiny_npz: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from pepr_desktop.gui.context import AppContext
    from pepr_desktop.gui.settings import AppSettings

    app = QApplication([])
    ctx = AppContext(AppSettings())
    store = ctx.store
    cli = (
        "import sys; from pepr_desktop.cli import main; "
        "a = main(['--db', sys.argv[1], 'runs', '--json']); "
        "b = main(['--db', sys.argv[1], 'import-data', sys.argv[2], '--name', sys.argv[3]]); "
        "sys.exit(a or b)"
    )
    written: dict[int, int] = {}
    problems: list[str] = []
    for k in range(rounds):
        try:
            run_id = store.create_run(model="resnet18", dataset="sample", epochs_planned=3)
            for e in range(EPOCHS_PER_RUN):
                store.add_epoch(
                    run_id, {"epoch": e, "train_loss": 1.0 / (e + 1)}, {"epochs_done": e + 1}
                )
                for dlg in _dialogs(db.parent):
                    dlg.show()
                    _pump(app, 0.05)
                    dlg.close()
                    dlg.deleteLater()
            written[run_id] = EPOCHS_PER_RUN
            store.update_run(run_id, status="finished")
        except Exception as exc:  # what the GUI's own connection says
            problems.append(f"round {k}: GUI: {type(exc).__name__}: {exc}")
            break
        _pump(app, 0.1)
        proc = subprocess.run(
            [sys.executable, "-c", cli, str(db), str(tiny_npz), f"d{k}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            problems.append(f"round {k}: CLI exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        print(json.dumps({"round": k, "run": run_id, "cli": proc.returncode}), flush=True)
    ctx.shutdown()
    app.processEvents()
    print(json.dumps({"written": written, "problems": problems}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
