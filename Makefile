# Anju — the two set-up commands are `make demo` and `make test`; `make bench` runs the benchmarks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8080
DATA   ?= data/demo

.PHONY: demo test bench lint fmt typecheck install tools browser cometbft clean bench-ledger

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/anju demo --data $(DATA) --port $(PORT)

# Debian's Chromium (browser tests) and CometBFT built with `go install` (consortium tests).
tools: browser cometbft

browser: $(STAMP)
	PYTHON=$(PY) sh scripts/install-browser.sh

cometbft:
	bash scripts/install-cometbft.sh

test: $(STAMP) tools
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(VENV)/bin/anju bench all

bench-ledger: $(STAMP)
	$(VENV)/bin/anju bench ledger

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data bench/results/*.json
