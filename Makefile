# Set-up and the two everyday commands. Each target creates the virtual
# environment in .venv on first use, so a fresh clone needs nothing else.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(BIN)/skdixtill: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(BIN)/skdixtill

demo: $(BIN)/skdixtill
	$(BIN)/skdixtill distill

test: $(BIN)/skdixtill
	$(BIN)/python -m pytest

lint: $(BIN)/skdixtill
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check skdixtill tests benchmarks examples
