"""Every setting of a training run (`TrainConfig`, defaults = the paper's protocol), the choices of
each option beside their validation, and `Control`, the thread-safe pause/resume/stop channel.

Light on purpose (no numpy, torch or timm at import): the CLI builds its `choices=` from here and
`pepr --help` stays fast.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pepr_desktop.core.budget import Budget
from pepr_desktop.core.devices import resolve_device
from pepr_desktop.core.errors import UserError

METRIC_NAMES = ("acc", "auc", "bacc")
# numpy's legacy seeding (np.random.seed in `prepare`) takes 32-bit seeds only; a larger one would
# crash inside the run instead of being refused up front.
MAX_SEED = 2**32 - 1

# The choices of each option, defined once: validate() checks against them, the GUI's combos and
# the CLI's `choices=` are built from them.
CLASS_WEIGHTS = ("none", "auto")  # "auto": inverse class frequency
AUGMENTS = ("none", "light")  # "light": flips + small affine, on the device
SCHEDULES = ("constant", "cosine", "onecycle")  # stepped per batch
SAMPLERS = ("shuffle", "balanced")  # "balanced": classes drawn equally often
# The fast path (core/training/fast_path.py): "auto" is on for CUDA and off on the CPU.
AMP_MODES = ("auto", "off", "bf16", "fp16")  # autocast; "auto": bf16 where supported, else fp16
FAST_SWITCHES = ("auto", "on", "off")  # channels-last, cudnn.benchmark, TF32 matmuls


@dataclass
class TrainConfig:
    """Every setting of a run. Defaults are the paper's protocol."""

    dataset: str
    model: str
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    seed: int = 0
    device: str = "auto"
    image_size: int | None = None  # None: the dataset's own size
    data_fraction: float = 1.0
    pretrained: bool = False
    weights: str | None = None
    class_weights: str = "none"  # "none" or "auto" (inverse class frequency)
    eval_batch_size: int = 256
    checkpoint: bool = True
    budget_energy_wh: float | None = None
    budget_time_min: float | None = None
    budget_memory_mb: float | None = None
    # training quality (issue 12); the defaults keep the paper's protocol
    augment: str = "none"  # "none" or "light" (flips + small affine, on the device)
    schedule: str = "constant"  # "constant", "cosine" or "onecycle" (stepped per batch)
    label_smoothing: float = 0.0
    sampler: str = "shuffle"  # "shuffle" or "balanced" (classes drawn equally often)
    early_stop: bool = False  # energy-aware early stopping (core/training/early_stop.py)
    early_stop_patience: int = 2
    early_stop_min_gain: float = 0.01  # validation metric gain per Wh that more epochs must buy
    # the fast path on CUDA (issue 21); what each resolved to is recorded in extra["fast_path"]
    amp: str = "auto"  # autocast: "auto" (CUDA: bf16 or fp16; CPU: off), "off", "bf16", "fp16"
    channels_last: str = "auto"  # "auto", "on" or "off"
    cudnn_benchmark: str = "auto"
    tf32: str = "auto"
    compile_step: bool = False  # torch.compile the model's forward (slow first epoch)
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        def positive_int(name: str, value: Any, upper: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
                raise UserError(f"{name} must be a whole number from 1 to {upper}, not {value!r}.")

        positive_int("epochs", self.epochs, 10_000)
        positive_int("batch size", self.batch_size, 65_536)
        positive_int("evaluation batch size", self.eval_batch_size, 65_536)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr < 10):
            raise UserError(f"learning rate must be a number in (0, 10), not {self.lr!r}.")
        if not (math.isfinite(self.data_fraction) and 0 < self.data_fraction <= 1):
            raise UserError(
                f"data fraction must be in (0, 1], not {self.data_fraction!r}; e.g. 0.1 for 10%."
            )
        if self.image_size is not None and not 8 <= self.image_size <= 1024:
            raise UserError(f"image size must be 8-1024 px, not {self.image_size!r}.")
        if self.class_weights not in CLASS_WEIGHTS:
            raise UserError(f"class weights must be 'none' or 'auto', not {self.class_weights!r}.")
        for label, value, choices in (
            ("augment", self.augment, AUGMENTS),
            ("schedule", self.schedule, SCHEDULES),
            ("sampler", self.sampler, SAMPLERS),
            ("autocast (amp)", self.amp, AMP_MODES),
            ("channels-last", self.channels_last, FAST_SWITCHES),
            ("cudnn benchmark", self.cudnn_benchmark, FAST_SWITCHES),
            ("TF32", self.tf32, FAST_SWITCHES),
        ):
            if value not in choices:
                raise UserError(f"{label} must be one of {', '.join(choices)}, not {value!r}.")
        if not isinstance(self.compile_step, bool):
            raise UserError(f"compile step must be true or false, not {self.compile_step!r}.")
        ls = self.label_smoothing
        if not (isinstance(ls, (int, float)) and math.isfinite(ls) and 0 <= ls < 1):
            raise UserError(f"label smoothing must be in [0, 1), e.g. 0.1, not {ls!r}.")
        positive_int("early-stop patience", self.early_stop_patience, 1000)
        mg = self.early_stop_min_gain
        if not (isinstance(mg, (int, float)) and math.isfinite(mg) and mg >= 0):
            raise UserError(f"early-stop minimum gain must be a number >= 0 (per Wh), not {mg!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UserError(f"seed must be a whole number, not {self.seed!r}.")
        if not 0 <= self.seed <= MAX_SEED:
            shown = str(self.seed) if len(str(self.seed)) <= 30 else f"{str(self.seed)[:27]}..."
            raise UserError(
                f"seed must be a whole number from 0 to {MAX_SEED} (2**32-1), not {shown}."
            )
        self.budget.validate()
        resolve_device(self.device)
        return self

    @property
    def budget(self) -> Budget:
        """The run's budget (stored as the flat `budget_*` fields, which old run configs use)."""
        return Budget.of_config(self)

    def check_model_input(self, channels: int, n_classes: int, image_size: int) -> TrainConfig:
        """Refuse a model that cannot train on these images (too small for it, or batch norm at
        batch size 1) with one line naming the size to use. `image_size` is the dataset's side;
        --image-size replaces it. Cheap: one forward pass of the model on the meta device."""
        from pepr_desktop.core.models.build import check_input_size

        check_input_size(
            self.model,
            channels=channels,
            n_classes=n_classes,
            image_size=self.image_size or image_size,
            batch_size=self.batch_size,
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Control:
    """Commands from another thread (GUI, signal handler): pause, resume, stop. Thread-safe."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.stop_reason = ""

    def stop(self, reason: str = "user") -> None:
        self.stop_reason = self.stop_reason or reason
        self._stop.set()
        self._running.set()  # wake a paused loop so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent paused (excluded from training time)."""
        if self._running.is_set():
            return 0.0
        t0 = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t0


class StopRun(Exception):
    """Raised inside the loop when the Control asks to stop; carries the reason."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
