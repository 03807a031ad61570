# model-selector: `make run` installs and runs the incident demo; `make test` installs and runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install lock run serve test test-fast test-gateway test-gateway-newest check lint typecheck docs docs-serve bench soak poison clean

install: $(VENV)/.installed

# the locked versions of everything (serving, the extras, the tools), then the project's
# two distributions from this folder (the server, and the gateway's in gateway/)
$(VENV)/.installed: pyproject.toml gateway/pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e ./gateway -e .
	touch $@

# pin the versions again after a change of a pyproject.toml's dependencies. The gateway's
# distribution is not on the index yet: the resolver reads it from a wheel built here,
# and the lock names neither distribution of the project (nor any path)
lock: install
	rm -rf build/lock-wheels
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir build/lock-wheels ./gateway
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links --find-links build/lock-wheels \
		--unsafe-package model-selector-gateway --unsafe-package model-selector-server \
		--output-file requirements.lock pyproject.toml

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
	cd gateway && ../$(BIN)/mypy

# the suite on two workers (pytest-xdist; a module's tests stay on one worker, so its
# fixtures are built once): about half the time of one on two cores
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

test: lint typecheck
	$(PYTEST)
	$(MAKE) test-gateway test-gateway-newest

# the gateway's distribution (gateway/): its tests against a real selector, a real
# litellm.Router and a real LiteLLM proxy, with the locked LiteLLM ...
test-gateway: install
	cd gateway && ../$(BIN)/pytest -p no:cacheprovider

# ... and in an environment of its own with the newest LiteLLM on the index (and its
# proxy, when the newest release's proxy extra installs; its tests say so when not)
NEWEST := build/venv-litellm-newest
test-gateway-newest: install
	rm -rf $(NEWEST)
	$(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/pip install --quiet --upgrade pip
	$(NEWEST)/bin/pip install --quiet --upgrade litellm pytest -e ./gateway
	$(NEWEST)/bin/pip install --quiet "litellm[proxy]==$$($(NEWEST)/bin/python -c \
		'import importlib.metadata as m; print(m.version("litellm"))')" \
		|| echo "litellm[proxy] does not install at the newest release"
	@$(NEWEST)/bin/python -c 'import importlib.metadata as m; print("newest LiteLLM:", m.version("litellm"))'
	cd gateway && SELECTOR_COMMAND=$(CURDIR)/$(BIN)/selector ../$(NEWEST)/bin/pytest -p no:cacheprovider

# for local work: lint, types and the in-process tests (no real servers, benchmarks or
# simulated days); make test runs everything
test-fast: lint typecheck
	$(PYTEST) -m "not integration and not slow and not soak"
	cd gateway && ../$(BIN)/pytest -p no:cacheprovider -m "not integration"

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
