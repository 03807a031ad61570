# model-selector: `make run` installs and runs the incident demo; `make test` installs and runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install lock run serve test test-fast check lint typecheck docs docs-serve bench soak poison clean

install: $(VENV)/.installed

# the locked versions of everything (serving, the extras, the tools), then the project
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# pin the versions again after a change of pyproject.toml's dependencies
lock: install
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

run: install
	$(BIN)/selector demo

serve: install
	$(BIN)/selector serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# the documentation site (docs/ → build/site/); docs-serve serves it with live reload
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# for local work: lint, types and the in-process tests (no real servers, benchmarks or
# simulated days); make test runs everything
test-fast: lint typecheck
	$(BIN)/pytest -m "not integration and not slow and not soak"

check: test

# every benchmark (about 8 min); writes bench/results/latest.{md,json} and docs/benchmarks.md's tables
bench: install
	$(BIN)/python bench/run.py --docs

# 10 minutes at a fixed rate against a real server: flat memory, nothing acknowledged lost
soak: install
	$(BIN)/pytest -m soak -s -p no:cacheprovider tests/soak
	$(BIN)/python bench/run.py --put soak

# the poison sequence against a real server: refused feedback, a poisoned log after kill -9
poison: install
	$(BIN)/pytest -p no:cacheprovider -v tests/selector/api/test_poison_e2e.py tests/selector/test_poison.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo build
