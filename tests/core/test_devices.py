"""Issue 17: the device is resolved in one place (core/devices.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pepr_desktop.core import devices
from pepr_desktop.core.errors import UserError


def test_train_keeps_its_names() -> None:
    from pepr_desktop.core.training import train

    assert train.resolve_device is devices.resolve_device
    assert train.device_name is devices.device_name


def test_resolve_device() -> None:
    import torch

    assert devices.resolve_device("cpu") == "cpu"
    assert devices.resolve_device("CPU") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert devices.resolve_device("auto") == expected
    assert devices.resolve_device("") == expected
    with pytest.raises(UserError, match="device must be auto, cpu, cuda or cuda:N, not 'tpu'"):
        devices.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU is usable"):
            devices.resolve_device("cuda:0")
    else:
        with pytest.raises(UserError, match="no GPU cuda:99"):
            devices.resolve_device("cuda:99")


def test_metering_device_needs_no_torch(monkeypatch) -> None:
    from pepr_desktop.core.metering import nvml

    monkeypatch.setattr(nvml, "gpu_count", lambda: 0)
    assert devices.metering_device("auto") == "cpu"
    monkeypatch.setattr(nvml, "gpu_count", lambda: 2)
    assert devices.metering_device("auto") == "cuda"
    assert devices.metering_device(None) == "cuda"
    assert devices.metering_device("cuda:7") == "cuda:7"  # its meter reports a missing GPU
    assert devices.metering_device("Cpu") == "cpu"
    for bad in ("tpu", "cuda:x", "cuda:"):
        with pytest.raises(UserError, match="device must be auto, cpu, cuda or cuda:N"):
            devices.metering_device(bad)


def test_device_name_of_the_cpu() -> None:
    name = devices.device_name("cpu")
    assert isinstance(name, str) and name


def test_list_devices_cpu_last(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = devices.list_devices()
    assert len(out) == 1 and out[0][1] == "cpu" and out[0][0].startswith("CPU (")


def test_list_devices_names_each_gpu(monkeypatch) -> None:
    import torch

    props = SimpleNamespace(name="Fake GPU", total_memory=8 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    out = devices.list_devices()
    assert [spec for _, spec in out] == ["cuda:0", "cuda:1", "cpu"]
    assert out[1][0] == "GPU 1: Fake GPU (8 GiB)"


def test_list_devices_survives_broken_cuda(monkeypatch) -> None:
    import torch

    def boom() -> bool:
        raise RuntimeError("driver gone")

    monkeypatch.setattr(torch.cuda, "is_available", boom)
    assert [spec for _, spec in devices.list_devices()] == ["cpu"]
