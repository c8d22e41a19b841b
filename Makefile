# Two commands: `make run` serves the playground on http://127.0.0.1:8000/graphql,
# `make test` runs the whole suite. Both set everything up on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# `make run` seeds a database with no members with the demo network; `make run SEED=0` does not.
SEED ?= 1

.PHONY: run test check lint typecheck schema migrate playground setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Rapport needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The playground's files come from the npm registry when npm is here; otherwise the page
# loads them from a CDN. Either way this never fails the build.
playground: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then $(BIN)/python -m api fetch-playground; \
	else echo "npm not found: the playground will load GraphiQL from a CDN"; fi

run: $(STAMP) playground
	SEED=$(SEED) $(BIN)/python -m api serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest -q tests/unit/test_layers.py
	$(BIN)/python -m api export-schema --check

schema: $(STAMP)
	$(BIN)/python -m api export-schema --output schema.graphql

migrate: $(STAMP)
	$(BIN)/python -m api migrate

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
