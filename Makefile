# Every target sets itself up: a fresh clone needs nothing but python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

FUZZ_SECONDS ?= 600
FUZZ_SEED ?=

.PHONY: demo serve test test-long lint typecheck pytest fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tidings demo

# The HTTP service on the demo workspace (built first if missing): account "demo",
# passcode $(SERVE_PASSCODE), http://127.0.0.1:$(SERVE_PORT) (see docs/service.md).
SERVE_PORT ?= 8000
SERVE_PASSCODE ?= demo-passcode
serve: $(STAMP)
	test -f out/demo/workspace.db || $(BIN)/tidings demo
	mkdir -p out/serve
	printf '[service]\ndata_dir = "."\n[[accounts]]\nid = "demo"\npasscode = "%s"\ndb = "../demo/workspace.db"\n' \
		"$$(printf '%s\n' '$(SERVE_PASSCODE)' | $(BIN)/tidings serve --hash-passcode)" > out/serve/service.toml
	$(BIN)/tidings serve --config out/serve/service.toml --host 127.0.0.1 --port $(SERVE_PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# The same suite with ten times the hypothesis examples (the `thorough` profile).
test-long: $(STAMP)
	TIDINGS_HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q

# Every fuzz target of tests/fuzz for FUZZ_SECONDS in all; prints the inputs each ran.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --seconds $(FUZZ_SECONDS) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
