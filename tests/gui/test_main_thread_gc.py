"""Cycles are collected on the GUI thread only, whatever thread makes the garbage: the worker's
collections could destroy GUI objects from the worker and deadlock with the GUI thread
(gui/main_thread_gc.py)."""

from __future__ import annotations

import gc
import threading

from pepr_desktop.gui import main_thread_gc


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def _collections_by_thread(qtbot, make_garbage) -> list[int]:
    seen: list[int] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(threading.get_ident())

    gc.callbacks.append(on_gc)
    try:
        worker = threading.Thread(target=make_garbage)
        worker.start()
        worker.join(30)
        qtbot.wait(3 * main_thread_gc.INTERVAL_MS)  # the GUI thread's timer gets its turn
    finally:
        gc.callbacks.remove(on_gc)
    return seen


def _garbage() -> None:
    for _ in range(200_000):
        Node()


def test_a_worker_thread_never_runs_the_collector_and_its_cycles_are_freed(qtbot) -> None:
    main_thread_gc.install()  # as AppContext does (the autouse fixture already has)
    assert not gc.isenabled()
    seen = _collections_by_thread(qtbot, _garbage)
    assert seen, "the GUI thread's timer never collected"
    assert set(seen) == {threading.main_thread().ident}
    gc.collect()
    assert not any(type(o) is Node for o in gc.get_objects())


def test_without_it_the_worker_runs_the_collector(qtbot) -> None:
    """The hazard the module removes, shown: with automatic collection on, the thread that
    allocates collects."""
    main_thread_gc.uninstall()
    assert gc.isenabled()
    seen = _collections_by_thread(qtbot, _garbage)
    assert set(seen) - {threading.main_thread().ident}


def test_the_app_context_installs_it(isolated, qapp) -> None:
    from pepr_desktop.gui.context import AppContext
    from pepr_desktop.gui.settings import AppSettings

    main_thread_gc.uninstall()  # the autouse fixture's: AppContext must install its own
    assert gc.isenabled()
    ctx = AppContext(AppSettings())
    try:
        assert not gc.isenabled()
        assert main_thread_gc._installed is not None
        assert main_thread_gc._installed.timer.isActive()
    finally:
        ctx.shutdown()


def test_uninstall_gives_collection_back(qapp) -> None:
    main_thread_gc.install()
    main_thread_gc.uninstall()
    assert gc.isenabled()


class FakeGC:
    """The parts of `gc` the collector uses, with counts a test sets."""

    def __init__(self, counts: tuple[int, int, int]) -> None:
        self.counts = counts
        self.collected: list[int] = []
        self.sizes = {0: 500, 1: 100, 2: 10_000}

    def get_threshold(self):
        return (700, 10, 10)

    def get_count(self):
        return self.counts

    def get_objects(self, generation: int):
        return [None] * self.sizes[generation]

    def collect(self, generation: int = 2) -> int:
        self.collected.append(generation)
        return 0

    def isenabled(self) -> bool:
        return False

    def disable(self) -> None: ...

    def enable(self) -> None: ...


def test_the_oldest_generation_waits_for_a_quarter_of_new_long_lived_objects(qapp, monkeypatch):
    """As CPython: a full collection (about 160 ms with torch and Qt loaded) only once the
    survivors since the last one reach a quarter of what it left; until then generation 1."""
    fake = FakeGC((701, 11, 11))
    monkeypatch.setattr(main_thread_gc, "gc", fake)
    c = main_thread_gc.MainThreadGC(interval_ms=60_000)
    assert c.long_lived_total == 10_000
    c.check()
    assert fake.collected == [1] and c.long_lived_pending == 600  # 500 + 100 survived
    for _ in range(4):
        c.check()
    assert fake.collected == [1] * 5 and c.long_lived_pending == 3000  # >= 10_000 / 4
    c.check()
    assert fake.collected[-1] == 2 and c.long_lived_pending == 0
    fake.counts = (701, 3, 0)
    c.check()
    assert fake.collected[-1] == 0
    fake.counts = (100, 30, 30)
    c.check()  # generation 0 under its threshold: nothing, as in CPython
    assert len(fake.collected) == 7
    c.timer.stop()
