# model-selector: `make run` installs and runs the incident demo; `make test` installs and runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run serve test check lint typecheck bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/selector demo

serve: install
	$(BIN)/selector serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

check: test

bench: install
	$(BIN)/python bench/decision_time.py
	$(BIN)/python bench/http_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo
