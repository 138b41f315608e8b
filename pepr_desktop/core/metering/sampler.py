"""The sampler: one thread reads every meter each period and the trainer's windows are cut from it.

Why a thread: counters must be read often enough for a live chart (0.5 s, not carbontracker's
15 s) and polled power must be integrated finely, while the training loop must never wait on a
meter. The loop only takes a short lock to cut a window at an epoch end. A meter that raises is
marked failed with its reason; from then on the energy of windows that include it is unavailable
(None, never a partial sum passed off as the whole), and the run goes on.

A pause (`pause`/`resume`, called by the trainer around the user's Pause) is left out of the
epoch's and the run's energy and seconds: the device's draw while the run waits is not the run's
cost. The samples keep their power readings meanwhile, with the run's energy held where it was.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from pepr_desktop.core.events import MeterSample
from pepr_desktop.core.metering.base import Meter, Reading
from pepr_desktop.core.metering.session import EnergyWindow

log = logging.getLogger(__name__)

MAX_QUEUED = 20_000  # samples kept when nobody drains (about 3 h at 0.5 s)


@dataclass
class _Track:
    """One meter's state inside a session."""

    meter: Meter
    failed: str = ""
    last: Reading | None = None
    zero_j: float = 0.0  # energy at the run's start (after the idle baseline)
    window_j: float = 0.0  # energy at the current window's start
    baseline_w: float | None = None
    paused_j: float | None = None  # energy when the run paused
    window_extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def energy_j(self) -> float:
        return self.last.energy_j if self.last is not None else 0.0


class SampledSession:
    """A `MeterSession` over several meters (e.g. gpu + cpu + dram) sampled by one thread."""

    def __init__(
        self,
        meters: list[Meter],
        *,
        period_s: float = 0.5,
        idle_baseline_s: float = 0.0,
        notes: list[str] | None = None,
        settings: Any = None,
        carbon: Any = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not period_s > 0:
            raise ValueError("period_s must be positive")
        self.tracks = [_Track(m) for m in meters]
        self.period_s = period_s
        self.idle_baseline_s = idle_baseline_s
        self.notes = list(notes or [])  # why some meters were not used (probe time)
        self.settings = settings  # read by the runner (PUE) and the UI
        self.carbon = carbon  # the resolved carbon intensity
        self.clock, self.sleep = clock, sleep
        self.method = "+".join(m.method for m in meters) or "unavailable"
        self.estimate = any(m.estimate for m in meters)
        self.run_id = 0
        self.last_window: EnergyWindow | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: deque[MeterSample] = deque(maxlen=MAX_QUEUED)
        self._t0 = self._win_t0 = 0.0
        self._proc = psutil.Process()
        self._rss_window = self._rss_run = 0.0
        self._final: EnergyWindow | None = None
        self._paused_at: float | None = None  # clock() when the run paused; None: running
        self._paused_energy: float | None = None  # the samples' run energy held during a pause
        self._paused_window_s = self._paused_run_s = 0.0

    # ------------------------------------------------------------------ the trainer's contract

    def start(self, run_id: int) -> None:
        """Measure the idle baseline (if set), then start the sampler thread."""
        self.run_id = run_id
        with self._lock:
            self._read_all()
            if self.idle_baseline_s > 0 and self.tracks:
                before = {id(t): t.last for t in self.tracks}
                self.sleep(self.idle_baseline_s)
                self._read_all()
                for t in self.tracks:
                    a, b = before[id(t)], t.last
                    if not t.failed and a is not None and b is not None and b.t > a.t:
                        t.baseline_w = (b.energy_j - a.energy_j) / (b.t - a.t)
            for t in self.tracks:
                t.zero_j = t.window_j = t.energy_j
                t.window_extra = {}
            self._t0 = self._win_t0 = self.clock()
        if self.tracks:
            self._thread = threading.Thread(target=self._loop, name="pepr-meter", daemon=True)
            self._thread.start()

    def drain_samples(self) -> list[MeterSample]:
        out = []
        while self._queue:
            try:
                out.append(self._queue.popleft())
            except IndexError:
                break
        return out

    def pause(self) -> None:
        """The run waits from now: what the meters count until `resume` is not the run's."""
        with self._lock:
            if self._paused_at is not None or not self.tracks:
                return
            self._tick()
            self._paused_energy = self._run_energy()
            for t in self.tracks:
                t.paused_j = t.energy_j
            self._paused_at = self.clock()

    def resume(self) -> None:
        """The run goes on: the pause's energy and seconds leave the window and the run."""
        with self._lock:
            if self._paused_at is None:
                return
            self._tick()
            for t in self.tracks:
                if not t.failed and t.paused_j is not None:
                    gap = t.energy_j - t.paused_j  # shift the starts forward by the pause
                    t.window_j += gap
                    t.zero_j += gap
                t.paused_j = None
            waited = self.clock() - self._paused_at
            self._paused_window_s += waited
            self._paused_run_s += waited
            self._paused_at = self._paused_energy = None

    def close_window(self) -> EnergyWindow:
        """Energy since the previous window (an epoch); takes one reading now for a sharp edge."""
        with self._lock:
            self._tick()
            now = self.clock()
            window = self._window(now - self._win_t0 - self._paused_window_s, lambda t: t.window_j)
            for t in self.tracks:
                t.window_j = t.energy_j
                t.window_extra = {}
            self._win_t0 = now
            self._paused_window_s = 0.0
            self._rss_window = 0.0
        self.last_window = window
        return window

    def stop(self) -> EnergyWindow:
        """Stop the thread (joins within about one period), close the meters, return the run."""
        if self._final is not None:
            return self._final
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, 4 * self.period_s))
            if self._thread.is_alive():
                log.warning("meter thread did not stop within its timeout; left as daemon")
        with self._lock:
            if self.tracks:
                self._tick()
            seconds = self.clock() - self._t0 - self._paused_run_s
            self._final = self._window(seconds, lambda t: t.zero_j, run=True)
            for t in self.tracks:
                try:
                    t.meter.close()
                except Exception:
                    log.debug("closing %s failed", t.meter.label, exc_info=True)
        return self._final

    # ------------------------------------------------------------------ inside

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                with self._lock:
                    self._tick()
            except Exception:  # the sampler must outlive any bug in a reading
                log.exception("meter sampling failed")

    def _read_all(self) -> None:
        for t in self.tracks:
            if t.failed:
                continue
            try:
                t.last = t.meter.read()
            except Exception as exc:
                self._fail(t, exc)

    def _fail(self, t: _Track, exc: BaseException) -> None:
        when = self.clock() - self._t0 if self._t0 else 0.0
        t.failed = f"{t.meter.label} failed at {when:.1f} s: {type(exc).__name__}: {exc}"
        log.warning("%s; its energy is unavailable from here on", t.failed)

    def _tick(self) -> None:
        """Read every live meter once and queue one MeterSample. Caller holds the lock."""
        self._read_all()
        power: dict[str, float] = {}
        for t in self.tracks:
            if t.failed or t.last is None:
                continue
            if t.last.power_w is not None:
                power[t.meter.component] = power.get(t.meter.component, 0.0) + t.last.power_w
            for k, v in t.last.extra.items():
                t.window_extra.setdefault(k, []).append(v)
        try:
            rss = self._proc.memory_info().rss / 2**20
            self._rss_window = max(self._rss_window, rss)
            self._rss_run = max(self._rss_run, rss)
        except psutil.Error:
            pass
        live = [t for t in self.tracks if not t.failed]
        energy = self._run_energy() if self._paused_at is None else self._paused_energy
        method = "+".join(t.meter.method for t in live) or "unavailable"
        self._queue.append(MeterSample(self.run_id, self.clock() - self._t0, power, energy, method))

    def _run_energy(self) -> float | None:
        """The run's energy so far (None once a meter failed). Caller holds the lock."""
        if any(t.failed for t in self.tracks):
            return None
        return sum(t.energy_j - t.zero_j for t in self.tracks)

    def _window(
        self, seconds: float, start: Callable[[_Track], float], run: bool = False
    ) -> EnergyWindow:
        if not self.tracks:
            return EnergyWindow(None, None, "unavailable", "; ".join(self.notes) or "no meter")
        parts: dict[str, float | None] = {}
        for t in self.tracks:
            parts[t.meter.component] = None if t.failed else t.energy_j - start(t)
        failed = [t.failed for t in self.tracks if t.failed]
        gross = None if failed else sum(v for v in parts.values() if v is not None)
        baseline = (
            sum(t.baseline_w for t in self.tracks if t.baseline_w is not None)
            if all(t.baseline_w is not None for t in self.tracks)
            else None
        )
        net = gross - baseline * seconds if gross is not None and baseline is not None else None
        notes = [*failed, *self.notes]
        if self.estimate:
            est = [t.meter.method for t in self.tracks if t.meter.estimate]
            notes.append(f"estimate: {', '.join(est)} (not measured)")
        if baseline is None and gross is not None:
            notes.append("no idle baseline, so no net energy")
        detail: dict[str, Any] = {
            "seconds": seconds,
            "components_j": parts,
            "methods": {t.meter.component: t.meter.method for t in self.tracks},
            "baseline_w": {t.meter.component: t.baseline_w for t in self.tracks},
            "peak_rss_mb": self._rss_run if run else self._rss_window,
        }
        if not run:
            for t in self.tracks:
                for k, vals in t.window_extra.items():
                    if vals and k.endswith("_util"):
                        detail[f"{k}_mean"] = sum(vals) / len(vals)
                    elif vals:
                        detail[f"{k}_peak"] = max(vals)
        return EnergyWindow(gross, net, self.method, "; ".join(notes), detail)
