"""The trainer's fast path on CUDA: mixed precision, channels-last, cuDNN autotuning, TF32 matmuls
and an optional compiled forward, each a TrainConfig setting whose "auto" is on for CUDA and off
on the CPU (config.py: `AMP_MODES`, `FAST_SWITCHES`).

Why these: a small model on 28 px images is launch-bound on a GPU, and these cut the work per
launch (half-precision tensor cores, NHWC convolutions, the fastest cuDNN kernels) without changing
what is trained. The resolved choice is recorded with every run (`record()`: its config's
`extra["fast_path"]` and every epoch's extra) so runs stay comparable: a bf16 run and an fp32 run
are told apart. The loop itself keeps the data on the device and syncs once per epoch.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pepr_desktop.core.training.config import TrainConfig

FAST_KEY = "fast_path"  # in a run's config `extra` and its epochs' `extra`
# The TrainConfig fields of the fast path: what a probe or a search passes on to its runs.
FIELDS = ("amp", "channels_last", "cudnn_benchmark", "tf32", "compile_step")


@dataclass
class FastPath:
    """The resolved fast-path settings of one run, and what they need at run time."""

    amp: str = "off"  # "off", "bf16" or "fp16" (fp16 with a gradient scaler)
    channels_last: bool = False
    cudnn_benchmark: bool = False
    tf32: bool = False
    compiled: bool = False
    device_type: str = "cpu"
    scaler: Any = field(default=None, repr=False)
    forward: Any = field(default=None, repr=False)  # the compiled model, when compiled

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("scaler", "forward", "device_type"):
            d.pop(k)
        return d

    def autocast(self) -> Any:
        """Mixed precision around forward and loss (and evaluation), or nothing."""
        if self.amp == "off":
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(self.device_type, dtype=dtype)

    def prepare_model(self, model: Any) -> Any:
        """Process-wide backend flags, memory format and the compiled forward; returns `model`
        (the uncompiled module: checkpoints keep their usual keys)."""
        import torch

        if self.device_type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
            torch.backends.cudnn.allow_tf32 = self.tf32
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.amp == "fp16":
            self.scaler = torch.amp.GradScaler(self.device_type)
        if self.compiled:
            self.forward = torch.compile(model)
        return model

    def inputs(self, x: Any) -> Any:
        """A batch in the model's memory format."""
        if self.channels_last:
            import torch

            return x.contiguous(memory_format=torch.channels_last)
        return x

    def step(self, loss: Any, optimizer: Any) -> None:
        """Backward and optimiser step, through the gradient scaler under fp16."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def _switch(value: str, cuda: bool) -> bool:
    return cuda if value == "auto" else value == "on"


def resolve(cfg: TrainConfig, device: str) -> FastPath:
    """What `cfg`'s settings mean on `device`: "auto" is on for CUDA, off elsewhere; autocast
    "auto" is bf16 where the GPU supports it, fp16 (with a scaler) otherwise."""
    cuda = device.startswith("cuda")
    amp = cfg.amp
    if amp == "auto":
        amp = "off"
        if cuda:
            import torch

            amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return FastPath(
        amp=amp,
        channels_last=_switch(cfg.channels_last, cuda),
        cudnn_benchmark=_switch(cfg.cudnn_benchmark, cuda),
        tf32=_switch(cfg.tf32, cuda),
        compiled=bool(cfg.compile_step),
        device_type="cuda" if cuda else "cpu",
    )


def settings(cfg: Any) -> dict[str, Any]:
    """The fast-path fields of `cfg` (a TrainConfig), as given (not resolved)."""
    return {k: getattr(cfg, k) for k in FIELDS}
