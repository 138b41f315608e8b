"""The run's own memory on the CPU, counted from its tensors, never from the process.

The process that recommends (the GUI, with its window, caches and earlier runs) is not the run:
its RSS, or the RSS growth while other threads allocate, says nothing about what training one
model needs. What a run holds is counted here in bytes:

- **state**: parameters, buffers, gradients and the optimiser's state, as allocated after a real
  step (Adam: two moments per parameter);
- **activations**: what autograd saves for backward in one training step at the real batch and
  input size (a `saved_tensors_hooks` tally, parameters excluded), plus the step's float input;
- **evaluation**: the inference batch plus the largest input + output of any one module.

Training and evaluation do not overlap, so the footprint is state + the larger of the two.
Storage is counted once however many views share it. The tallies are hooks, cheap enough to
ride along with the probe's first (cold, untimed) training step and evaluation pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _storage(t: Any) -> tuple[int, int]:
    """(storage address, bytes) of a tensor; views share their base's storage."""
    try:
        s = t.untyped_storage()
        return s.data_ptr(), s.nbytes()
    except (RuntimeError, NotImplementedError):  # tensors without a plain storage
        return id(t), t.numel() * t.element_size()


def tensor_bytes(tensors: Iterable[Any], seen: set[int] | None = None) -> int:
    """Bytes of the distinct storages among `tensors` (skipping those in `seen`, then adding)."""
    import torch

    seen = set() if seen is None else seen
    total = 0
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        ptr, n = _storage(t)
        if ptr not in seen:
            seen.add(ptr)
            total += n
    return total


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


def state_bytes(model: Any, optimizer: Any) -> int:
    """Parameters, buffers, gradients and optimiser state of a model after a step."""
    params = list(model.parameters())
    tensors = [*params, *model.buffers(), *(p.grad for p in params if p.grad is not None)]
    tensors += _flat(list(optimizer.state.values()))
    return tensor_bytes(tensors)


class SavedForBackward:
    """Inside it: the bytes autograd saves for backward (parameters and buffers excluded), plus
    the inputs given to `add`; each storage counted once."""

    def __init__(self, model: Any) -> None:
        self.seen = {_storage(t)[0] for t in (*model.parameters(), *model.buffers())}
        self.bytes = 0
        self._hooks: Any = None

    def add(self, *tensors: Any) -> None:
        self.bytes += tensor_bytes(tensors, self.seen)

    def _pack(self, t: Any) -> Any:
        self.add(t)
        return t

    def __enter__(self) -> SavedForBackward:
        import torch

        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


class LargestModule:
    """Inside it: the inputs given to `add` plus the largest input + output of one module call
    of `model` (both live at once: the caller holds the input while the module builds its
    output)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.inputs = 0
        self.peak = 0
        self._handles: list[Any] = []

    @property
    def bytes(self) -> int:
        return self.inputs + self.peak

    def add(self, *tensors: Any) -> None:
        self.inputs += tensor_bytes(tensors)

    def _hook(self, _module: Any, inputs: Any, output: Any) -> None:
        self.peak = max(self.peak, tensor_bytes(_flat(inputs) + _flat(output)))

    def __enter__(self) -> LargestModule:
        self._handles = [m.register_forward_hook(self._hook) for m in self.model.modules()]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
