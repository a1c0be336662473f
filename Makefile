# kite-algo: `make run` sets up and starts paper trading on the simulated market; `make test` runs the tests.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup system-deps run test lint bench clean

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	@bash deploy/install-system-deps.sh

run: setup
	$(BIN)/python -m scripts.run_trader paper

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) artifacts .pytest_cache
