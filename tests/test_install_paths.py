"""The install paths: `make TORCH=cpu`, `packaging/install-linux.sh` (GPU detection, --cpu,
--gpu), `packaging/torch_build.py` and `.ci/floors.py`. This machine reaches only PyPI, so the
commands are checked as they would run (make -n, --dry-run, a fake python), not run against
download.pytorch.org."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _make(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={tmp / 'v'}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@needs_make
def test_make_torch_cpu_installs_the_cpu_wheels_before_the_project(tmp_path: Path) -> None:
    out = _make(tmp_path, "-n", f"{tmp_path}/v/.installed", "TORCH=cpu")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    torch_line = next(i for i, ln in enumerate(lines) if "pip install" in ln and "torch " in ln)
    project_line = next(i for i, ln in enumerate(lines) if "-e '.[dev]'" in ln)
    assert lines[torch_line].endswith(f"torch torchvision {CPU_INDEX}")
    assert torch_line < project_line


@needs_make
def test_make_default_is_pypi_as_before(tmp_path: Path) -> None:
    out = _make(tmp_path, "-n", f"{tmp_path}/v/.installed")
    assert out.returncode == 0, out.stderr
    assert "-e '.[dev]'" in out.stdout and "--index-url" not in out.stdout
    bad = _make(tmp_path, "-n", f"{tmp_path}/v/.installed", "TORCH=cuda")
    assert bad.returncode != 0 and "use TORCH=cpu or TORCH=pypi" in bad.stderr


def _fake_python(tmp: Path, log: Path) -> Path:
    """A `python` whose `-m venv DIR` makes DIR/bin/python, which logs its arguments."""
    fake = tmp / "fakepython"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; '
        f'printf \'#!/bin/sh\\necho "$@" >> {log}\\n\' > "$3/bin/python"; '
        'chmod +x "$3/bin/python"; exit 0; fi\n'
        f'echo "$@" >> {log}\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


@needs_make
def test_switching_to_cpu_recreates_the_venv(tmp_path: Path) -> None:
    log = tmp_path / "log"
    venv = tmp_path / "v"
    (venv / "bin").mkdir(parents=True)
    (venv / ".torch-pypi").touch()
    (venv / "left-over-cuda-lib").touch()
    out = _make(
        tmp_path, f"PYTHON={_fake_python(tmp_path, log)}", "TORCH=cpu", f"{venv}/.torch-cpu"
    )
    assert out.returncode == 0, out.stderr
    assert not (venv / "left-over-cuda-lib").exists() and not (venv / ".torch-pypi").exists()
    assert (venv / ".torch-cpu").exists()
    assert log.read_text().strip().endswith(f"torch torchvision {CPU_INDEX}")


def _install(tmp: Path, *args: str, gpu: bool) -> subprocess.CompletedProcess[str]:
    smi = tmp / "nvidia-smi"
    smi.write_text("#!/bin/sh\nexit 0\n")
    smi.chmod(0o755)
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "XDG_DATA_HOME": str(tmp / "home" / "data"),
        "PEPR_NVIDIA_PROC": str(tmp / "no-proc"),
        "PEPR_NVIDIA_SMI": str(smi) if gpu else str(tmp / "absent-nvidia-smi"),
    }
    return subprocess.run(
        ["bash", str(ROOT / "packaging" / "install-linux.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_install_script_takes_the_cpu_build_without_a_gpu(tmp_path: Path) -> None:
    out = _install(tmp_path, "--dry-run", gpu=False)
    assert out.returncode == 0, out.stderr
    assert "PyTorch build: cpu" in out.stdout
    pips = [ln for ln in out.stdout.splitlines() if "pip install" in ln]
    assert pips[0].endswith(f"torch torchvision {CPU_INDEX}")
    assert pips[1].endswith(f"pip install --quiet {ROOT}")
    assert not (tmp_path / "home").exists()  # a dry run writes nothing


def test_install_script_keeps_pypi_with_a_gpu_and_obeys_the_flags(tmp_path: Path) -> None:
    out = _install(tmp_path, "--dry-run", gpu=True)
    assert "PyTorch build: gpu" in out.stdout and "--index-url" not in out.stdout
    forced = _install(tmp_path, "--dry-run", "--cpu", gpu=True)
    assert CPU_INDEX in forced.stdout
    assert "--index-url" not in _install(tmp_path, "--dry-run", "--gpu", gpu=False).stdout
    bad = _install(tmp_path, "--cuda", gpu=False)
    assert bad.returncode == 2 and "unknown option --cuda" in bad.stderr


def test_torch_build_tells_cpu_from_cuda_by_its_requirements(monkeypatch, capsys) -> None:
    tb = _load(ROOT / "packaging" / "torch_build.py")
    cuda = SimpleNamespace(version="2.14.1", requires=["filelock", "nvidia-cublas==13.1.1.3"])
    cpu = SimpleNamespace(version="2.13.0+cpu", requires=["filelock", "sympy>=1.13.3"])
    monkeypatch.setattr(tb.md, "distribution", lambda name: cuda)
    assert tb.build() == ("2.14.1", "cuda")
    tb.main(["--expect", "cpu"])
    assert "warning: asked for the CPU-only build" in capsys.readouterr().err
    monkeypatch.setattr(tb.md, "distribution", lambda name: cpu)
    assert tb.build() == ("2.13.0+cpu", "cpu")
    tb.main(["--expect", "cpu"])
    assert capsys.readouterr().err == ""


def test_floor_pins_take_the_lowest_release_at_or_above_each_floor() -> None:
    floors = _load(ROOT / ".ci" / "floors.py")
    versions = {
        "numpy": ["2.0.0", "1.24.0", "1.23.5", "1.24.0rc1"],
        "nvidia-ml-py": ["12.535.108", "12.535.77", "11.525.150"],
        "tomli": ["2.0.1", "2.0.0", "1.2.3"],
    }
    deps = [
        "numpy>=1.24",
        "torch>=2.4",
        "nvidia-ml-py>=12.535",
        "tomli>=2.0; python_version<'3.11'",
    ]
    assert floors.floor_pins(deps, versions.__getitem__) == [
        "numpy==1.24.0",
        "torch",
        "nvidia-ml-py==12.535.77",
        "tomli==2.0.0; python_version<'3.11'",
    ]
    with pytest.raises(ValueError, match="must read 'name>=X'"):
        floors.floor_pins(["numpy"], versions.__getitem__)


def test_every_dependency_has_a_floor_that_make_floors_can_test() -> None:
    floors = _load(ROOT / ".ci" / "floors.py")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in deps if not floors.FLOOR_RE.match(d)] == []
