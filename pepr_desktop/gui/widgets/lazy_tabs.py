"""Tabs whose views are built the first time they are shown or asked for.

Why (issue 20): building every tab, and importing what their charts need (pyqtgraph alone is
about 0.5 s), made the window take 2.4 s to appear; only the first tab is visible then. A lazy
tab holds an empty placeholder until its view is needed, then the view takes the placeholder's
place in the tab bar, so afterwards the tab widget holds the real view (`currentWidget()`,
`indexOf()` and `setCurrentWidget()` see it as if it had been added eagerly).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QTabWidget, QWidget


class LazyTabs(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._placeholders: dict[str, QWidget] = {}
        self._views: dict[str, QWidget] = {}
        self._steps: list[Callable[[], object]] = []
        self._step_timer = QTimer(self)  # a child: it dies with the tabs, mid warm-up or not
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._next_step)
        self.currentChanged.connect(self._on_current)

    def add_lazy(self, key: str, factory: Callable[[], QWidget], icon: QIcon, text: str) -> None:
        """A tab whose view `factory` builds when the tab is first shown or `view(key)` asked."""
        placeholder = QWidget()
        self._factories[key] = factory
        self._placeholders[key] = placeholder
        self.addTab(placeholder, icon, text)

    def is_built(self, key: str) -> bool:
        return key in self._views

    def pending(self) -> list[str]:
        """The keys of the tabs not built yet, in tab order."""
        return sorted(self._placeholders, key=lambda k: self.indexOf(self._placeholders[k]))

    def view(self, key: str) -> QWidget:
        """The tab's view, built now if it was not yet."""
        if key not in self._views:
            self._build(key)
        return self._views[key]

    def build_all_later(self, first: Callable[[], object] | None = None) -> None:
        """Run `first`, then build the remaining views, one per turn of the event loop, so the
        window answers input between the steps (a warm-up after the window is shown)."""
        self._steps = ([first] if first else []) + [
            (lambda k=k: self.view(k)) for k in self.pending()
        ]
        self._step_timer.start()

    def _next_step(self) -> None:
        if not self._steps:
            self._step_timer.stop()
            return
        self._steps.pop(0)()  # a view the user opened meanwhile is already built: a no-op

    def _on_current(self, index: int) -> None:
        page = self.widget(index)
        for key, placeholder in list(self._placeholders.items()):
            if placeholder is page:
                self._build(key)
                return

    def _build(self, key: str) -> None:
        view = self._factories[key]()  # if it raises, the tab stays lazy and can try again
        del self._factories[key]
        placeholder = self._placeholders.pop(key)
        i = self.indexOf(placeholder)
        was_current = self.currentIndex() == i
        blocked = self.blockSignals(True)  # the current tab stays what it was: nothing to signal
        try:
            self.insertTab(i, view, self.tabIcon(i), self.tabText(i))
            self.removeTab(i + 1)  # the placeholder, now one to the right
            if was_current:
                self.setCurrentIndex(i)
        finally:
            self.blockSignals(blocked)
        placeholder.deleteLater()
        self._views[key] = view
