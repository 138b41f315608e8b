# `make run` and `make test` set up .venv on first use (and again when pyproject.toml changes).
#
# TORCH picks the PyTorch build for .venv:
#   make run TORCH=cpu   PyTorch's own CPU-only wheels (TORCH_INDEX): no CUDA libraries, about
#                        5 GB less; for a machine without an NVIDIA GPU. Switching builds
#                        recreates .venv.
#   TORCH=pypi           (the default) whatever pip resolves from its indexes: on Linux x86_64 the
#                        CUDA build from PyPI, which also runs on the CPU.
# `make -n .venv/.installed TORCH=cpu` prints the commands without running them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH ?= pypi
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

ifeq ($(TORCH),cpu)
TORCH_STEP := $(PIP) torch torchvision --index-url $(TORCH_INDEX)
else ifeq ($(TORCH),pypi)
TORCH_STEP := true
else
$(error TORCH=$(TORCH): use TORCH=cpu or TORCH=pypi)
endif
# .venv/.torch-cpu or .venv/.torch-pypi: the build this venv holds (none: an older venv, pypi).
TORCH_MARK := $(VENV)/.torch-$(TORCH)

.PHONY: run demo gui test lint bench bundle floors clean

$(STAMP): pyproject.toml $(TORCH_MARK)
	$(PIP) -e '.[dev]'
	touch $(STAMP)

# A venv of the other build is removed first: pip would keep its CUDA libraries.
$(TORCH_MARK):
	if ls $(VENV)/.torch-* >/dev/null 2>&1 || { [ "$(TORCH)" = cpu ] && [ -d $(VENV) ]; }; then \
		rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(TORCH_STEP)
	touch $(TORCH_MARK)

# The main job: the GUI when there is a display, else the headless demo on the bundled sample.
run: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(BIN)/pepr-desktop; \
	else echo "no display: running the headless demo (pepr demo)"; $(BIN)/pepr demo; fi

demo: $(STAMP)
	$(BIN)/pepr demo

gui: $(STAMP)
	$(BIN)/pepr-desktop

test: $(STAMP)
	# one worker per core; tests/conftest.py keeps Ray's and the crash matrix's modules on one worker each
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n auto --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check pepr_desktop tests benchmarks
	$(BIN)/ruff format --check pepr_desktop tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The PyInstaller bundle from .venv (`make bundle TORCH=cpu`: a CPU-only bundle).
bundle: $(STAMP)
	bash packaging/smoke_test.sh

# The declared minimum versions in a venv of their own, and a smoke subset of the tests.
floors:
	$(PYTHON) .ci/floors.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
