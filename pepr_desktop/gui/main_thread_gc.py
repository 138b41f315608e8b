"""Python's cyclic garbage collector, run on the GUI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed. In the
training worker (inside `torch.save`, say) it may free the PySide wrapper of a QObject that
belongs to the GUI thread: Qt then destroys that object from the worker, waiting for the GIL
inside Qt's lock, while the GUI thread, holding the GIL, destroys another object and waits for
the same lock. Both wait for ever (seen in the test suite under load: py-spy showed the worker in
`~QObject` -> `GilState::acquire`, the GUI thread in `~QMenu` -> `QBasicMutex::lockInternal`),
and a collection that only frees a widget from the worker can crash Qt outright.

So while the app runs, automatic collection is off and a timer on the GUI thread collects with
the interpreter's own thresholds (pyqtgraph's `GarbageCollector` does the same). Reference
counting still frees everything that is not in a cycle at once; cycles wait at most one tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

INTERVAL_MS = 500

_installed: MainThreadGC | None = None


class MainThreadGC(QObject):
    """Disables automatic collection; collects generation by generation on a GUI-thread timer."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds (as the interpreter
        would have, only here and now)."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 <= t0:
            return
        generation = 2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0
        gc.collect(generation)

    def stop(self) -> None:
        """Collect everything here, then give collection back to the interpreter."""
        self.timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


def install() -> MainThreadGC:
    """The process's GUI-thread collector, started on first use (needs a QApplication)."""
    global _installed
    if _installed is None:
        app = QApplication.instance()
        if app is None:
            raise RuntimeError("main_thread_gc.install() needs a QApplication")
        _installed = MainThreadGC(app)
    return _installed


def uninstall() -> None:
    """Stop the collector (tests: the next test of the process may not run an event loop)."""
    global _installed
    if _installed is not None:
        _installed.stop()
        _installed.deleteLater()
        _installed = None
