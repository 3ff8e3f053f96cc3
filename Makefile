# Two commands a newcomer needs: `make demo` and `make test`. Both build .venv
# from nothing but python3; a stamp file re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit check alerts bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast,bench,generate]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shimgw demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/shimgw check --generate 10

unit: $(STAMP)
	$(BIN)/pytest -q

# The alert rules' unit tests need promtool (Debian: `apt-get install prometheus`; .ci/run
# installs it); without it this says so in one line and the rest of `make test` goes on.
alerts:
	@if command -v promtool >/dev/null; then \
		promtool check rules deploy/prometheus/alerts.yaml && \
		cd deploy/prometheus && promtool test rules alerts.test.yaml; \
	else echo "promtool not found: alert rule tests skipped (apt-get install prometheus)"; fi

test: lint typecheck check alerts unit

# Fault soak (a few minutes, loopback): lost / duplicated / error rate outside faults / peak RSS.
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak --duration 180 --out benchmarks/results/soak.json

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.wirecost

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
