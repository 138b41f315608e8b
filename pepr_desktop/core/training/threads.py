"""CPU threads for training that follow the cores other processes leave free.

PyTorch starts one OpenMP thread per core, and every operator waits at a barrier for all of
them. When another process takes a core, the thread that shares it runs only part of the time
and every barrier waits for it. Measured here (2 cores, resnet10t at 28 px, batch 32): a step
took 63 ms on the quiet machine; with one busy process beside it, 592 ms with 2 threads and
95 ms with 1. `OMP_WAIT_POLICY=PASSIVE` helps under load (110 ms) but costs 15-50 % on a quiet
machine, so the trainer instead measures what other processes use (the machine's busy CPU time
less this process's own, over a few seconds) and keeps torch at the CPUs they leave free. It
never goes above the count torch had when the run began: the user's `OMP_NUM_THREADS` or
`torch.set_num_threads` is the cap, and a cap of 1 (the test suite) turns all this off.

Down at once (a shared core costs up to 9x), up only after two readings agree (a brief burst
of other work should not make it flap). The count only changes between batches, from the
thread that trains, and is given back when the run ends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

THREADS_KEY = "cpu_threads"  # in a CPU run's epochs' `extra`: ThreadGovernor.record()
INTERVAL_S = 2.0  # between readings while training
FIRST_LOOK_S = 0.2  # the reading taken before a run or a probe starts
SLACK = 0.25  # a CPU that other processes use less than this much still counts as free


def machine_busy_s() -> float:
    """CPU seconds spent busy by the whole machine since boot, summed over its CPUs."""
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    # Linux counts guest time inside user time too
    guest = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    return sum(t) - idle - guest


def machine_cpus() -> int:
    import psutil

    return psutil.cpu_count() or 1


def free_cpus(others_busy: float, cpus: int) -> int:
    """CPUs the other processes leave free, counting one they barely use (< SLACK) as free."""
    return max(1, math.floor(cpus - others_busy + SLACK))


def _torch_threads() -> tuple[Callable[[], int], Callable[[int], None]]:
    import torch

    return torch.get_num_threads, torch.set_num_threads


@dataclass
class ThreadGovernor:
    """Keeps torch's CPU thread count at the CPUs left free, up to `cap`. Call `poll()` between
    batches (it only reads the clock until `interval_s` has passed) and `close()` at the end."""

    cap: int
    set_threads: Callable[[int], None]
    cpus: int = field(default_factory=machine_cpus)
    interval_s: float = INTERVAL_S
    clock: Callable[[], float] = time.perf_counter
    busy_s: Callable[[], float] = machine_busy_s
    own_s: Callable[[], float] = time.process_time  # every thread of this process
    threads: int = 0  # the count now; 0 until start()
    changes: int = 0
    lowest: int = 0
    _mark: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _up_votes: int = 0

    @property
    def active(self) -> bool:
        return self.cap > 1

    def start(self, threads: int | None = None) -> None:
        """Begin at `threads` (the first look's count) or at the cap, and take the first mark."""
        self.threads = self.lowest = self.cap
        if threads is not None and threads != self.cap:
            self._apply(threads)
        self._mark = self._read()

    def _read(self) -> tuple[float, float, float]:
        return self.clock(), self.busy_s(), self.own_s()

    def others_busy(self) -> float | None:
        """CPUs the other processes kept busy since the last mark (None: too short a while)."""
        now = self._read()
        wall = now[0] - self._mark[0]
        if wall <= 0:
            return None
        busy = (now[1] - self._mark[1]) - (now[2] - self._mark[2])
        self._mark = now
        return max(0.0, busy / wall)

    def poll(self) -> int | None:
        """Adjust after `interval_s`; return the new count when it changed."""
        if not self.active or self.clock() - self._mark[0] < self.interval_s:
            return None
        others = self.others_busy()
        if others is None:
            return None
        want = min(self.cap, free_cpus(others, self.cpus))
        if want < self.threads:
            self._up_votes = 0
            return self._apply(want, others)
        if want > self.threads:
            self._up_votes += 1
            if self._up_votes >= 2:
                self._up_votes = 0
                return self._apply(want, others)
        else:
            self._up_votes = 0
        return None

    def _apply(self, n: int, others: float | None = None) -> int:
        log.info(
            "training threads %d -> %d (other processes busy on %s CPUs)",
            self.threads,
            n,
            "?" if others is None else f"{others:.2f}",
        )
        self.set_threads(n)
        self.threads = n
        self.lowest = min(self.lowest, n)
        self.changes += 1
        return n

    def close(self) -> None:
        """Give torch back the count it had."""
        if self.threads and self.threads != self.cap:
            self.set_threads(self.cap)
            self.threads = self.cap

    def record(self) -> dict[str, int]:
        """What a run stores: the cap, the lowest count it trained with, how often it changed."""
        return {"cap": self.cap, "lowest": self.lowest or self.cap, "changes": self.changes}


def first_look(governor: ThreadGovernor, seconds: float = FIRST_LOOK_S) -> int:
    """The count to start with, from what other processes use over `seconds` (this one idle)."""
    governor._mark = governor._read()
    time.sleep(seconds)
    others = governor.others_busy()
    return governor.cap if others is None else min(governor.cap, free_cpus(others, governor.cpus))


def governor_for(device: str) -> ThreadGovernor | None:
    """A started governor for a run on `device` (None on accelerators or with one thread)."""
    if not device.startswith("cpu"):
        return None
    get, put = _torch_threads()
    gov = ThreadGovernor(cap=get(), set_threads=put)
    if not gov.active:
        return None
    gov.start(first_look(gov))
    return gov


@contextmanager
def fitted_threads(device: str) -> Iterator[ThreadGovernor | None]:
    """Torch at the CPUs free right now for the block (the cost probe times its steps with the
    count a run would train with), and given back after."""
    gov = governor_for(device)
    try:
        yield gov
    finally:
        if gov is not None:
            gov.close()


def throttled(epochs: list[dict]) -> tuple[int, int] | None:
    """(lowest, cap) when a run trained with fewer threads than its cap, else None."""
    recs = [(e.get("extra") or {}).get(THREADS_KEY) for e in epochs]
    recs = [r for r in recs if isinstance(r, dict) and r.get("cap")]
    if not recs:
        return None
    cap, lowest = max(r["cap"] for r in recs), min(r.get("lowest") or r["cap"] for r in recs)
    return (lowest, cap) if lowest < cap else None


def throttled_note(epochs: list[dict]) -> str | None:
    """One line when a run trained with fewer threads than its cap (None otherwise): its time
    and energy are those of a machine it shared, not of the model alone."""
    t = throttled(epochs)
    if t is None:
        return None
    return (
        f"trained with as few as {t[0]} of {t[1]} CPU threads: other processes were busy, "
        "so its time and energy are those of a shared machine"
    )
