# Two entry points for a fresh clone: `make demo` and `make test`.
# Each creates .venv if missing, installs torch first (override: make test TORCH_VERSION=2.5.1),
# then graphopt with its test extras, then runs.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
BIN := $(VENV)/bin

$(BIN)/graphopt: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

.PHONY: demo test
demo: $(BIN)/graphopt
	$(BIN)/graphopt demo

test: $(BIN)/graphopt
	$(BIN)/python -m pytest -q
