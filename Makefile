# OASIS Studio: the README's two commands are `make run` and `make test`.
# GPU users: make run TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# the GPU tools run with the venv's Python where there is one, else the machine's python3 (a GPU machine's own torch)
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
OUT ?= gpu-out
MODEL ?= landscapes
MINUTES ?= 8
GPU_CHECK_ARGS ?=
GPU_TRAIN_ARGS ?=

.PHONY: run test test-all bench lint package package-test clean-venv gpu-check gpu-train

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/oasis-studio

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow and not packaging" $(PYTEST_ARGS)

test-all: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not packaging" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m benchmarks

gpu-check:
	$(GPU_PYTHON) -m benchmarks.gpu_check --out $(OUT) $(GPU_CHECK_ARGS)

gpu-train:
	$(GPU_PYTHON) -m benchmarks.gpu_train --model $(MODEL) --minutes $(MINUTES) --out $(OUT) $(GPU_TRAIN_ARGS)

package: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[package]"
	$(BIN)/python packaging/build.py

package-test: package
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m packaging $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
