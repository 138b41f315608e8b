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


def test_the_app_context_installs_it(window) -> None:
    assert not gc.isenabled()
    assert main_thread_gc._installed is not None
    assert main_thread_gc._installed.timer.isActive()


def test_uninstall_gives_collection_back(qapp) -> None:
    main_thread_gc.install()
    main_thread_gc.uninstall()
    assert gc.isenabled()
