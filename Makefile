# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench mutate lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/citynode selftest --quiet
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/citynode emulate --app classair --scenario school-day --plot demo-classair.png
	@echo "The school day's plot (CO2, the light, the uplinks): $(CURDIR)/demo-classair.png"

test: $(STAMP) lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench

# Mutation testing of the costly modules (bench/mutate.py): a sample per module, survivors listed. Not in `test`.
mutate: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench.mutate $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build dist .pytest_cache .hil-cache
