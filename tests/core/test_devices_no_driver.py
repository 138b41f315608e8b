"""Listing the devices skips the torch import where no GPU driver exists (the GUI lists them at
start-up; torch takes 1-2 s to import)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pepr_desktop.core import devices

NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


@pytest.mark.parametrize(
    ("present", "expected"),
    [((), True), (("/proc/driver/nvidia",), False), (("/dev/kfd",), False), (("/dev/dxg",), False)],
)
def test_no_driver_means_no_gpu(monkeypatch, present: tuple[str, ...], expected: bool) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # only looked up, never imported
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os.path, "exists", lambda p: p in present)
    assert devices._no_gpu_driver() is expected


def test_other_systems_and_a_loaded_torch_ask_torch(monkeypatch) -> None:
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    monkeypatch.setattr(sys, "platform", "win32")
    assert devices._no_gpu_driver() is False
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch", object()))
    assert devices._no_gpu_driver() is False


def test_listing_here_imports_torch_only_with_a_driver() -> None:
    code = (
        "import sys\nfrom pepr_desktop.core.devices import list_devices\n"
        "print([s for _, s in list_devices()], 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    specs, imported = out.stdout.rsplit(" ", 1)
    if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in NODES):
        assert (specs, imported.strip()) == ("['cpu']", "False")
    else:
        assert imported.strip() == "True" and specs.endswith("'cpu']")
