"""The GUI side of the crash matrix (tests/core/test_crash_safety.py, benchmarks/kill_loop.py).

Builds the real main window offscreen (its views refresh from the store while the run trains),
queues one training through `ctx.training`, as the Train button does, and prints one JSON line
per step on stdout: first the process ids (this GUI process and its store process), then every
stored epoch, then the end of the run. The harness SIGKILLs this process at random points; the
store process must then exit by itself (its lifeline breaks) and the database must be intact.

    fault_gui_driver.py DB EPOCHS SEED [FRACTION]

Uses PEPR_DB / PEPR_SETTINGS / PEPR_CACHE from the environment (the harness points them at
temporary paths); DB must equal PEPR_DB.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MODEL = "mobilenetv3_small_050"


def _say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main(db: Path, epochs: int, seed: int, fraction: float) -> int:
    if Path(os.environ.get("PEPR_DB", "")) != db:
        print("PEPR_DB must name the database", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from pepr_desktop.core.events import EpochEnded, RunFinished, RunStarted
    from pepr_desktop.core.store.remote import StoreProcess
    from pepr_desktop.core.training.config import TrainConfig
    from pepr_desktop.gui.main_window import MainWindow
    from pepr_desktop.gui.settings import AppSettings

    app = QApplication([])
    win = MainWindow(AppSettings())
    win.show()
    app.processEvents()
    ctx = win.ctx
    _say(pid=os.getpid(), store_pid=StoreProcess.get().pid)
    outcome: dict[str, object] = {}

    def on_event(ev: object) -> None:
        if isinstance(ev, RunStarted):
            _say(started=ev.run_id)
        elif isinstance(ev, EpochEnded):
            _say(epoch=ev.epoch, run=ev.run_id)  # the store has it: events follow the write
        elif isinstance(ev, RunFinished):
            outcome.update(run=ev.run_id, status=ev.status, message=ev.message)
            app.quit()

    ctx.training.event.connect(on_event)
    ctx.training.user_error.connect(lambda m: (outcome.update(error=m), app.quit()))
    ctx.training.crashed.connect(lambda m: (outcome.update(crashed=m), app.quit()))
    cfg = TrainConfig(
        dataset="sample",
        model=MODEL,
        epochs=epochs,
        data_fraction=fraction,
        seed=seed,
        device="cpu",
    )
    ctx.training.enqueue([cfg])
    app.exec()
    ctx.training.wait()
    _say(finished=outcome)
    win.hide()
    ctx.shutdown()
    StoreProcess.shutdown()
    return 0 if outcome.get("status") == "finished" else 1


if __name__ == "__main__":
    fraction = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
    sys.exit(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), fraction))
