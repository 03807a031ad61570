# model-selector: `make run` installs and runs the incident demo; `make test` installs and runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run serve test test-fast check lint typecheck bench soak poison clean

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
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# for local work: lint, types and the in-process tests (no real servers, benchmarks or
# simulated days); make test runs everything
test-fast: lint typecheck
	$(BIN)/pytest -m "not integration and not slow and not soak"

check: test

# every benchmark (about 8 min); writes bench/results/latest.{md,json} and the README's tables
bench: install
	$(BIN)/python bench/run.py --readme

# 10 minutes at a fixed rate against a real server: flat memory, nothing acknowledged lost
soak: install
	$(BIN)/pytest -m soak -s -p no:cacheprovider tests/soak
	$(BIN)/python bench/run.py --put soak

# the poison sequence against a real server: refused feedback, a poisoned log after kill -9
poison: install
	$(BIN)/pytest -p no:cacheprovider -v tests/selector/api/test_poison_e2e.py tests/selector/test_poison.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo
