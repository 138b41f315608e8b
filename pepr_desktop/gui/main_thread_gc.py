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
    """Disables automatic collection; collects on a GUI-thread timer by the interpreter's own
    rules (CPython's `collect_generations`): the oldest generation whose count passed its
    threshold, and the oldest of all only once the objects that survived into it since its last
    collection reach a quarter of those it held then. That rule matters: a full collection
    of the app with torch and Qt loaded takes about 160 ms here."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.long_lived_total = len(gc.get_objects(generation=2))
        self.long_lived_pending = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """At most one collection, here and now, where the interpreter would have made one."""
        counts = gc.get_count()
        if counts[0] <= self.threshold[0]:
            return  # CPython looks only when allocations pass generation 0's threshold
        for generation in (2, 1, 0):
            if counts[generation] <= self.threshold[generation]:
                continue
            if generation == 2 and self.long_lived_pending < self.long_lived_total / 4:
                continue
            self.collect(generation)
            return

    def collect(self, generation: int) -> None:
        if generation == 2:
            gc.collect(2)
            self.long_lived_total = len(gc.get_objects(generation=2))
            self.long_lived_pending = 0
        elif generation == 1:  # the survivors of generations 0 and 1 move into 2
            young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
            self.long_lived_pending += max(0, young - gc.collect(1))
        else:
            gc.collect(0)

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
